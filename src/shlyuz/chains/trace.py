"""The data of a chain run (h11's ``_events.py``): what the engine asks for, what the driver answers, the trace."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from shlyuz.services.model import ChainItem, Step
from shlyuz.services.vocab import Check


# -- what the engine needs next ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class NeedChecks:
    """Evaluate ``checks`` of a condition (``human_decision`` is never asked here: it comes from a decision step)."""

    ref: str
    item: ChainItem
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class NeedProcess:
    """Perform what a process (or an unnumbered chain item) stands for: its system calls, if any."""

    ref: str
    item: ChainItem


@dataclass(frozen=True)
class NeedStep:
    """Perform a numbered step of a provider procedure or of a channel's step list. ``decision``: a person or a
    commission decides here (approve or refuse)."""

    ref: str
    step: Step
    procedure: str | None
    decision: bool


@dataclass(frozen=True)
class Finished:
    trace: "Trace"


Need = NeedChecks | NeedProcess | NeedStep | Finished


# -- what the driver answers ------------------------------------------------------------------------------------
@dataclass
class Call:
    """One exchange a step made: a SHEP message (journaled under ``message_id``), a signature check, a lookup."""

    system: str
    action: str
    ok: bool
    service_id: str | None = None
    message_id: str | None = None
    detail: str | None = None


@dataclass
class CheckResult:
    check: Check
    ok: bool
    detail: str | None = None
    calls: list[Call] = field(default_factory=list)


@dataclass
class Decision:
    approve: bool
    reason: str | None = None  # the motivated refusal's text
    ground: str | None = None  # a refusal code of the definition
    decided_by: str | None = None
    at: datetime | None = None  # when a person decided (a real or accelerated clock); None: the regulation's time


@dataclass
class StepResult:
    calls: list[Call] = field(default_factory=list)
    decision: Decision | None = None
    result_document: str | None = None  # the signed result (XML), when this step produced it


# -- the trace --------------------------------------------------------------------------------------------------
@dataclass
class TraceStep:
    ref: str  # "process 3", "condition 1", "item 1", "step 4", "procedure main step 2"
    kind: str  # process | condition | unnumbered | step
    number: int | None
    text: str
    actor: str | None
    systems: list[str]
    duration: str  # as the regulation gives it, e.g. "20 minutes"
    started_at: datetime
    ended_at: datetime
    branch: str | None = None  # yes / no for a condition; approve / refuse for a decision step
    checks: dict[str, bool] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    inferred: bool = False
    overdue: bool = False  # took longer than the regulation's duration
    notes: list[str] = field(default_factory=list)


@dataclass
class Trace:
    service: str
    channel: str
    started_at: datetime
    procedure: str | None = None  # the provider procedure (sub-flow) this run follows
    status: str = "running"  # running | waiting (for a person's decision) | done
    ended_at: datetime | None = None
    outcome: str | None = None  # result | refusal
    refusal: dict[str, str] | None = None  # {"code", "text"}
    result_document: str | None = None
    steps: list[TraceStep] = field(default_factory=list)
    regulation_total: dict[str, int] = field(default_factory=dict)  # per unit, the durations on the path taken
    working_days: float | None = None  # simulated total, in working days of office time
    deadlines: list[dict[str, Any]] = field(default_factory=list)  # the regulation's, with met / overdue
    rules: list[dict[str, Any]] = field(default_factory=list)  # rules met on the path: kind, ref, applied, why, effect
    overdue: bool = False

    def to_json(self) -> dict[str, Any]:
        def conv(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: conv(v) for k, v in value.items()}
            if isinstance(value, list):
                return [conv(v) for v in value]
            return value

        return conv(asdict(self))

    def refs(self) -> list[str]:
        return [s.ref for s in self.steps]
