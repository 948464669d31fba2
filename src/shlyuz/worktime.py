"""Working time in Kazakhstan: the calendar the regulations' durations are counted on (sans-IO, no clock reads).

The regulations give each step a duration in minutes, hours, working days or calendar days. Here:

- **working days** skip Saturdays, Sundays and public holidays, and count the transferred working Saturdays as
  working days — both from the ``holidays`` package (``holidays.country_holidays("KZ")``), which keeps the Kazakh
  calendar, moved days off included, up to date;
- **minutes and hours** are office time: they run only inside office hours (default 09:00–18:00 with a 13:00–14:00
  lunch break, the Labour Code's 8-hour day) on working days; a step that starts outside them starts at the next
  opening;
- **working days** end at the same time of day N working days later (a start outside office hours first moves to
  the next opening);
- **calendar days** are plain days; if the last one is not a working day, the end moves to the next working day's
  opening (the Civil Code's rule for a term's last day, art. 173).

Why ``holidays``: it is maintained (monthly releases), has Kazakhstan with its observed and substituted days, and
saves us a hand-kept table that would go stale. Dates are in the calendar's zone (Asia/Almaty, UTC+5).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cached_property

import holidays

from shlyuz.clock import KZ


class Unit(str, enum.Enum):
    MINUTES = "minutes"
    HOURS = "hours"
    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"


@dataclass(frozen=True, slots=True)
class Duration:
    value: float
    unit: Unit

    @classmethod
    def parse(cls, text: str) -> "Duration":
        """``"15 minutes"``, ``"2 hours"``, ``"5 working_days"`` / ``"5 working days"``, ``"30 calendar days"``."""
        m = _DURATION.match(text.strip())
        if not m:
            raise ValueError(f"not a duration: {text!r} (want e.g. '15 minutes', '2 hours', '5 working days')")
        unit = m.group(2).lower().replace(" ", "_")
        unit = {"minute": "minutes", "hour": "hours", "working_day": "working_days", "calendar_day": "calendar_days",
                "day": "calendar_days", "days": "calendar_days"}.get(unit, unit)  # fmt: skip
        return cls(float(m.group(1)), Unit(unit))

    def __str__(self) -> str:
        value = int(self.value) if self.value == int(self.value) else self.value
        return f"{value} {self.unit.value.replace('_', ' ')}"


_DURATION = re.compile(
    r"^(\d+(?:\.\d+)?)\s*(minutes?|hours?|working[ _]days?|calendar[ _]days?|days?)$", re.IGNORECASE
)


@dataclass(frozen=True)
class OfficeHours:
    opens: time = time(9, 0)
    closes: time = time(18, 0)
    lunch: tuple[time, time] | None = (time(13, 0), time(14, 0))

    def periods(self) -> list[tuple[time, time]]:
        if self.lunch is None:
            return [(self.opens, self.closes)]
        return [(self.opens, self.lunch[0]), (self.lunch[1], self.closes)]

    @property
    def minutes_per_day(self) -> float:
        return sum(_minutes(b) - _minutes(a) for a, b in self.periods())


def _minutes(t: time) -> float:
    return t.hour * 60 + t.minute + t.second / 60


class WorkingCalendar:
    """Kazakhstan's working days and office hours. Immutable; build one per gateway."""

    def __init__(self, *, office: OfficeHours | None = None, tz: tzinfo = KZ, country: str = "KZ") -> None:
        self.office = office or OfficeHours()
        self.tz = tz
        self.country = country

    @cached_property
    def _holidays(self) -> holidays.HolidayBase:
        # years are filled in lazily by the package as dates are asked about
        return holidays.country_holidays(self.country)

    def holiday_name(self, day: date) -> str | None:
        return self._holidays.get(day)

    def is_working_day(self, day: date) -> bool:
        return self._holidays.is_working_day(day)

    def next_working_day(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def _local(self, when: datetime) -> datetime:
        if when.tzinfo is None:
            raise ValueError("working time needs an aware datetime")
        return when.astimezone(self.tz)

    def _at(self, day: date, t: time) -> datetime:
        return datetime.combine(day, t, tzinfo=self.tz)

    def next_opening(self, when: datetime) -> datetime:
        """``when`` if it is inside office time, else the start of the next office period."""
        when = self._local(when)
        day = when.date()
        while True:
            if self.is_working_day(day):
                for start, end in self.office.periods():
                    if when < self._at(day, end):
                        return max(when, self._at(day, start))
            day = self.next_working_day(day)
            when = self._at(day, time(0, 0))

    def add(self, start: datetime, duration: Duration) -> datetime:
        """When a step of ``duration`` started at ``start`` ends."""
        if duration.value < 0:
            raise ValueError("a duration cannot be negative")
        if duration.unit in (Unit.MINUTES, Unit.HOURS):
            return self.add_office_minutes(start, duration.value * (60 if duration.unit is Unit.HOURS else 1))
        if duration.unit is Unit.WORKING_DAYS:
            return self.add_working_days(start, duration.value)
        end = self._local(start) + timedelta(days=duration.value)
        if not self.is_working_day(end.date()):
            end = self._at(self.next_working_day(end.date()), self.office.opens)
        return end

    def add_office_minutes(self, start: datetime, minutes: float) -> datetime:
        when = self.next_opening(start)
        left = minutes
        while True:
            day = when.date()
            for p_start, p_end in self.office.periods():
                a, b = self._at(day, p_start), self._at(day, p_end)
                if when >= b:
                    continue
                when = max(when, a)
                room = (b - when).total_seconds() / 60
                if left <= room:
                    return when + timedelta(minutes=left)
                left -= room
                when = b
            when = self._at(self.next_working_day(day), self.office.opens)

    def add_working_days(self, start: datetime, days: float) -> datetime:
        when = self.next_opening(start)
        whole = int(days)
        for _ in range(whole):
            when = datetime.combine(self.next_working_day(when.date()), when.timetz())
        fraction = days - whole
        if fraction:
            when = self.add_office_minutes(when, fraction * self.office.minutes_per_day)
        return when

    def working_days_between(self, start: datetime, end: datetime) -> float:
        """Working time from ``start`` to ``end`` in working days (office minutes / a day's office minutes)."""
        return self.office_minutes_between(start, end) / self.office.minutes_per_day

    def office_minutes_between(self, start: datetime, end: datetime) -> float:
        start, end = self._local(start), self._local(end)
        if end <= start:
            return 0.0
        total = 0.0
        day = start.date()
        while day <= end.date():
            if self.is_working_day(day):
                for p_start, p_end in self.office.periods():
                    a = max(self._at(day, p_start), start)
                    b = min(self._at(day, p_end), end)
                    if b > a:
                        total += (b - a).total_seconds() / 60
            day += timedelta(days=1)
        return total
