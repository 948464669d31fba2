"""Fault injection (docs/faults.md): rules kept per session scope in the record store, chosen per request.

``model`` is sans-IO (the rule format, matching, choosing and the latency distributions, all over a ``random.Random``
passed in); ``store`` reads and writes the rules; ``stage`` is the pipeline's ``faults`` stage and the HTTP edge's
transport faults; ``api`` is ``/__admin/faults``.
"""
