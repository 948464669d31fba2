"""The storage interface and its records."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol

from shlyuz.storage.scope import current_scope


@dataclass(slots=True)
class ExchangeRecord:
    """One request/response exchange as journaled."""

    received_at: datetime
    endpoint: str
    session_id: str
    outcome: str  # SCSS001, SCSE001, or a fault's error code
    http_status: int
    duration_ms: float
    sender_id: str | None = None
    service_id: str | None = None
    message_id: str | None = None
    correlation_id: str | None = None
    response_message_id: str | None = None
    remote: str | None = None
    content_type: str | None = None
    verdicts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    request: bytes | None = None
    response: bytes | None = None
    id: int | None = None
    # the session (X-Shlyuz-Scope) the exchange belongs to: by default the scope of the request being handled
    scope: str = field(default_factory=current_scope)

    def to_json(self, *, bodies: bool = True, tz: tzinfo | None = None) -> dict[str, Any]:
        out = asdict(self)
        when = self.received_at.astimezone(tz) if tz is not None else self.received_at
        out["received_at"] = when.isoformat(timespec="milliseconds")
        for key in ("request", "response"):
            raw = out.pop(key)
            if bodies:
                out[key] = raw.decode("utf-8", errors="replace") if raw is not None else None
        return out


@dataclass(frozen=True, slots=True)
class JournalQuery:
    message_id: str | None = None  # matches the request's or the response's messageId
    service_id: str | None = None
    sender_id: str | None = None
    session_id: str | None = None
    scope: str | None = None  # the session (X-Shlyuz-Scope); None: every scope
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    before_id: int | None = None  # paging: entries older than this id


@dataclass(frozen=True, slots=True)
class Retention:
    """How much of the journal to keep. The storage enforces it itself, in bounded steps; how is its business."""

    max_rows: int = 1_000_000  # 0: no count limit
    max_age: timedelta | None = timedelta(days=30)  # None: no age limit

    @property
    def active(self) -> bool:
        return self.max_rows > 0 or self.max_age is not None

    def to_json(self) -> dict[str, Any]:
        days = self.max_age / timedelta(days=1) if self.max_age is not None else 0
        return {"maxRows": self.max_rows, "maxAgeDays": int(days) if days == int(days) else days}


@dataclass(frozen=True, slots=True)
class JournalStats:
    rows: int
    oldest_received_at: datetime | None
    newest_received_at: datetime | None
    evicted_by_count: int  # rows deleted because the journal held more than max_rows (since the database was made)
    evicted_by_age: int  # rows deleted because they were older than max_age
    db_bytes: int | None  # on disk, write-ahead log included
    retention: Retention | None = None  # None: the storage keeps everything

    def to_json(self, tz: tzinfo | None = None) -> dict[str, Any]:
        def when(value: datetime | None) -> str | None:
            if value is None:
                return None
            return (value.astimezone(tz) if tz is not None else value).isoformat(timespec="milliseconds")

        return {
            "rows": self.rows,
            "oldestReceivedAt": when(self.oldest_received_at),
            "newestReceivedAt": when(self.newest_received_at),
            "evicted": {"byCount": self.evicted_by_count, "byAge": self.evicted_by_age},
            "dbBytes": self.db_bytes,
            "limits": (self.retention or Retention(max_rows=0, max_age=None)).to_json(),
        }


class Storage(Protocol):
    """Retention (:class:`Retention`, given to the implementation's constructor) is enforced inside the
    implementation: callers only see its effect in :meth:`stats`."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    async def append_exchange(self, record: ExchangeRecord) -> int:
        """Durably store ``record`` (committed when this returns) and return its id."""
        ...

    async def query_exchanges(self, query: JournalQuery) -> list[ExchangeRecord]:
        """Newest first."""
        ...

    async def get_exchange(self, exchange_id: int) -> ExchangeRecord | None: ...

    async def stats(self) -> JournalStats:
        """Row count, oldest and newest ``received_at``, evictions so far, size on disk, the limits."""
        ...
