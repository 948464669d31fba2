"""The async channel's message store: accepted messages, their delivery state, and status notifications to send.

A message is accepted by one ``INSERT`` (committed when :meth:`MessageStore.accept` returns, before SHEP answers).
Delivery work lives in the rows themselves: ``due_at`` (NULL: nothing to do — pulled by the recipient, or final),
``lease_until``/``lease_owner`` (who is attempting it now) and ``attempts``. Several worker processes run the
delivery loop against one database; each claims due rows with one ``UPDATE … WHERE lease expired … RETURNING``, so
an attempt is made by exactly one of them, and a worker that dies mid-attempt loses its lease when it expires.
``changeMassageStatusNotification`` jobs for the sender are rows of ``async_notifications``, claimed the same way,
written in the same transaction as the state change that causes them.

The SQL is plain (``RETURNING``, ``ON CONFLICT``, no SQLite-only functions), so a PostgreSQL class can implement
:class:`MessageStore` with the same statements. Times are stored as UTC ISO-8601 text (text order = time order).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from shlyuz.shep.async_events import MessageState
from shlyuz.storage.aiosqlite_base import AiosqliteStore
from shlyuz.storage.records import DEFAULT_SCOPE

SCHEMA = """
CREATE TABLE IF NOT EXISTS async_messages (
    message_id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    message_type TEXT NOT NULL,
    service_id TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    sender_message_id TEXT,
    route_id TEXT,
    message_date TEXT NOT NULL,
    accepted_at TEXT NOT NULL,
    session_id TEXT,
    properties TEXT NOT NULL,
    data_kind TEXT NOT NULL,
    payload BLOB,
    mode TEXT NOT NULL,
    state TEXT NOT NULL,
    state_changed_at TEXT NOT NULL,
    status_message TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    due_at TEXT,
    lease_until TEXT,
    lease_owner TEXT,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS async_messages_inbox ON async_messages(scope, recipient_id, service_id, state, accepted_at);
CREATE INDEX IF NOT EXISTS async_messages_chain ON async_messages(correlation_id);
CREATE INDEX IF NOT EXISTS async_messages_due ON async_messages(due_at);
CREATE UNIQUE INDEX IF NOT EXISTS async_messages_sender_id ON async_messages(scope, sender_id, sender_message_id);
CREATE TABLE IF NOT EXISTS async_notifications (
    notification_id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    target_id TEXT NOT NULL,
    state TEXT NOT NULL,
    status_message TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    due_at TEXT,
    lease_until TEXT,
    lease_owner TEXT,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS async_notifications_due ON async_notifications(due_at);
"""


def utc(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """An accepted message and its delivery state. ``correlation_id`` is the chain id: the REQUEST's messageId
    (its own for a REQUEST). ``mode``: ``inside`` (on_message), ``push`` (HTTP to the recipient's endpoint) or
    ``pull`` (the recipient calls getMessages)."""

    message_id: str
    message_type: str
    service_id: str
    sender_id: str
    recipient_id: str
    correlation_id: str
    message_date: datetime
    accepted_at: datetime
    data_kind: str
    payload: bytes | None
    mode: str
    state: MessageState
    state_changed_at: datetime
    status_message: str
    scope: str = DEFAULT_SCOPE
    sender_message_id: str | None = None
    route_id: str | None = None
    session_id: str | None = None
    properties: tuple[tuple[str, str], ...] = ()
    attempts: int = 0
    due_at: datetime | None = None
    lease_until: datetime | None = None
    lease_owner: str | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class StatusStep:
    """One state change: the new state, its message, and (``notify_id`` set) a notification for the sender."""

    state: MessageState
    status_message: str
    notify_id: str | None = None


@dataclass(frozen=True, slots=True)
class PendingNotification:
    notification_id: str
    message_id: str
    seq: int
    target_id: str
    state: MessageState
    status_message: str
    created_at: datetime
    attempts: int
    lease_owner: str | None = None


class MessageStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def accept(self, message: StoredMessage) -> StoredMessage:
        """Insert ``message`` (committed when this returns) and return it — or, when the sender already sent a
        message with the same ``sender_message_id`` (in the scope), return that one and insert nothing."""
        ...

    async def get(self, message_id: str) -> StoredMessage | None: ...

    async def find(
        self,
        *,
        recipient_id: str,
        service_id: str,
        scope: str = DEFAULT_SCOPE,
        message_id: str | None = None,
        correlation_id: str | None = None,
        states: Sequence[MessageState] | None = None,
        limit: int = 100,
    ) -> list[StoredMessage]:
        """Messages addressed to ``recipient_id`` for ``service_id`` (oldest first), filtered."""
        ...

    async def change_state(
        self,
        message_id: str,
        *,
        expect: MessageState,
        steps: Sequence[StatusStep],
        at: datetime,
        due_at: datetime | None = None,
        owner: str | None = None,
        error: str | None = None,
        reset_attempts: bool = False,
    ) -> StoredMessage | None:
        """Move a message in state ``expect`` (and leased by ``owner`` when given) through ``steps``, setting
        ``due_at`` and releasing the lease, and queue the steps' notifications — one transaction. None: the message
        was not in that state (or not leased by ``owner``). ``reset_attempts``: a new round of delivery (RESEND)."""
        ...

    async def retry_later(self, message_id: str, *, owner: str, due_at: datetime, error: str) -> bool: ...

    async def claim_deliveries(self, *, now: datetime, owner: str, lease_until: datetime, limit: int) -> list[StoredMessage]:
        """Lease due deliveries (``attempts`` counted up); each is returned to exactly one claimer."""
        ...

    async def claim_notifications(
        self, *, now: datetime, owner: str, lease_until: datetime, limit: int
    ) -> list[PendingNotification]: ...

    async def finish_notification(
        self, notification_id: str, *, owner: str, due_at: datetime | None, error: str | None
    ) -> None:
        """``due_at`` None: done (sent, or given up); else retried then."""
        ...

    async def next_due(self) -> datetime | None:
        """The earliest ``due_at`` of a delivery or notification (for the loop's sleep)."""
        ...

    async def in_flight(self, scope: str, now: datetime) -> int:
        """Messages of ``scope`` whose delivery is due by ``now`` or under way (leased): what a test waits for
        before it looks at what the delivery did (``POST /__admin/sessions/{scope}/settle``)."""
        ...


class SqliteMessages(AiosqliteStore):
    """:class:`MessageStore` on SQLite (WAL, its own connection: it may share the journal's file)."""

    schema = SCHEMA
    what = "message store"

    def __init__(self, path: Path | str, *, now: Callable[[], datetime] | None = None) -> None:
        super().__init__(path)
        self._now = now or (lambda: datetime.now(UTC))
        self._tx = asyncio.Lock()  # one transaction at a time on this connection (per process, per store)

    @staticmethod
    def _message(row: aiosqlite.Row) -> StoredMessage:
        return StoredMessage(
            message_id=row["message_id"], scope=row["scope"], message_type=row["message_type"],
            service_id=row["service_id"], sender_id=row["sender_id"], recipient_id=row["recipient_id"],
            correlation_id=row["correlation_id"], sender_message_id=row["sender_message_id"],
            route_id=row["route_id"], message_date=datetime.fromisoformat(row["message_date"]),
            accepted_at=datetime.fromisoformat(row["accepted_at"]), session_id=row["session_id"],
            properties=tuple(tuple(p) for p in json.loads(row["properties"])),  # type: ignore[misc]
            data_kind=row["data_kind"], payload=row["payload"], mode=row["mode"], state=MessageState(row["state"]),
            state_changed_at=datetime.fromisoformat(row["state_changed_at"]), status_message=row["status_message"],
            attempts=row["attempts"], due_at=_when(row["due_at"]), lease_until=_when(row["lease_until"]),
            lease_owner=row["lease_owner"], last_error=row["last_error"],
        )  # fmt: skip

    async def accept(self, message: StoredMessage) -> StoredMessage:
        m = message
        sql = (
            "INSERT INTO async_messages VALUES (" + ", ".join(["?"] * 24) + ") "
            "ON CONFLICT (scope, sender_id, sender_message_id) DO NOTHING RETURNING message_id"
        )
        params = (
            m.message_id, m.scope, m.message_type, m.service_id, m.sender_id, m.recipient_id, m.correlation_id,
            m.sender_message_id, m.route_id, utc(m.message_date), utc(m.accepted_at), m.session_id,
            json.dumps([list(p) for p in m.properties], ensure_ascii=False), m.data_kind, m.payload, m.mode,
            m.state.value, utc(m.state_changed_at), m.status_message, m.attempts,
            utc(m.due_at) if m.due_at else None, None, None, None,
        )  # fmt: skip
        async with self._tx, self.db.execute(sql, params) as cur:
            inserted = await cur.fetchone()
        if inserted is not None:
            return m
        sql = "SELECT * FROM async_messages WHERE scope = ? AND sender_id = ? AND sender_message_id = ?"
        found = await self.db.execute_fetchall(sql, (m.scope, m.sender_id, m.sender_message_id))
        row = found[0] if found else None
        assert row is not None  # the conflict was with this row; messages are never deleted
        return self._message(row)

    async def get(self, message_id: str) -> StoredMessage | None:
        found = await self.db.execute_fetchall("SELECT * FROM async_messages WHERE message_id = ?", (message_id,))
        row = found[0] if found else None
        return self._message(row) if row is not None else None

    async def find(
        self,
        *,
        recipient_id: str,
        service_id: str,
        scope: str = DEFAULT_SCOPE,
        message_id: str | None = None,
        correlation_id: str | None = None,
        states: Sequence[MessageState] | None = None,
        limit: int = 100,
    ) -> list[StoredMessage]:
        sql = "SELECT * FROM async_messages WHERE scope = ? AND recipient_id = ? AND service_id = ?"
        params: list[Any] = [scope, recipient_id, service_id]
        if message_id is not None:
            sql += " AND message_id = ?"
            params.append(message_id)
        if correlation_id is not None:
            sql += " AND correlation_id = ?"
            params.append(correlation_id)
        if states:
            sql += " AND state IN (" + ", ".join("?" for _ in states) + ")"
            params += [s.value for s in states]
        sql += " ORDER BY accepted_at, message_id LIMIT ?"
        params.append(max(0, limit))
        return [self._message(r) for r in await self.db.execute_fetchall(sql, params)]

    async def change_state(
        self,
        message_id: str,
        *,
        expect: MessageState,
        steps: Sequence[StatusStep],
        at: datetime,
        due_at: datetime | None = None,
        owner: str | None = None,
        error: str | None = None,
        reset_attempts: bool = False,
    ) -> StoredMessage | None:
        if not steps:
            raise ValueError("change_state needs at least one step")
        last = steps[-1]
        sql = (
            "UPDATE async_messages SET state = ?, state_changed_at = ?, status_message = ?, due_at = ?, "
            "lease_until = NULL, lease_owner = NULL, last_error = COALESCE(?, last_error), "
            "attempts = CASE WHEN ? = 1 THEN 0 ELSE attempts END WHERE message_id = ? AND state = ?"
        )
        params: list[Any] = [last.state.value, utc(at), last.status_message, utc(due_at) if due_at else None, error,
                             1 if reset_attempts else 0, message_id, expect.value]  # fmt: skip
        if owner is not None:
            sql += " AND lease_owner = ?"
            params.append(owner)
        sql += " RETURNING *"
        async with self._tx:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                found = await self.db.execute_fetchall(sql, params)
                row = found[0] if found else None
                if row is not None:
                    for step in steps:
                        if step.notify_id is None:
                            continue
                        await self.db.execute(
                            "INSERT INTO async_notifications VALUES (?, ?, "
                            "(SELECT COUNT(*) FROM async_notifications WHERE message_id = ?), "
                            "?, ?, ?, ?, 0, ?, NULL, NULL, NULL)",
                            (step.notify_id, message_id, message_id, row["sender_id"], step.state.value,
                             step.status_message, utc(at), utc(at)),
                        )  # fmt: skip
                await self.db.execute("COMMIT")
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
        return self._message(row) if row is not None else None

    async def retry_later(self, message_id: str, *, owner: str, due_at: datetime, error: str) -> bool:
        sql = (
            "UPDATE async_messages SET due_at = ?, lease_until = NULL, lease_owner = NULL, last_error = ? "
            "WHERE message_id = ? AND lease_owner = ? RETURNING message_id"
        )
        async with self._tx, self.db.execute(sql, (utc(due_at), error, message_id, owner)) as cur:
                return await cur.fetchone() is not None

    async def claim_deliveries(self, *, now: datetime, owner: str, lease_until: datetime, limit: int) -> list[StoredMessage]:
        t = utc(now)
        free = "due_at IS NOT NULL AND due_at <= ? AND (lease_until IS NULL OR lease_until <= ?)"
        sql = (
            f"UPDATE async_messages SET lease_until = ?, lease_owner = ?, attempts = attempts + 1 "
            f"WHERE message_id IN (SELECT message_id FROM async_messages WHERE {free} ORDER BY due_at LIMIT ?) "
            f"AND {free} RETURNING *"
        )
        async with self._tx, self.db.execute(sql, (utc(lease_until), owner, t, t, limit, t, t)) as cur:
                return [self._message(r) for r in await cur.fetchall()]

    async def claim_notifications(
        self, *, now: datetime, owner: str, lease_until: datetime, limit: int
    ) -> list[PendingNotification]:
        t = utc(now)
        free = "due_at IS NOT NULL AND due_at <= ? AND (lease_until IS NULL OR lease_until <= ?)"
        sql = (
            f"UPDATE async_notifications SET lease_until = ?, lease_owner = ?, attempts = attempts + 1 "
            f"WHERE notification_id IN (SELECT notification_id FROM async_notifications WHERE {free} "
            f"ORDER BY due_at, seq LIMIT ?) AND {free} RETURNING *"
        )
        async with self._tx, self.db.execute(sql, (utc(lease_until), owner, t, t, limit, t, t)) as cur:
                rows = await cur.fetchall()
        out = [
            PendingNotification(
                notification_id=r["notification_id"], message_id=r["message_id"], seq=r["seq"],
                target_id=r["target_id"], state=MessageState(r["state"]), status_message=r["status_message"],
                created_at=datetime.fromisoformat(r["created_at"]), attempts=r["attempts"], lease_owner=r["lease_owner"],
            )
            for r in rows
        ]
        return sorted(out, key=lambda n: (n.message_id, n.seq))

    async def finish_notification(
        self, notification_id: str, *, owner: str, due_at: datetime | None, error: str | None
    ) -> None:
        sql = (
            "UPDATE async_notifications SET due_at = ?, lease_until = NULL, lease_owner = NULL, "
            "last_error = COALESCE(?, last_error) WHERE notification_id = ? AND lease_owner = ?"
        )
        async with self._tx:
            await self.db.execute(sql, (utc(due_at) if due_at else None, error, notification_id, owner))

    async def in_flight(self, scope: str, now: datetime) -> int:
        t = utc(now)
        sql = (
            "SELECT count(*) FROM async_messages WHERE scope = ? AND due_at IS NOT NULL "
            "AND (due_at <= ? OR lease_until > ?)"
        )
        rows = await self.db.execute_fetchall(sql, (scope, t, t))
        return int(rows[0][0])

    async def next_due(self) -> datetime | None:
        sql = (
            "SELECT MIN(d) FROM (SELECT MIN(CASE WHEN lease_until > due_at THEN lease_until ELSE due_at END) AS d "
            "FROM async_messages WHERE due_at IS NOT NULL UNION ALL "
            "SELECT MIN(CASE WHEN lease_until > due_at THEN lease_until ELSE due_at END) "
            "FROM async_notifications WHERE due_at IS NOT NULL) AS x"
        )
        found = await self.db.execute_fetchall(sql)
        row = found[0] if found else None
        return _when(row[0]) if row is not None else None

