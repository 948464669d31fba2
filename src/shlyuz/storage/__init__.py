"""Persistent state behind one small interface (:class:`shlyuz.storage.base.Storage`).

SQLite (:mod:`shlyuz.storage.sqlite`) is the embedded default. A PostgreSQL implementation of the same interface
takes its place when several instances on several machines share one state (see docs/architecture.md).
"""

from shlyuz.storage.base import ExchangeRecord, JournalQuery, Storage

__all__ = ["ExchangeRecord", "JournalQuery", "Storage"]
