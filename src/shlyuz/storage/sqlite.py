"""SQLite storage (the embedded default): WAL journal, one writer task that commits in groups.

Each ``append_exchange`` waits until its row is committed, so an acknowledged exchange is always in the journal;
concurrent appends share one commit (group commit), which keeps the cost per exchange low under load.

Where the SQL runs (the synchronous side is :mod:`shlyuz.storage.sqlite_journal`):

- A group commit (``BEGIN IMMEDIATE``, the inserts, ``COMMIT``: ~0.1 ms for one row with its bodies) runs right on
  the event loop when the file is free, because a hop to a thread and back costs more CPU than the commit itself
  (docs/benchmarks.md, "The journal write"). It never waits there: when another writer holds the file, the commit
  goes to the storage's writer thread, which waits its turn. An append that finds the writer task idle (nothing queued,
  nothing in flight on the writer connection) commits in place, in the caller, sparing two task switches; appends
  that arrive while a commit or a sweep is in flight queue up and share the next commit.
- Several worker processes share the file; their writers take turns through an exclusive ``flock`` on
  ``<database>.lock``, held for exactly one write transaction. SQLite's own busy handler would otherwise make a writer
  that finds the file locked sleep in growing steps (up to 100 ms each) and retry, and a writer can lose that race
  many times in a row: measured with two workers, p99 went from ~30 ms to 1-3 s. A process that dies holding the
  lock loses it with its file descriptor, so a crash never wedges the others.
- Everything that may take long runs in the storage's two threads, off the event loop. The writer thread: a commit
  that must wait for the file, and retention sweeps. The reader thread, on a connection of its own (WAL lets it run
  while commits go on): queries, and WAL checkpoints every ``checkpoint_every`` appended rows
  (:meth:`JournalDb.checkpoint`: two PASSIVE steps, the second under the writer lock so that the WAL can start over);
  SQLite's automatic checkpoint, which would run inside a commit on the event loop and fsync there, is off on the
  writer connection. A checkpoint's fsync can take long on a busy disk; in the reader thread it holds up no commit.

Retention runs in the writer task, between commits: after ``sweep_every`` commits or ``sweep_interval`` seconds
(a timer wakes the writer when idle) it deletes one batch of at most ``sweep_batch`` rows — first rows older than
``max_age`` (by ``received_at``), then the oldest rows (by id) beyond ``max_rows`` — as one short transaction in one
thread hop, and goes on batch by batch, letting waiting appends commit in between, until the journal is within its
limits. The row count and the eviction counters live in ``journal_meta``, kept by triggers and by the sweep in the
same transactions, so that they are exact and shared by every process writing the file.

Durability: ``synchronous=NORMAL`` in WAL mode. A committed transaction is in the WAL file (written, not fsynced)
before ``append_exchange`` returns, so it survives the process being killed (tests/test_crash_safety.py kills -9
under load). A power loss or kernel crash can lose the transactions since the last checkpoint, never corrupt the
file (docs/resilience.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import structlog

from shlyuz.storage.base import ExchangeRecord, JournalQuery, JournalStats, Retention
from shlyuz.storage.sqlite_journal import (
    STATS_SQL,
    JournalDb,
    record_of,
    row_of,
    utc_text,
)

log = structlog.get_logger("shlyuz.storage")
_MAX_BATCH = 256
T = TypeVar("T")


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
        checkpoint_every: int = 200,
    ) -> None:
        self.path = Path(path)
        self.retention = retention if retention is not None and retention.active else None
        self._now = now or (lambda: datetime.now(timezone.utc))
        self.sweep_interval, self.sweep_every, self.sweep_batch = sweep_interval, sweep_every, sweep_batch
        self.checkpoint_every = checkpoint_every
        self._journal = JournalDb(self.path)
        self._thread: ThreadPoolExecutor | None = None  # the writer connection: a commit that waits, sweeps
        self._reads: ThreadPoolExecutor | None = None  # the reader connection: queries, checkpoints (and their fsync)
        self._queue: asyncio.Queue[tuple[ExchangeRecord, asyncio.Future[int]] | None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._since_checkpoint = 0  # rows appended since the last checkpoint was started
        self._idle = False  # the writer task waits on an empty queue: the writer connection is free
        self._stopping = False
        self._backlog = False  # the last sweep batch was full: more to delete
        self._commits = 0  # since the last sweep
        self._last_sweep = time.monotonic()
        self._new_waiters: list[asyncio.Future[tuple[int, int]]] = []  # sweep() calls not yet in a batch
        self._waiters: list[asyncio.Future[tuple[int, int]]] = []
        self._pass = [0, 0]  # (by age, by count) deleted for the current waiters

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the storage's writer thread (one hop)."""
        if self._thread is None:
            raise RuntimeError("storage is not open")
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the storage's reader thread: a query or a checkpoint never holds up a commit."""
        if self._reads is None:
            raise RuntimeError("storage is not open")
        return await asyncio.get_running_loop().run_in_executor(self._reads, fn, *args)

    async def open(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-writer")
        try:
            await self._run(self._journal.open)
        except BaseException:
            self._thread.shutdown(wait=False)
            self._thread = None
            raise
        self._reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-reader")
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
        if self._checkpoint_task is not None:
            await self._checkpoint_task
            self._checkpoint_task = None
        if self._reads is not None:
            await asyncio.to_thread(self._reads.shutdown, True)  # the queries in flight finish first
            self._reads = None
        if self._thread is not None:
            await self._run(self._journal.close)
            self._thread.shutdown(wait=True)
            self._thread = None

    async def ping(self) -> bool:
        if self._reads is None:
            return False
        return bool(await self._read(self._journal.fetch, "SELECT 1"))

    async def append_exchange(self, record: ExchangeRecord) -> int:
        if self._queue is None or self._stopping:
            raise RuntimeError("storage is not open")
        if self._idle and self._queue.empty():
            # Nothing queued and nothing in flight on the writer connection: commit here and now, sparing the hop
            # to the writer task and back (the group commit is for appends that arrive while a commit is going on).
            ids = self._journal.try_insert([row_of(record)])
            if ids is not None:
                record.id = ids[0]
                self._committed(1)
                return ids[0]
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

    # -- the writer task ---------------------------------------------------------------------------------------------
    async def _write_loop(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            if (self._backlog or self._new_waiters) and queue.empty() and not self._stopping:
                await self._sweep_step()
                continue
            self._idle = queue.empty()
            try:
                items = [await queue.get()]
            finally:
                self._idle = False
            while len(items) < _MAX_BATCH and not queue.empty():
                items.append(queue.get_nowait())
            batch = [item for item in items if item is not None]  # None only wakes the writer
            try:
                if batch:
                    await self._commit(batch)
            finally:
                for _ in items:
                    queue.task_done()
            if self._stopping and queue.empty():
                return
            if self._sweep_due():
                await self._sweep_step()

    async def _commit(self, batch: list[tuple[ExchangeRecord, asyncio.Future[int]]]) -> None:
        rows = [row_of(rec) for rec, _ in batch]
        try:
            ids = self._journal.try_insert(rows)  # on the event loop, never waiting
            if ids is None:  # another writer has the file: wait for it in the writer thread
                ids = await self._run(self._journal.insert, rows)
        except Exception as exc:  # report to every waiter; the loop goes on
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for (rec, fut), new_id in zip(batch, ids):
            rec.id = new_id
            if not fut.done():
                fut.set_result(new_id)
        self._committed(len(rows))

    def _committed(self, rows: int) -> None:
        """After a commit: count it, start a checkpoint when one is due, wake the writer when a sweep is."""
        self._commits += 1
        self._since_checkpoint += rows
        if self._since_checkpoint >= self.checkpoint_every and (
            self._checkpoint_task is None or self._checkpoint_task.done()
        ):
            self._since_checkpoint = 0
            self._checkpoint_task = asyncio.create_task(self._checkpoint(), name="journal-checkpoint")
        if self._idle and self._queue is not None and self._sweep_due():
            self._queue.put_nowait(None)  # the writer sweeps between commits

    async def _checkpoint(self) -> None:
        try:
            await self._read(self._journal.checkpoint)
        except Exception as exc:  # the next one tries again; appends do not depend on it
            log.warning("journal_checkpoint_failed", error=f"{type(exc).__name__}: {exc}")

    async def _sweep_step(self) -> None:
        """One batch of retention: one transaction, one thread hop."""
        assert self.retention is not None
        self._waiters += self._new_waiters
        self._new_waiters = []
        max_age = self.retention.max_age
        try:
            cutoff = utc_text(self._now() - max_age) if max_age is not None else None
            by_age, by_count, more = await self._run(self._sweep_sync, cutoff, self.retention.max_rows, self.sweep_batch)
        except Exception as exc:  # e.g. the file is locked by another program for longer than busy_timeout
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
        """(writer thread) One batch, :meth:`JournalDb.sweep` (a method of its own so that benchmarks can time it)."""
        return self._journal.sweep(cutoff, max_rows, batch)

    # -- reads (reader thread, reader connection) -------------------------------------------------------------------
    async def stats(self) -> JournalStats:
        ((rows, oldest, newest, by_count, by_age),) = await self._read(self._journal.fetch, STATS_SQL)
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

    async def query_exchanges(self, query: JournalQuery) -> list[ExchangeRecord]:
        where: list[str] = []
        args: list[Any] = []
        if query.message_id is not None:
            where.append("(message_id = ? OR response_message_id = ?)")
            args += [query.message_id, query.message_id]
        for column, value in (
            ("service_id", query.service_id),
            ("sender_id", query.sender_id),
            ("session_id", query.session_id),
            ("scope", query.scope),
            ("outcome", query.outcome),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.since is not None:
            where.append("received_at >= ?")
            args.append(utc_text(query.since))
        if query.until is not None:
            where.append("received_at < ?")
            args.append(utc_text(query.until))
        if query.before_id is not None:
            where.append("id < ?")
            args.append(query.before_id)
        # ids first, from the indexes alone, then only the rows wanted: a time range otherwise reads (and sorts) every
        # row of the range, bodies included, to keep the newest `limit` of them
        inner = "SELECT id FROM exchanges" + (" WHERE " + " AND ".join(where) if where else "")
        sql = f"SELECT * FROM exchanges WHERE id IN ({inner} ORDER BY id DESC LIMIT ?) ORDER BY id DESC"
        args.append(query.limit)
        return [record_of(r) for r in await self._read(self._journal.fetch, sql, args)]

    async def get_exchange(self, exchange_id: int) -> ExchangeRecord | None:
        rows = await self._read(self._journal.fetch, "SELECT * FROM exchanges WHERE id = ?", (exchange_id,))
        return record_of(rows[0]) if rows else None

    async def explain(self, sql: str, args: tuple[Any, ...] = ()) -> list[str]:
        """SQLite's query plan for ``sql`` (bench/journal_scale.py shows that the journal queries use indexes)."""
        return [r[3] for r in await self._read(self._journal.fetch, "EXPLAIN QUERY PLAN " + sql, args)]
