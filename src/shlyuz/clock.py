"""The gateway's clock. Everything that stamps a time asks a Clock, so tests and the chain engine can replace it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

KZ = timezone(timedelta(hours=5), "Asia/Almaty")


class Clock:
    """Real time in a fixed zone (Kazakhstan: UTC+5 since 2024-03-01)."""

    def __init__(self, tz: timezone = KZ) -> None:
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(self.tz)


class FixedClock(Clock):
    """A clock that stands still until moved: for tests."""

    def __init__(self, at: datetime) -> None:
        super().__init__(at.tzinfo if isinstance(at.tzinfo, timezone) else KZ)
        self._at = at

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta
