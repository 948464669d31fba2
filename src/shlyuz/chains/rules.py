"""Rules with memory or a timer (sans-IO): what a step's ``rules`` (``shlyuz.services.rulespec``) do on one run.

The engine asks :func:`plan_step` before each step: the plan says how long the step takes (its own duration, replaced
or followed by the rule's), which later steps of the same list are not taken, whether the run ends with a refusal
after it, which deadline regime it switches on, and — for the trace — which rule applied and why. Its inputs are the
run's :class:`Facts`: what the run was told (changes, fee, pickup, missing documents, a sub-flow) and what the driver
found in the record store about the applicant's earlier runs of the same service (the memory). A rule whose input is
absent does nothing: the run follows the step list as the regulation writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shlyuz.clock import KZ
from shlyuz.services.duration import Duration as SeedDuration
from shlyuz.services.duration import Unit as SeedUnit
from shlyuz.services.model import Service, Step
from shlyuz.services.rulespec import (
    FeeWindow,
    MissingDocuments,
    Pickup,
    RepeatApplication,
    SubFlows,
)

CHANGE_TEXT = {"residence": "place of residence", "family": "family composition", "income": "income"}


@dataclass(frozen=True)
class EarlierRun:
    """One earlier run of the same service by the same applicant, as the record store keeps it."""

    id: str
    started_at: datetime
    outcome: str | None  # result | refusal | None (not finished)
    channel: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "startedAt": self.started_at.isoformat(), "outcome": self.outcome, "channel": self.channel}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EarlierRun:
        return cls(data["id"], datetime.fromisoformat(data["startedAt"]), data.get("outcome"), data.get("channel", ""))


@dataclass(frozen=True)
class Facts:
    """What the rules of a run need to know. ``earlier`` is None when no memory was consulted (a bare engine run)."""

    changes: frozenset[str] = frozenset()
    fee_paid_after: int | None = None  # working days after the notification; None: not said
    picked_up: bool | None = None  # None: not said
    missing_documents: str | None = None  # requested | lost
    documents_supplied_after: int | None = None  # working days the relevant bodies take
    subflow: str | None = None
    extra_checks: bool = False
    earlier: tuple[EarlierRun, ...] | None = None


@dataclass
class Plan:
    durations: list[tuple[str | None, SeedDuration]]  # (label, duration); the first is the step's own unless replaced
    notes: list[str] = field(default_factory=list)
    skip: set[int] = field(default_factory=set)  # later step numbers of the same list that are not taken
    refusal: str | None = None  # the run ends with this refusal after the step
    regimes: set[str] = field(default_factory=set)  # deadline regimes switched on
    applied: list[dict[str, Any]] = field(default_factory=list)  # for Trace.rules


def _wd(n: int) -> SeedDuration:
    return SeedDuration(value=n, unit=SeedUnit.WORKING_DAYS)


def _when(run: EarlierRun) -> str:
    return f"{run.id} of {run.started_at.astimezone(KZ).date().isoformat()} ({run.channel}, {run.outcome or 'unfinished'})"


def plan_step(step: Step, ref: str, facts: Facts, started_at: datetime) -> Plan:
    plan = Plan(durations=[(None, step.duration)])
    for rule in step.rules:
        if isinstance(rule, RepeatApplication):
            _repeat(rule, ref, facts, started_at, plan)
        elif isinstance(rule, FeeWindow):
            _fee(rule, ref, facts, plan)
        elif isinstance(rule, Pickup):
            _pickup(rule, ref, facts, plan)
        elif isinstance(rule, MissingDocuments):
            _missing(rule, ref, facts, plan)
        elif isinstance(rule, SubFlows):
            _subflows(rule, ref, facts, plan)
    return plan


def _entry(plan: Plan, kind: str, ref: str, applied: bool, why: str, effect: str, **more: Any) -> None:
    plan.applied.append({"kind": kind, "ref": ref, "applied": applied, "why": why, "effect": effect, **more})
    plan.notes.append(f"rule {kind}: {why} → {effect}")


def _repeat(rule: RepeatApplication, ref: str, facts: Facts, started_at: datetime, plan: Plan) -> None:
    if facts.earlier is None:
        return
    year = started_at.astimezone(KZ).year
    same_year = [e for e in facts.earlier if e.started_at.astimezone(KZ).year == year]
    if not same_year:
        _entry(plan, rule.kind, ref, False, f"first application in calendar year {year} (no earlier run of this "
               "service by the applicant)", "the commission inspects the material situation and draws up an act",
               inspection=True, earlier=[])  # fmt: skip
        return
    last = same_year[-1]
    changed = [c for c in rule.reinspect_on if c in facts.changes]
    why = f"repeat application within calendar year {year} (earlier: {_when(last)})"
    if changed:
        what = ", ".join(CHANGE_TEXT[c] for c in changed)
        _entry(plan, rule.kind, ref, True, f"{why}; changed: {what}",
               "the commission inspects again to clarify the changed data", inspection=True,
               earlier=[e.id for e in same_year], changes=changed)  # fmt: skip
    else:
        _entry(plan, rule.kind, ref, True, f"{why}; no change of residence, family composition or income",
               f"no new inspection and no new act; the conclusion rests on the documents (the step keeps its "
               f"{step_text(plan)})", inspection=False, earlier=[e.id for e in same_year], changes=[])  # fmt: skip


def step_text(plan: Plan) -> str:
    return " + ".join(d.human() for _, d in plan.durations)


def _fee(rule: FeeWindow, ref: str, facts: Facts, plan: Plan) -> None:
    if facts.fee_paid_after is None:
        return
    n, window = facts.fee_paid_after, rule.window
    limit = window.value or 0
    if n <= limit:
        plan.durations.append((f"proof of the fee after {n} of {window.human()}", _wd(n)))
        _entry(plan, rule.kind, ref, True, f"proof of the fee came {n} working day(s) after the notification, "
               f"within the {window.human()} window", "the permit is prepared and sent", paidAfter=n)  # fmt: skip
    else:
        plan.durations.append((f"fee window of {window.human()} passed", window))
        plan.refusal = rule.on_missed
        plan.skip.update(range(1, 100))
        _entry(plan, rule.kind, ref, True, f"no proof of the fee within {window.human()} (it would come after {n})",
               f"the permit is not prepared; the run ends with {rule.on_missed} when the window has passed",
               paidAfter=n)  # fmt: skip


def _pickup(rule: Pickup, ref: str, facts: Facts, plan: Plan) -> None:
    if facts.picked_up is None or plan.refusal is not None:
        return
    if facts.picked_up:
        plan.skip.add(rule.posting_step)
        _entry(plan, rule.kind, ref, True, f"the recipient came for the permit within {rule.timeout.human()}",
               f"the permit is handed over; step {rule.posting_step} (posting) is not taken", pickedUp=True)  # fmt: skip
    else:
        plan.durations += [(f"pickup timeout {rule.timeout.human()}", rule.timeout),
                           (f"hand-over to the office {rule.handover.human()}", rule.handover)]  # fmt: skip
        _entry(plan, rule.kind, ref, True, f"the recipient did not come within {rule.timeout.human()}",
               f"after the timeout the executor hands the permit to the office ({rule.handover.human()}); "
               f"step {rule.posting_step} posts it", pickedUp=False)  # fmt: skip


def _missing(rule: MissingDocuments, ref: str, facts: Facts, plan: Plan) -> None:
    if facts.missing_documents is None and facts.documents_supplied_after is None:
        return
    case = facts.missing_documents or "requested"
    n = facts.documents_supplied_after or 0
    who = "the relevant bodies" if case == "requested" else "the other authorised bodies and organisations"
    plan.durations.append((f"{who} answer after {n} working day(s)", _wd(n)))
    plan.regimes.add(rule.kind)
    why = ("documents are missing: the information is requested from the relevant bodies" if case == "requested"
           else "documents were damaged or lost: the provider decides on the data of other authorised bodies")  # fmt: skip
    _entry(plan, rule.kind, ref, True, f"{why} (answer after {n} working day(s))",
           f"the decision is due within {rule.deadline.human()} of accepting the documents", case=case,
           suppliedAfter=n)  # fmt: skip


def _subflows(rule: SubFlows, ref: str, facts: Facts, plan: Plan) -> None:
    if facts.subflow is None and not facts.extra_checks:
        return
    flow = rule.flow(facts.subflow or rule.default)
    why = [f"sub-flow {flow.id!r}: {flow.en}"]
    if facts.earlier is not None:
        results = [e for e in facts.earlier if e.outcome == "result"]
        if flow.applicant == "first_time" and results:
            why.append(f"not a first-time applicant (earlier result: {_when(results[-1])})")
            if flow.instead is not None:
                flow = rule.flow(flow.instead)
                why.append(f"so sub-flow {flow.id!r} instead: {flow.en}")
        elif flow.applicant == "repeat" and not results:
            why.append("no earlier result of this service for the applicant in the record store (the text names no "
                       "such check; taken as asked)")  # fmt: skip
    plan.durations = [(f"{flow.id}", d) for d in flow.durations]
    effect = f"the step takes {' + '.join(d.human() for d in flow.durations)}"
    if facts.extra_checks and rule.extension is not None:
        plan.durations.append(("extension for extra requests or checks", rule.extension))
        why.append("extra requests or checks are needed")
        effect += f", extended by {rule.extension.human()}"
    _entry(plan, rule.kind, ref, True, "; ".join(why), effect, flow=flow.id, extended=facts.extra_checks)


def subflow_ids(service: Service) -> set[str]:
    """Every sub-flow a step of the service names (to validate a run's ``subflow`` up front)."""
    steps = [s for p in service.procedures for s in p.steps] + [s for c in service.channels for s in c.steps]
    return {f.id for s in steps for r in s.rules if isinstance(r, SubFlows) for f in r.flows}
