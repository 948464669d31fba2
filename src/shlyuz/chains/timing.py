"""How long a regulation's duration takes on the working calendar (sans-IO).

The service definitions keep durations as the seed writes them (:mod:`shlyuz.services.duration`); this module turns
one into an end time with :class:`shlyuz.worktime.WorkingCalendar`, and sums durations per unit the way the
regulations state their totals ("7 working days and 30 minutes"), never converting one unit into another.

The seed's unit-less forms need a reading; each is explicit and reported in the trace:

- ``days_unspecified`` ("күн" with neither "жұмыс" nor "күнтізбелік") counts as working days by default
  (``Interpretation.unspecified_days``), the reading the same regulations use where they do say;
- ``months`` are calendar months (same day of month, clipped to the month's end, then the next working day);
- ``same_day`` and ``not_stated`` take no simulated time.
"""

from __future__ import annotations

import calendar as _calendar
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from shlyuz.services.duration import Duration as SeedDuration
from shlyuz.services.duration import Unit as SeedUnit
from shlyuz.worktime import Duration, Unit, WorkingCalendar


@dataclass(frozen=True)
class Interpretation:
    unspecified_days: Unit = Unit.WORKING_DAYS  # or Unit.CALENDAR_DAYS


def reading(d: SeedDuration, interp: Interpretation = Interpretation()) -> str | None:
    """A note for the trace when the seed's duration needed an interpretation, else None."""
    if d.unit is SeedUnit.DAYS_UNSPECIFIED:
        return f"the seed says {d.value} day(s) without a unit; counted as {interp.unspecified_days.value.replace('_', ' ')}"
    if d.unit is SeedUnit.NOT_STATED:
        return "the regulation gives no duration for this step; it takes no simulated time"
    if d.unit is SeedUnit.SAME_DAY:
        return "on the same day: no simulated time"
    return None


def end_of(cal: WorkingCalendar, start: datetime, d: SeedDuration, interp: Interpretation = Interpretation()) -> datetime:
    if d.value is None or d.unit in (SeedUnit.SAME_DAY, SeedUnit.NOT_STATED):
        return start
    if d.unit is SeedUnit.MONTHS:
        local = start.astimezone(cal.tz)
        month = local.month - 1 + d.value
        year, month = local.year + month // 12, month % 12 + 1
        day = min(local.day, _calendar.monthrange(year, month)[1])
        end = local.replace(year=year, month=month, day=day)
        return end if cal.is_working_day(end.date()) else cal.next_opening(end.replace(hour=23, minute=59))
    unit = {
        SeedUnit.MINUTES: Unit.MINUTES,
        SeedUnit.HOURS: Unit.HOURS,
        SeedUnit.WORKING_DAYS: Unit.WORKING_DAYS,
        SeedUnit.CALENDAR_DAYS: Unit.CALENDAR_DAYS,
        SeedUnit.DAYS_UNSPECIFIED: interp.unspecified_days,
    }[d.unit]
    return cal.add(start, Duration(d.value, unit))


def end_of_all(cal: WorkingCalendar, start: datetime, durations: Iterable[SeedDuration],
               interp: Interpretation = Interpretation()) -> datetime:  # fmt: skip
    """The end of ``durations`` taken one after the other from ``start``."""
    for d in durations:
        start = end_of(cal, start, d, interp)
    return start


def total(durations: Iterable[SeedDuration], interp: Interpretation = Interpretation()) -> dict[str, int]:
    """Per-unit sum, as the regulations write totals: ``{"working_days": 7, "minutes": 30}``. Hours stay hours;
    unit-less days are summed under the unit they are read as."""
    out: Counter[str] = Counter()
    for d in durations:
        if d.value is None:
            continue
        unit = interp.unspecified_days.value if d.unit is SeedUnit.DAYS_UNSPECIFIED else d.unit.value
        out[unit] += d.value
    return {k: v for k, v in sorted(out.items()) if v}


def format_total(parts: dict[str, int]) -> str:
    if not parts:
        return "0"
    return " + ".join(f"{v} {k.replace('_', ' ')}" for k, v in parts.items())
