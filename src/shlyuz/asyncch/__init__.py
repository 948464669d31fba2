"""The SHEP AsyncChannel v10 engine: message store, routing, delivery, the ``/bip-async/`` endpoint (docs/async.md).

- :mod:`.directory` — who receives what (inside participants, outside push/pull participants),
- :mod:`.channel` — acceptance and routing rules, pulls, status, delivery notifications, the inside Outbox,
- :mod:`.delivery` — the delivery loop: leases, attempts, retries with backoff, status notifications, journal,
- :mod:`.endpoint` / :mod:`.http` — the stages of a ``/bip-async/`` request and its HTTP edge,
- :mod:`.service` — one process's channel built from the settings; :mod:`.client` — a Python client.
"""
