"""The gateway's clock. Everything that stamps a time asks a Clock, so tests and the chain engine can replace it.

An isolated session (``X-Shlyuz-Scope``, docs/sessions.md) may have its own time: the request's task carries a
:class:`SessionTime` in a context variable (set per request by ``gateway.sessions``), and every :meth:`Clock.now`
inside that request — certificate validity, messageDate checks, responseDate, the journal — sees the session's
time. Outside a session, or for a session without its own time, the clock is the gateway's.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

KZ = timezone(timedelta(hours=5), "Asia/Almaty")


@dataclass(frozen=True)
class SessionTime:
    """A session's time: frozen at ``at``, or the gateway's time moved by ``offset``."""

    at: datetime | None = None
    offset: timedelta = timedelta(0)

    def apply(self, base: datetime) -> datetime:
        return self.at.astimezone(base.tzinfo) if self.at is not None else base + self.offset


# per request (per asyncio task): the session's time, or None for the gateway's own
SESSION_TIME: ContextVar[SessionTime | None] = ContextVar("shlyuz_session_time", default=None)


class Clock:
    """Real time in a fixed zone (Kazakhstan: UTC+5 since 2024-03-01)."""

    def __init__(self, tz: timezone = KZ) -> None:
        self.tz = tz

    def base_now(self) -> datetime:
        """The gateway's own time, whatever the session."""
        return datetime.now(self.tz)

    def now(self) -> datetime:
        session = SESSION_TIME.get()
        base = self.base_now()
        return base if session is None else session.apply(base)


class FixedClock(Clock):
    """A clock that stands still until moved: for tests."""

    def __init__(self, at: datetime) -> None:
        super().__init__(at.tzinfo if isinstance(at.tzinfo, timezone) else KZ)
        self._at = at

    def base_now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta
