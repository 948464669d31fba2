"""The journal's SQLite file, synchronously: schema, rows, the cross-process writer lock, and :class:`JournalDb`,
the connections that :class:`shlyuz.storage.sqlite.SqliteStorage` drives (docs/resilience.md, "The journal").

Which thread runs what is the caller's business and is written on each method: the writer connection is used by one
thread at a time (the event loop's for a commit that finds the file free, the storage's writer thread otherwise); the
reader connection only by the storage's reader thread.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from shlyuz.storage.base import ExchangeRecord

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
    response BLOB,
    scope TEXT NOT NULL DEFAULT 'default'
);
CREATE INDEX IF NOT EXISTS exchanges_message_id ON exchanges(message_id);
CREATE INDEX IF NOT EXISTS exchanges_response_message_id ON exchanges(response_message_id);
CREATE INDEX IF NOT EXISTS exchanges_session_id ON exchanges(session_id);
CREATE INDEX IF NOT EXISTS exchanges_service_id ON exchanges(service_id, id);
CREATE INDEX IF NOT EXISTS exchanges_received_at ON exchanges(received_at);
"""
# Databases made before the journal knew sessions get the column (every old row is the default scope's); run under
# the writer lock, so one process of several opening the file adds it. The index comes after: it needs the column.
SCOPE_COLUMN = "ALTER TABLE exchanges ADD COLUMN scope TEXT NOT NULL DEFAULT 'default'"
SCOPE_INDEX = "CREATE INDEX IF NOT EXISTS exchanges_scope ON exchanges(scope, id)"
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
_DELETE_OLDER = (
    "DELETE FROM exchanges WHERE id IN (SELECT id FROM exchanges WHERE received_at < ? ORDER BY received_at LIMIT ?)"
)
_DELETE_OLDEST = "DELETE FROM exchanges WHERE id IN (SELECT id FROM exchanges ORDER BY id LIMIT ?)"
_COUNT = "UPDATE journal_meta SET value = value + ? WHERE key = ?"
STATS_SQL = (
    "SELECT (SELECT value FROM journal_meta WHERE key = 'rows'), (SELECT min(received_at) FROM exchanges), "
    "(SELECT max(received_at) FROM exchanges), (SELECT value FROM journal_meta WHERE key = 'evicted_by_count'), "
    "(SELECT value FROM journal_meta WHERE key = 'evicted_by_age')"
)

_COLUMNS = (
    "received_at, endpoint, session_id, outcome, http_status, duration_ms, sender_id, service_id, message_id, "
    "correlation_id, response_message_id, remote, content_type, verdicts, timings, request, response, scope"
)
_INSERT = f"INSERT INTO exchanges ({_COLUMNS}) VALUES ({', '.join('?' * 18)})"


def utc_text(value: datetime) -> str:
    """Timestamps are stored in UTC so that text order is time order."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def row_of(rec: ExchangeRecord) -> tuple[Any, ...]:
    return (
        utc_text(rec.received_at),
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
        rec.scope,
    )


def record_of(row: sqlite3.Row) -> ExchangeRecord:
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
        scope=row["scope"],
    )


def migrate(con: sqlite3.Connection) -> None:
    """(holding the writer lock) Bring a journal made by an older shlyuz up to this schema."""
    columns = {row[1] for row in con.execute("PRAGMA table_info(exchanges)")}
    if "scope" not in columns:
        con.execute(SCOPE_COLUMN)
    con.execute(SCOPE_INDEX)


_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
BUSY_TIMEOUT_MS = 5000  # what the writer thread waits for a writer that does not take the lock


class WriterLock:
    """An exclusive ``flock`` on ``<database>.lock`` around each write transaction, shared by every process (and
    every :class:`JournalDb`) writing the file. Released by the kernel when its holder dies, so a crash never wedges
    the others. A ``flock`` belongs to the open file, not to a thread, so a thread lock orders the threads of this
    process (the event loop's, the writer's, the reader's at checkpoints) as well. For an in-memory database only the
    thread lock is taken."""

    def __init__(self, database: Path | str) -> None:
        self.path = None if str(database) == ":memory:" else Path(f"{database}.lock")
        self._fd: int | None = None
        self._threads = threading.Lock()

    def _file(self) -> int:
        if self._fd is None:
            assert self.path is not None
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        return self._fd

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits."""
        if not self._threads.acquire(blocking=False):
            return False
        if self.path is None:
            return True
        try:
            fcntl.flock(self._file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException as exc:
            self._threads.release()
            if isinstance(exc, OSError) and exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        return True

    def acquire(self) -> None:
        """Take the lock, waiting as long as another writer holds it (call it off the event loop)."""
        self._threads.acquire()
        if self.path is not None:
            try:
                fcntl.flock(self._file(), fcntl.LOCK_EX)
            except BaseException:
                self._threads.release()
                raise

    def release(self) -> None:
        try:
            if self.path is not None and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and getattr(exc, "sqlite_errorcode", None) in _BUSY


class JournalDb:
    """Two connections to the journal: the writer (appends, sweeps) and the reader (queries, checkpoints). An
    in-memory database has one connection for both (a second one would be another database)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.memory = str(path) == ":memory:"
        self.lock = WriterLock(path)
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        con.row_factory = sqlite3.Row
        return con

    def open(self) -> None:
        """(writer thread) Connect, set WAL up, make the schema."""
        if not self.memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = self._connect()
        try:
            writer.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            writer.execute("PRAGMA journal_mode=WAL")
            writer.execute("PRAGMA synchronous=NORMAL")  # with WAL: a committed row survives a process crash
            writer.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run in the reader thread (checkpoint())
            self.lock.acquire()
            try:
                writer.executescript(SCHEMA)
                migrate(writer)
                writer.executescript(META)
            finally:
                self.lock.release()
            writer.execute("PRAGMA busy_timeout=0")  # on the event loop: never wait (see _patient for the thread)
            reader = writer if self.memory else self._connect()
            if not self.memory:
                reader.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except BaseException:
            writer.close()
            self.lock.close()
            raise
        self._writer, self._reader = writer, reader

    def close(self) -> None:
        """(writer thread, the reader thread idle) The last connection to the file checkpoints it and removes the WAL."""
        for con in {id(c): c for c in (self._reader, self._writer) if c is not None}.values():
            con.close()
        self._writer = self._reader = None
        self.lock.close()

    @property
    def writer(self) -> sqlite3.Connection:
        if self._writer is None:
            raise RuntimeError("storage is not open")
        return self._writer

    @property
    def reader(self) -> sqlite3.Connection:
        if self._reader is None:
            raise RuntimeError("storage is not open")
        return self._reader

    # -- writes ------------------------------------------------------------------------------------------------------
    def try_insert(self, rows: list[tuple[Any, ...]]) -> list[int] | None:
        """(event loop) One group commit if nobody else is writing; None, having changed nothing, if the lock is
        taken or SQLite reports the file busy (a writer that does not take the lock). Never waits."""
        if not self.lock.try_acquire():
            return None
        try:
            return _insert(self.writer, rows)
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                return None
            raise
        finally:
            self.lock.release()

    @contextmanager
    def _patient(self) -> Iterator[sqlite3.Connection]:
        """(writer thread) The writer connection holding the lock, and waiting for a busy file as SQLite does."""
        con = self.writer
        self.lock.acquire()
        try:
            con.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            try:
                yield con
            finally:
                con.execute("PRAGMA busy_timeout=0")
        finally:
            self.lock.release()

    def insert(self, rows: list[tuple[Any, ...]]) -> list[int]:
        """(writer thread) One group commit, waiting for the lock and the file as long as it takes."""
        with self._patient() as con:
            return _insert(con, rows)

    def sweep(self, cutoff: str | None, max_rows: int, batch: int) -> tuple[int, int, bool]:
        """(writer thread) Delete at most ``batch`` rows: older than ``cutoff`` first, then the oldest beyond
        ``max_rows``. Returns (by age, by count, more to delete)."""
        with self._patient() as con:
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
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
        return by_age, by_count, more

    def checkpoint(self) -> tuple[int, int, int]:
        """(reader thread) Copy the WAL into the database file, in two PASSIVE checkpoints: the first, the bulk of
        it and its fsyncs, while commits go on; the second, holding the writer lock, only what was appended
        meanwhile. A checkpoint that runs alongside commits never catches up with them, and SQLite starts the WAL
        over (instead of growing it) only after one that did: without the second step the WAL grew by ~55 MB per
        1,000 exchanges for as long as the load lasted. Returns SQLite's (busy, frames in the WAL, frames
        checkpointed) of the second."""
        self.reader.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self.lock.acquire()
        try:
            ((busy, frames, done),) = self.reader.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            self.lock.release()
        return busy, frames, done

    # -- reads -------------------------------------------------------------------------------------------------------
    def fetch(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        """(reader thread)"""
        return self.reader.execute(sql, args).fetchall()


def _insert(con: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> list[int]:
    con.execute("BEGIN IMMEDIATE")
    try:
        ids = [con.execute(_INSERT, row).lastrowid for row in rows]
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    return ids  # type: ignore[return-value]
