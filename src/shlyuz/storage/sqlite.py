"""SQLite storage (the embedded default): WAL journal, one writer task that commits in groups.

Each ``append_exchange`` waits until its row is committed, so an acknowledged exchange is always in the journal;
concurrent appends share one commit (group commit), which keeps the cost per exchange low under load.

Retention runs in the same writer task, between commits: after ``sweep_every`` commits or ``sweep_interval`` seconds
(a timer wakes the writer when idle) it deletes one batch of at most ``sweep_batch`` rows — first rows older than
``max_age`` (by ``received_at``), then the oldest rows (by id) beyond ``max_rows`` — as one short transaction in one
thread hop (a second connection, driven by ``asyncio.to_thread``), and goes on batch by batch, letting waiting
appends commit in between, until the journal is within its limits. The row count and the eviction counters live in
``journal_meta``, kept by triggers and by the sweep in the same transactions, so that they are exact and shared by
every process writing the file.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiosqlite
import structlog

from shlyuz.storage.base import ExchangeRecord, JournalQuery, JournalStats, Retention

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
# One transaction, so that several processes opening one file agree: the count starts from the rows already there.
META = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS journal_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS exchanges_count_insert AFTER INSERT ON exchanges
    BEGIN UPDATE journal_meta SET value = value + 1 WHERE key = 'rows'; END;
CREATE TRIGGER IF NOT EXISTS exchanges_count_delete AFTER DELETE ON exchanges
    BEGIN UPDATE journal_meta SET value = value - 1 WHERE key = 'rows'; END;
INSERT OR IGNORE INTO journal_meta SELECT 'rows', count(*) FROM exchanges;
INSERT OR IGNORE INTO journal_meta VALUES ('evicted_by_count', 0), ('evicted_by_age', 0);
COMMIT;
"""
log = structlog.get_logger("shlyuz.storage")
_DELETE_OLDER = (
    "DELETE FROM exchanges WHERE id IN (SELECT id FROM exchanges WHERE received_at < ? ORDER BY received_at LIMIT ?)"
)
_DELETE_OLDEST = "DELETE FROM exchanges WHERE id IN (SELECT id FROM exchanges ORDER BY id LIMIT ?)"
_COUNT = "UPDATE journal_meta SET value = value + ? WHERE key = ?"
_STATS = (
    "SELECT (SELECT value FROM journal_meta WHERE key = 'rows'), (SELECT min(received_at) FROM exchanges), "
    "(SELECT max(received_at) FROM exchanges), (SELECT value FROM journal_meta WHERE key = 'evicted_by_count'), "
    "(SELECT value FROM journal_meta WHERE key = 'evicted_by_age')"
)

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
    """``retention`` None keeps everything (``shlyuz journal --db`` opens the file that way); ``now`` is the clock
    the age limit is measured with (the gateway's)."""

    def __init__(
        self,
        path: Path | str,
        *,
        retention: Retention | None = None,
        now: Callable[[], datetime] | None = None,
        sweep_interval: float = 5.0,
        sweep_every: int = 500,
        sweep_batch: int = 100,
    ) -> None:
        self.path = Path(path)
        self.retention = retention if retention is not None and retention.active else None
        self._now = now or (lambda: datetime.now(timezone.utc))
        self.sweep_interval, self.sweep_every, self.sweep_batch = sweep_interval, sweep_every, sweep_batch
        self._db: aiosqlite.Connection | None = None
        self._sweeper: sqlite3.Connection | None = None  # used only from the writer task, in a worker thread
        self._queue: asyncio.Queue[tuple[ExchangeRecord, asyncio.Future[int]] | None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._stopping = False
        self._backlog = False  # the last sweep batch was full: more to delete
        self._commits = 0  # since the last sweep
        self._last_sweep = time.monotonic()
        self._new_waiters: list[asyncio.Future[tuple[int, int]]] = []  # sweep() calls not yet in a batch
        self._waiters: list[asyncio.Future[tuple[int, int]]] = []
        self._pass = [0, 0]  # (by age, by count) deleted for the current waiters

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")  # with WAL: a committed row survives a process crash
        await db.execute("PRAGMA busy_timeout=5000")  # several worker processes may share the file
        await db.executescript(SCHEMA)
        await db.executescript(META)
        self._db = db
        self._stopping = False
        self._queue = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_loop(), name="journal-writer")
        if self.retention is not None:
            self._timer = asyncio.create_task(self._tick(), name="journal-retention-timer")

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
            self._timer = None
        if self._writer is not None and self._queue is not None:
            self._stopping = True  # appends from now on are refused; those accepted are committed first
            self._queue.put_nowait(None)
            await self._writer
            self._writer = None
        for fut in self._new_waiters + self._waiters:
            if not fut.done():
                fut.set_result((0, 0))
        self._new_waiters, self._waiters = [], []
        if self._sweeper is not None:
            self._sweeper.close()
            self._sweeper = None
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def ping(self) -> bool:
        if self._db is None:
            return False
        async with self._db.execute("SELECT 1") as cur:
            return (await cur.fetchone()) is not None

    async def append_exchange(self, record: ExchangeRecord) -> int:
        if self._queue is None or self._stopping:
            raise RuntimeError("storage is not open")
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((record, fut))
        return await asyncio.shield(fut)

    async def sweep(self) -> tuple[int, int]:
        """Apply the retention limits now (in the writer task, batch by batch) and return (by age, by count) deleted
        while doing it. For tests, benchmarks and operators; the writer sweeps on its own anyway."""
        if self.retention is None or self._queue is None or self._stopping:
            return 0, 0
        fut: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        self._new_waiters.append(fut)
        self._backlog = True
        self._queue.put_nowait(None)  # wake the writer
        return await fut

    async def _tick(self) -> None:
        """Wake an idle writer now and then, so that age-based retention happens without traffic too."""
        while True:
            await asyncio.sleep(self.sweep_interval)
            if self._queue is not None and self._queue.empty():
                self._queue.put_nowait(None)

    def _sweep_due(self) -> bool:
        return self.retention is not None and (
            self._backlog
            or bool(self._new_waiters)
            or self._commits >= self.sweep_every
            or time.monotonic() - self._last_sweep >= self.sweep_interval
        )

    async def _write_loop(self) -> None:
        assert self._queue is not None and self._db is not None
        queue, db = self._queue, self._db
        while True:
            if (self._backlog or self._new_waiters) and queue.empty() and not self._stopping:
                await self._sweep_step()
                continue
            items = [await queue.get()]
            while len(items) < _MAX_BATCH and not queue.empty():
                items.append(queue.get_nowait())
            batch = [item for item in items if item is not None]  # None only wakes the writer
            try:
                if batch:
                    await self._commit(db, batch)
            finally:
                for _ in items:
                    queue.task_done()
            if self._stopping and queue.empty():
                return
            if self._sweep_due():
                await self._sweep_step()

    async def _commit(self, db: aiosqlite.Connection, batch: list[tuple[ExchangeRecord, asyncio.Future[int]]]) -> None:
        try:
            ids = await self._insert(db, [rec for rec, _ in batch])
        except Exception as exc:  # report to every waiter; the loop goes on
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self._commits += 1
        for (rec, fut), new_id in zip(batch, ids):
            rec.id = new_id
            if not fut.done():
                fut.set_result(new_id)

    async def _sweep_step(self) -> None:
        """One batch of retention: one transaction, one thread hop."""
        assert self.retention is not None
        self._waiters += self._new_waiters
        self._new_waiters = []
        max_age = self.retention.max_age
        try:
            cutoff = _utc(self._now() - max_age) if max_age is not None else None
            by_age, by_count, more = await asyncio.to_thread(
                self._sweep_sync, cutoff, self.retention.max_rows, self.sweep_batch
            )
        except Exception as exc:  # e.g. the file is locked by another process for longer than busy_timeout
            log.warning("journal_sweep_failed", error=f"{type(exc).__name__}: {exc}")
            by_age = by_count = 0
            more = False
            for fut in self._waiters:
                if not fut.done():
                    fut.set_exception(exc)
            self._waiters = []
        self._pass[0] += by_age
        self._pass[1] += by_count
        self._commits, self._last_sweep, self._backlog = 0, time.monotonic(), more
        if not more:
            for fut in self._waiters:
                if not fut.done():
                    fut.set_result((self._pass[0], self._pass[1]))
            self._waiters, self._pass = [], [0, 0]

    def _sweep_sync(self, cutoff: str | None, max_rows: int, batch: int) -> tuple[int, int, bool]:
        """Delete at most ``batch`` rows: older than ``cutoff`` first, then the oldest beyond ``max_rows``."""
        if self._sweeper is None:
            self._sweeper = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._sweeper.execute("PRAGMA busy_timeout=5000")
        con = self._sweeper
        con.execute("BEGIN IMMEDIATE")
        try:
            by_age = by_count = 0
            if cutoff is not None:
                by_age = con.execute(_DELETE_OLDER, (cutoff, batch)).rowcount
            more = by_age >= batch
            if max_rows and not more:
                (rows,) = con.execute("SELECT value FROM journal_meta WHERE key = 'rows'").fetchone()
                excess = rows - max_rows
                if excess > 0:
                    by_count = con.execute(_DELETE_OLDEST, (min(excess, batch - by_age),)).rowcount
                    more = excess > by_count
            if by_age:
                con.execute(_COUNT, (by_age, "evicted_by_age"))
            if by_count:
                con.execute(_COUNT, (by_count, "evicted_by_count"))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return by_age, by_count, more

    async def stats(self) -> JournalStats:
        assert self._db is not None
        async with self._db.execute(_STATS) as cur:
            rows, oldest, newest, by_count, by_age = await cur.fetchone()
        size = 0
        for suffix in ("", "-wal"):
            try:
                size += self.path.with_name(self.path.name + suffix).stat().st_size
            except OSError:
                pass
        return JournalStats(
            rows=rows or 0,
            oldest_received_at=datetime.fromisoformat(oldest) if oldest else None,
            newest_received_at=datetime.fromisoformat(newest) if newest else None,
            evicted_by_count=by_count or 0,
            evicted_by_age=by_age or 0,
            db_bytes=size,
            retention=self.retention,
        )

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
        # ids first, from the indexes alone, then only the rows wanted: a time range otherwise reads (and sorts) every
        # row of the range, bodies included, to keep the newest `limit` of them
        inner = "SELECT id FROM exchanges" + (" WHERE " + " AND ".join(where) if where else "")
        sql = f"SELECT * FROM exchanges WHERE id IN ({inner} ORDER BY id DESC LIMIT ?) ORDER BY id DESC"
        args.append(query.limit)
        async with self._db.execute(sql, args) as cur:
            return [_record(r) for r in await cur.fetchall()]

    async def get_exchange(self, exchange_id: int) -> ExchangeRecord | None:
        assert self._db is not None
        async with self._db.execute("SELECT * FROM exchanges WHERE id = ?", (exchange_id,)) as cur:
            row = await cur.fetchone()
        return _record(row) if row else None
