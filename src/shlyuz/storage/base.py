"""The storage interface and its records."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Protocol


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
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    before_id: int | None = None  # paging: entries older than this id


class Storage(Protocol):
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
