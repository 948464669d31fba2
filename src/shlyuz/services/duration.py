"""Durations as the regulations write them: a number and a unit, or one of the seed's unit-less forms.

In YAML a duration is either a mapping (``{value: 20, unit: minutes, kk: "20 (жиырма) минут"}``) or a short string
(``"20 minutes"``, ``"2 working_days"``, ``"20 days_unspecified"``, ``"same_day"``, ``"not_stated"``). The seed's
plain "күн" (day, neither working nor calendar) is kept as ``days_unspecified``, never silently converted.
"""

from __future__ import annotations

import enum
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Unit(str, enum.Enum):
    MINUTES = "minutes"
    HOURS = "hours"
    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"
    DAYS_UNSPECIFIED = "days_unspecified"  # "күн" without "жұмыс" or "күнтізбелік": the seed does not say which
    MONTHS = "months"
    SAME_DAY = "same_day"  # "келіп түскен күні", "алған күні", "қол қойған күні": on the day of receipt/signature
    NOT_STATED = "not_stated"  # the regulation gives no duration for this step


VALUELESS = frozenset({Unit.SAME_DAY, Unit.NOT_STATED})


class Bound(str, enum.Enum):
    WITHIN = "within"  # "N ... ішінде": at most N
    AT_LEAST = "at_least"  # "N ... кем емес / аз емес": a lead time of at least N
    EXACTLY = "exactly"


class Anchor(str, enum.Enum):
    """What the duration counts from."""

    PREVIOUS_STEP = "previous_step"
    DOCUMENTS_RECEIVED = "documents_received"  # "құжаттарды алған күннен бастап"
    APPLICATION_RECEIVED = "application_received"  # "өтініш келіп түскен күннен бастап" (S4 step 4)
    APPLICATION_REGISTERED = "application_registered"
    DECISION = "decision"  # "шешім қабылдаған күннен бастап"
    NOTIFICATION = "notification"
    EVENT = "event"  # a lead time before an event (the Commission meeting)


_SHORT = re.compile(r"^\s*(?:(?P<value>\d+)\s+)?(?P<unit>[a-z_]+)\s*$")


class Duration(BaseModel):
    """One duration. ``value`` is None exactly when the unit is ``same_day`` or ``not_stated``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: int | None = Field(None, ge=0, le=100_000, description="the number as written (None: same_day, not_stated)")
    unit: Unit
    bound: Bound = Bound.WITHIN
    anchor: Anchor = Anchor.PREVIOUS_STEP
    kk: str | None = Field(None, description="the duration as the Kazakh text writes it, e.g. '20 (жиырма) минут'")

    @model_validator(mode="before")
    @classmethod
    def _from_short(cls, data: Any) -> Any:
        if isinstance(data, str):
            return parse_short(data)
        return data

    @model_validator(mode="after")
    def _value_matches_unit(self) -> Duration:
        if self.unit in VALUELESS and self.value is not None:
            raise ValueError(f"a duration in {self.unit.value} has no value (got {self.value})")
        if self.unit not in VALUELESS and self.value is None:
            raise ValueError(f"a duration in {self.unit.value} needs a value")
        return self

    def short(self) -> str:
        """The short form: '20 minutes', '2 working_days', 'same_day'."""
        return self.unit.value if self.value is None else f"{self.value} {self.unit.value}"

    def human(self) -> str:
        text = {
            Unit.MINUTES: "min", Unit.HOURS: "h", Unit.WORKING_DAYS: "WD", Unit.CALENDAR_DAYS: "calendar days",
            Unit.DAYS_UNSPECIFIED: "days (unit unspecified)", Unit.MONTHS: "month(s)",
        }  # fmt: skip
        if self.unit is Unit.SAME_DAY:
            return "same day"
        if self.unit is Unit.NOT_STATED:
            return "not stated"
        prefix = "≥ " if self.bound is Bound.AT_LEAST else ""
        return f"{prefix}{self.value} {text[self.unit]}"


def parse_short(text: str) -> dict[str, Any]:
    """'20 minutes' -> {'value': 20, 'unit': 'minutes'}; raises ValueError naming what is wrong."""
    m = _SHORT.match(text)
    units = ", ".join(u.value for u in Unit)
    if not m:
        raise ValueError(f"cannot parse duration {text!r}: expected 'N UNIT' or a valueless unit; units: {units}")
    unit = m["unit"]
    if unit not in {u.value for u in Unit}:
        raise ValueError(f"unknown duration unit {unit!r} in {text!r}; units: {units}")
    return {"value": int(m["value"]) if m["value"] is not None else None, "unit": unit}


def totals(durations: list[Duration]) -> dict[Unit, int]:
    """Sum durations per unit, never converting between units (a working day is not 8 hours here, and
    'days_unspecified' stays apart). Lead times (``at_least``), ``same_day`` and ``not_stated`` add nothing."""
    out: dict[Unit, int] = {}
    for d in durations:
        if d.value is None or d.bound is Bound.AT_LEAST:
            continue
        out[d.unit] = out.get(d.unit, 0) + d.value
    return out
