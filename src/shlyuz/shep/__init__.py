"""SHEP v10 protocol logic, sans I/O: bytes in, events out; events in, bytes out.

- :mod:`shlyuz.shep.events` — the data (requests, responses, faults),
- :mod:`shlyuz.shep.reader` — bytes → events, with the schema's rules and precise errors,
- :mod:`shlyuz.shep.writer` — events → bytes,
- :mod:`shlyuz.shep.pipeline` — the stages an exchange goes through, without I/O of its own.
"""
