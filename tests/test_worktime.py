"""Kazakhstan's working calendar: office time, working days over public holidays, calendar days, parsing."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from shlyuz.clock import KZ
from shlyuz.worktime import Duration, OfficeHours, Unit, WorkingCalendar

CAL = WorkingCalendar()


def at(y, mo, d, h=10, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=KZ)


@pytest.mark.parametrize(
    "text,value,unit",
    [("15 minutes", 15, Unit.MINUTES), ("1 minute", 1, Unit.MINUTES), ("2 hours", 2, Unit.HOURS),
     ("5 working days", 5, Unit.WORKING_DAYS), ("5 working_days", 5, Unit.WORKING_DAYS),
     ("30 calendar days", 30, Unit.CALENDAR_DAYS), ("0.5 working days", 0.5, Unit.WORKING_DAYS)],
)  # fmt: skip
def test_parse(text, value, unit):
    d = Duration.parse(text)
    assert (d.value, d.unit) == (value, unit)
    assert Duration.parse(str(d)) == d


@pytest.mark.parametrize("text", ["", "five days", "5", "-1 hours", "3 weeks", "1e3 minutes"])
def test_parse_refuses_with_the_text(text):
    with pytest.raises(ValueError, match="not a duration"):
        Duration.parse(text)


def test_minutes_run_inside_office_hours_only():
    assert CAL.add(at(2026, 1, 15, 10), Duration(15, Unit.MINUTES)) == at(2026, 1, 15, 10, 15)
    assert CAL.add(at(2026, 1, 15, 12, 50), Duration(15, Unit.MINUTES)) == at(2026, 1, 15, 14, 5)  # lunch skipped
    # Friday 17:50 + 30 min → Monday 09:20
    assert CAL.add(at(2026, 1, 16, 17, 50), Duration(30, Unit.MINUTES)) == at(2026, 1, 19, 9, 20)
    # started on a Saturday evening: starts at Monday's opening
    assert CAL.add(at(2026, 1, 17, 20), Duration(1, Unit.HOURS)) == at(2026, 1, 19, 10)
    # 8 office hours = one full day
    assert CAL.add(at(2026, 1, 15, 9), Duration(8, Unit.HOURS)) == at(2026, 1, 15, 18)


def test_working_days_skip_weekends_and_public_holidays():
    assert CAL.add(at(2026, 1, 15), Duration(1, Unit.WORKING_DAYS)) == at(2026, 1, 16)
    assert CAL.add(at(2026, 1, 16), Duration(1, Unit.WORKING_DAYS)) == at(2026, 1, 19)
    # Nauryz 2026: 21–23 March and the observed 24–25 March are days off
    assert CAL.holiday_name(date(2026, 3, 23)) is not None
    assert CAL.add(at(2026, 3, 20), Duration(1, Unit.WORKING_DAYS)) == at(2026, 3, 26)
    # New Year + Orthodox Christmas: 31 Dec 2025 + 3 working days → 6 Jan (1–2 Jan holidays, 3–4 weekend), 8 Jan
    assert CAL.add(at(2025, 12, 31), Duration(3, Unit.WORKING_DAYS)) == at(2026, 1, 8)


def test_transferred_days_follow_the_holidays_package():
    # 2025: the day off of Sunday 5 January was moved to Friday 3 January (holidays.country_holidays("KZ"))
    assert not CAL.is_working_day(date(2025, 1, 3))
    assert CAL.is_working_day(date(2025, 1, 5))


def test_calendar_days_ending_on_a_day_off_move_to_the_next_opening():
    assert CAL.add(at(2026, 1, 15), Duration(2, Unit.CALENDAR_DAYS)) == at(2026, 1, 19, 9)  # Sat 17 → Mon 09:00
    assert CAL.add(at(2026, 1, 15), Duration(7, Unit.CALENDAR_DAYS)) == at(2026, 1, 22)


def test_working_time_between():
    assert CAL.office_minutes_between(at(2026, 1, 15, 9), at(2026, 1, 15, 18)) == 480
    assert CAL.working_days_between(at(2026, 1, 16, 9), at(2026, 1, 20, 9)) == 2  # Fri + Mon
    assert CAL.office_minutes_between(at(2026, 1, 15, 12), at(2026, 1, 15, 11)) == 0


def test_office_hours_are_configurable():
    cal = WorkingCalendar(office=OfficeHours(lunch=None))
    assert cal.add(at(2026, 1, 15, 12, 50), Duration(15, Unit.MINUTES)) == at(2026, 1, 15, 13, 5)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="aware"):
        CAL.add(datetime(2026, 1, 15, 10), Duration(1, Unit.HOURS))


@hsettings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)),
    minutes=st.integers(min_value=0, max_value=20 * 480),
)
def test_adding_office_minutes_is_measured_back_exactly(start, minutes):
    """add and office_minutes_between agree: the end of a step is exactly its duration of office time later."""
    begin = CAL.next_opening(start.replace(tzinfo=KZ))
    end = CAL.add_office_minutes(begin, minutes)
    assert abs(CAL.office_minutes_between(begin, end) - minutes) < 1e-6
    assert CAL.is_working_day(end.date())
