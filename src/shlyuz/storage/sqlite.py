"""SQLite storage (the embedded default): WAL journal, one writer task that commits in groups.

Each ``append_exchange`` waits until its row is committed, so an acknowledged exchange is always in the journal;
concurrent appends share one commit (group commit), which keeps the cost per exchange low under load.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiosqlite

from shlyuz.storage.base import ExchangeRecord, JournalQuery

SCHEMA = """
CREATE TABLE IF NOT EXISTS exchanges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    session_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    sender_id TEXT,
    service_id TEXT,
    message_id TEXT,
    correlation_id TEXT,
    response_message_id TEXT,
    remote TEXT,
    content_type TEXT,
    verdicts TEXT NOT NULL,
    timings TEXT NOT NULL,
    request BLOB,
    response BLOB
);
CREATE INDEX IF NOT EXISTS exchanges_message_id ON exchanges(message_id);
CREATE INDEX IF NOT EXISTS exchanges_response_message_id ON exchanges(response_message_id);
CREATE INDEX IF NOT EXISTS exchanges_session_id ON exchanges(session_id);
CREATE INDEX IF NOT EXISTS exchanges_service_id ON exchanges(service_id, id);
CREATE INDEX IF NOT EXISTS exchanges_received_at ON exchanges(received_at);
"""

_COLUMNS = (
    "received_at, endpoint, session_id, outcome, http_status, duration_ms, sender_id, service_id, message_id, "
    "correlation_id, response_message_id, remote, content_type, verdicts, timings, request, response"
)
_INSERT = f"INSERT INTO exchanges ({_COLUMNS}) VALUES ({', '.join('?' * 17)}) RETURNING id"
_MAX_BATCH = 256


def _utc(value: datetime) -> str:
    """Timestamps are stored in UTC so that text order is time order."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _row(rec: ExchangeRecord) -> tuple[Any, ...]:
    return (
        _utc(rec.received_at),
        rec.endpoint,
        rec.session_id,
        rec.outcome,
        rec.http_status,
        rec.duration_ms,
        rec.sender_id,
        rec.service_id,
        rec.message_id,
        rec.correlation_id,
        rec.response_message_id,
        rec.remote,
        rec.content_type,
        json.dumps(rec.verdicts, ensure_ascii=False, default=str),
        json.dumps(rec.timings),
        rec.request,
        rec.response,
    )


def _record(row: aiosqlite.Row) -> ExchangeRecord:
    return ExchangeRecord(
        id=row["id"],
        received_at=datetime.fromisoformat(row["received_at"]),
        endpoint=row["endpoint"],
        session_id=row["session_id"],
        outcome=row["outcome"],
        http_status=row["http_status"],
        duration_ms=row["duration_ms"],
        sender_id=row["sender_id"],
        service_id=row["service_id"],
        message_id=row["message_id"],
        correlation_id=row["correlation_id"],
        response_message_id=row["response_message_id"],
        remote=row["remote"],
        content_type=row["content_type"],
        verdicts=json.loads(row["verdicts"]),
        timings=json.loads(row["timings"]),
        request=row["request"],
        response=row["response"],
    )


class SqliteStorage:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[tuple[ExchangeRecord, asyncio.Future[int]]] | None = None
        self._writer: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")  # with WAL: a committed row survives a process crash
        await db.execute("PRAGMA busy_timeout=5000")  # several worker processes may share the file
        await db.executescript(SCHEMA)
        self._db = db
        self._queue = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_loop(), name="journal-writer")

    async def close(self) -> None:
        if self._writer is not None and self._queue is not None:
            await self._queue.join()  # every accepted append is committed before we close
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass
            self._writer = None
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def ping(self) -> bool:
        if self._db is None:
            return False
        async with self._db.execute("SELECT 1") as cur:
            return (await cur.fetchone()) is not None

    async def append_exchange(self, record: ExchangeRecord) -> int:
        if self._queue is None:
            raise RuntimeError("storage is not open")
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((record, fut))
        return await asyncio.shield(fut)

    async def _write_loop(self) -> None:
        assert self._queue is not None and self._db is not None
        queue, db = self._queue, self._db
        while True:
            batch = [await queue.get()]
            while len(batch) < _MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                ids = await self._insert(db, [rec for rec, _ in batch])
            except Exception as exc:  # report to every waiter; the loop goes on
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
            else:
                for (rec, fut), new_id in zip(batch, ids):
                    rec.id = new_id
                    if not fut.done():
                        fut.set_result(new_id)
            finally:
                for _ in batch:
                    queue.task_done()

    @staticmethod
    async def _insert(db: aiosqlite.Connection, records: list[ExchangeRecord]) -> list[int]:
        ids: list[int] = []
        await db.execute("BEGIN IMMEDIATE")
        try:
            for rec in records:
                async with db.execute(_INSERT, _row(rec)) as cur:
                    row = await cur.fetchone()
                    ids.append(row[0])
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        return ids

    async def query_exchanges(self, query: JournalQuery) -> list[ExchangeRecord]:
        assert self._db is not None
        where: list[str] = []
        args: list[Any] = []
        if query.message_id is not None:
            where.append("(message_id = ? OR response_message_id = ?)")
            args += [query.message_id, query.message_id]
        for column, value in (
            ("service_id", query.service_id),
            ("sender_id", query.sender_id),
            ("session_id", query.session_id),
            ("outcome", query.outcome),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.since is not None:
            where.append("received_at >= ?")
            args.append(_utc(query.since))
        if query.until is not None:
            where.append("received_at < ?")
            args.append(_utc(query.until))
        if query.before_id is not None:
            where.append("id < ?")
            args.append(query.before_id)
        sql = "SELECT * FROM exchanges"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(query.limit)
        async with self._db.execute(sql, args) as cur:
            return [_record(r) for r in await cur.fetchall()]

    async def get_exchange(self, exchange_id: int) -> ExchangeRecord | None:
        assert self._db is not None
        async with self._db.execute("SELECT * FROM exchanges WHERE id = ?", (exchange_id,)) as cur:
            row = await cur.fetchone()
        return _record(row) if row else None
