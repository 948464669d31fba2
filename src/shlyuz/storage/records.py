"""Domain records: a small document store shared by every worker process.

The mocked systems keep their state here — applications, permits, portal accounts, inbox items, counters — as JSON
documents addressed by ``(scope, kind, key)``. ``scope`` isolates parallel test runs (a session of issue #6);
``"default"`` is everybody's. A call that names no scope works in the current request's
(:func:`shlyuz.storage.scope.current_scope`, from ``X-Shlyuz-Scope``), so the systems, the portal and the
workstations keep each session's state apart without passing the scope around. Every write is one atomic
statement (no client-side transaction), so the same SQL runs on SQLite and PostgreSQL, and concurrent writers in
several processes are serialised by the database. Each statement runs start to finish in one hop to the connection's
thread (``execute_fetchall``): a cursor left open between awaits would hold a read snapshot
that makes another coroutine's write on the same connection fail at once with "database is locked":

- ``put(..., expect=None)`` upserts; ``expect=0`` creates only; ``expect=n`` updates only version ``n``
  (optimistic concurrency: :class:`VersionConflict` otherwise). :func:`update` retries a read-modify-write.
- ``next_number`` hands out 1, 2, 3 … per sequence and scope, unique across processes (application numbers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from shlyuz.storage.aiosqlite_base import AiosqliteStore
from shlyuz.storage.scope import DEFAULT_SCOPE, resolve

__all__ = ["DEFAULT_SCOPE", "Record", "RecordStore", "SqliteRecords", "VersionConflict", "update"]
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")  # a top-level JSON field name usable in ``where``

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    scope TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, kind, key)
);
CREATE INDEX IF NOT EXISTS records_kind_updated ON records(scope, kind, updated_at);
CREATE TABLE IF NOT EXISTS sequences (
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (scope, name)
);
"""


@dataclass(frozen=True, slots=True)
class Record:
    scope: str
    kind: str
    key: str
    version: int  # 1 on creation, +1 per write
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class VersionConflict(Exception):
    """A conditional write found another version (``actual`` 0: the record does not exist)."""

    def __init__(self, kind: str, key: str, expected: int, actual: int) -> None:
        super().__init__(f"{kind}/{key}: expected version {expected}, found {actual}")
        self.kind, self.key, self.expected, self.actual = kind, key, expected, actual


class RecordStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, kind: str, key: str, *, scope: str | None = None) -> Record | None: ...

    async def put(
        self, kind: str, key: str, data: Mapping[str, Any], *, scope: str | None = None, expect: int | None = None
    ) -> Record:
        """Write ``data`` (JSON-serialisable). ``expect``: None upsert, 0 create only, n update only version n."""
        ...

    async def find(
        self,
        kind: str,
        *,
        scope: str | None = None,
        where: Mapping[str, str | int | float | bool | None] | None = None,
        limit: int = 100,
    ) -> list[Record]:
        """Records of ``kind`` whose top-level JSON fields equal ``where``'s values, oldest update first."""
        ...

    async def delete(self, kind: str, key: str, *, scope: str | None = None) -> bool: ...

    async def next_number(self, sequence: str, *, scope: str | None = None) -> int:
        """1, 2, 3 … for ``sequence`` in ``scope``; never the same number twice, across processes."""
        ...

    async def clear_scope(self, scope: str) -> int:
        """Delete every record and sequence of ``scope`` (resetting a session); returns the records deleted."""
        ...


async def update(
    store: RecordStore,
    kind: str,
    key: str,
    change: Callable[[dict[str, Any] | None], dict[str, Any] | Awaitable[dict[str, Any]]],
    *,
    scope: str | None = None,
    attempts: int = 64,
) -> Record:
    """Read-modify-write with optimistic concurrency: ``change`` gets the current data (None: absent) and returns
    the new data; retried when another writer got there first."""
    scope = resolve(scope)  # once: the retries stay in the scope the update started in
    for _ in range(attempts):
        current = await store.get(kind, key, scope=scope)
        new = change(dict(current.data) if current is not None else None)
        if isinstance(new, Awaitable):
            new = await new
        try:
            return await store.put(kind, key, new, scope=scope, expect=current.version if current else 0)
        except VersionConflict:
            continue
    raise VersionConflict(kind, key, -1, -1)


def _utc(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


class SqliteRecords(AiosqliteStore):
    """:class:`RecordStore` on SQLite (WAL; its own connection, so it may share the journal's file)."""

    schema = SCHEMA
    what = "record store"

    def __init__(self, path: Path | str, *, now: Callable[[], datetime] | None = None) -> None:
        super().__init__(path)
        self._now = now or (lambda: datetime.now(timezone.utc))

    @staticmethod
    def _record(row: aiosqlite.Row) -> Record:
        return Record(
            scope=row["scope"],
            kind=row["kind"],
            key=row["key"],
            version=row["version"],
            data=json.loads(row["data"]),
            created_at=datetime.fromisoformat(row["created_at"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
        )

    async def get(self, kind: str, key: str, *, scope: str | None = None) -> Record | None:
        sql = "SELECT * FROM records WHERE scope = ? AND kind = ? AND key = ?"
        rows = await self.db.execute_fetchall(sql, (resolve(scope), kind, key))
        return self._record(rows[0]) if rows else None

    async def put(
        self, kind: str, key: str, data: Mapping[str, Any], *, scope: str | None = None, expect: int | None = None
    ) -> Record:
        scope = resolve(scope)
        body = json.dumps(dict(data), ensure_ascii=False, separators=(",", ":"), default=str)
        now = _utc(self._now())
        if expect is None:
            sql = (
                "INSERT INTO records VALUES (?, ?, ?, 1, ?, ?, ?) ON CONFLICT (scope, kind, key) DO UPDATE SET "
                "version = records.version + 1, data = excluded.data, updated_at = excluded.updated_at RETURNING *"
            )
            params: tuple[Any, ...] = (scope, kind, key, body, now, now)
        elif expect == 0:
            sql = "INSERT INTO records VALUES (?, ?, ?, 1, ?, ?, ?) ON CONFLICT (scope, kind, key) DO NOTHING RETURNING *"
            params = (scope, kind, key, body, now, now)
        else:
            sql = (
                "UPDATE records SET version = version + 1, data = ?, updated_at = ? "
                "WHERE scope = ? AND kind = ? AND key = ? AND version = ? RETURNING *"
            )
            params = (body, now, scope, kind, key, expect)
        rows = await self.db.execute_fetchall(sql, params)
        row = rows[0] if rows else None
        if row is None:
            current = await self.get(kind, key, scope=scope)
            raise VersionConflict(kind, key, expect or 0, current.version if current else 0)
        return self._record(row)

    async def find(
        self,
        kind: str,
        *,
        scope: str | None = None,
        where: Mapping[str, str | int | float | bool | None] | None = None,
        limit: int = 100,
    ) -> list[Record]:
        sql = "SELECT * FROM records WHERE scope = ? AND kind = ?"
        params: list[Any] = [resolve(scope), kind]
        for name, value in (where or {}).items():
            if not _FIELD.match(name):
                raise ValueError(f"not a field name usable in a query: {name!r}")
            if value is None:
                sql += f" AND json_extract(data, '$.{name}') IS NULL"
            else:
                sql += f" AND json_extract(data, '$.{name}') = ?"
                params.append(int(value) if isinstance(value, bool) else value)
        sql += " ORDER BY updated_at, key LIMIT ?"
        params.append(max(0, int(limit)))
        return [self._record(row) for row in await self.db.execute_fetchall(sql, params)]

    async def delete(self, kind: str, key: str, *, scope: str | None = None) -> bool:
        sql = "DELETE FROM records WHERE scope = ? AND kind = ? AND key = ? RETURNING key"
        return bool(await self.db.execute_fetchall(sql, (resolve(scope), kind, key)))

    async def next_number(self, sequence: str, *, scope: str | None = None) -> int:
        sql = (
            "INSERT INTO sequences VALUES (?, ?, 1) ON CONFLICT (scope, name) DO UPDATE SET "
            "value = sequences.value + 1 RETURNING value"
        )
        rows = await self.db.execute_fetchall(sql, (resolve(scope), sequence))
        return int(rows[0][0])

    async def clear_scope(self, scope: str) -> int:
        deleted = len(await self.db.execute_fetchall("DELETE FROM records WHERE scope = ? RETURNING key", (scope,)))
        await self.db.execute_fetchall("DELETE FROM sequences WHERE scope = ?", (scope,))
        return deleted
