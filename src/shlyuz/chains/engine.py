"""The chain engine (sans-IO): steps through one channel of a service definition on the working calendar.

The engine never performs a check or sends a message: it says what it needs next (:class:`NeedChecks`,
:class:`NeedProcess`, :class:`NeedStep`) and the driver (``chains.driver``) answers with what happened. It keeps the
trace: each step with its regulation number, start and end on the simulated clock, the branch taken and the calls
made. Because it is pure, a run is persisted as its answers and resumed by replaying them (:meth:`ChainRun.replay`):
that is how a run waiting for a person's decision continues in whichever worker process receives the decision.

How a channel runs (docs/chains.md has the long form):

- a channel with a ``chain`` walks it from ``start`` (or its first item) along ``next`` / ``if_yes`` / ``if_no``;
  ``end`` finishes with the result — or with the refusal a process on the way formed (``refusal:``) —, ``refusal X``
  finishes with refusal X;
- a condition is yes when all its checks pass. A condition that ``wraps_procedure`` first has its other checks
  evaluated; if they pass, the provider's procedure runs step by step inside it and its decision step answers
  ``human_decision``. Such a condition takes the procedure's time, not its own nominal duration;
- a channel without a chain runs its own step list, or else its procedures, step by step; a refusing decision ends
  the run with that refusal;
- each step ends at ``start + duration`` on :class:`~shlyuz.worktime.WorkingCalendar` (office minutes and hours,
  working days over Kazakh holidays); a decision taken later than that (a real clock) marks the step overdue.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import Any

from shlyuz.chains import rules, timing
from shlyuz.chains.trace import (
    CheckResult,
    Decision,
    Finished,
    Need,
    NeedChecks,
    NeedProcess,
    NeedStep,
    StepResult,
    Trace,
    TraceStep,
)
from shlyuz.services.duration import Duration as SeedDuration
from shlyuz.services.model import ChainItem, Channel, Service, Step
from shlyuz.services.vocab import ChannelId, Check
from shlyuz.worktime import WorkingCalendar

Answer = list[CheckResult] | StepResult
MAX_ITEMS = 500  # a chain that loops longer than this is a definition error, not a long regulation


class ChainError(Exception):
    """The definition cannot be run as written (a loop, a dangling target) or the driver answered out of turn."""


class ChainRun:
    def __init__(
        self,
        service: Service,
        channel: ChannelId | str,
        *,
        calendar: WorkingCalendar,
        started_at: datetime,
        interpretation: timing.Interpretation = timing.Interpretation(),
        procedure: str | None = None,
        facts: rules.Facts = rules.Facts(),
    ) -> None:
        self.service = service
        self.channel: Channel = service.channel(channel)
        if procedure is not None and procedure not in self.channel.procedures:
            raise ChainError(
                f"{service.id}/{self.channel.id.value} has no procedure {procedure!r}; it has {self.channel.procedures}"
            )
        # a channel with several procedures (annex 4's sub-flows) runs one of them: the one asked for, or the first
        self.procedure = procedure or (self.channel.procedures[0] if self.channel.procedures else None)
        self.calendar = calendar
        self.interp = interpretation
        self.now = calendar.next_opening(started_at)
        self.trace = Trace(service=service.id, channel=self.channel.id.value, started_at=self.now, procedure=self.procedure)
        self.answers: list[Answer] = []
        self._path: list[SeedDuration] = []
        self._refusal: dict[str, str] | None = None
        self.facts = facts
        if facts.subflow is not None and facts.subflow not in (known := rules.subflow_ids(service)):
            raise ChainError(f"{service.id} has no sub-flow {facts.subflow!r}" + (f"; it has {sorted(known)}" if known else ""))
        self._skip: set[tuple[str | None, int]] = set()  # (procedure, step number) a rule took off the path
        self._regimes: set[str] = set()
        self._gen = self._program()
        self._need: Need = next(self._gen)

    # -- the public surface ------------------------------------------------------------------------------------
    def next_need(self) -> Need:
        return self._need

    def answer(self, result: Answer) -> Need:
        if isinstance(self._need, Finished):
            raise ChainError("the run has finished; nothing to answer")
        if isinstance(self._need, NeedChecks) != isinstance(result, list):
            raise ChainError(f"{self._need.ref} needs {'check results' if isinstance(self._need, NeedChecks) else 'a step result'}")
        self.answers.append(result)
        self._need = self._gen.send(result)
        return self._need

    @classmethod
    def replay(cls, service: Service, channel: str, *, calendar: WorkingCalendar, started_at: datetime,
               answers: list[Answer], interpretation: timing.Interpretation = timing.Interpretation(),
               procedure: str | None = None, facts: rules.Facts = rules.Facts()) -> "ChainRun":  # fmt: skip
        run = cls(service, channel, calendar=calendar, started_at=started_at, interpretation=interpretation,
                  procedure=procedure, facts=facts)  # fmt: skip
        for result in answers:
            run.answer(result)
        return run

    # -- the program ---------------------------------------------------------------------------------------------
    def _program(self) -> Generator[Need, Any, None]:
        if self.channel.chain:
            yield from self._walk_chain()
        else:
            procedure = None if self.channel.steps else self.procedure
            steps = self.channel.steps or (self.service.procedure(procedure).steps if procedure else [])
            for step in steps:
                decision = yield from self._step(step, procedure)
                if decision is not None and not decision.approve:
                    self._refuse(decision)
                    break
        self._finish()
        yield Finished(self.trace)

    def _walk_chain(self) -> Generator[Need, Any, None]:
        target = self.channel.start or _ref(self.channel.chain[0])
        for _ in range(MAX_ITEMS):
            if target == "end":
                return
            if target.startswith("refusal "):
                code = target.split(" ", 1)[1]
                self._refusal = {"code": code, "text": self._refusal_text(code)}
                return
            item = self.channel.find(target) if not target.startswith("item ") else self._unnumbered(target)
            if item is None:
                raise ChainError(f"{self.service.id}/{self.channel.id.value}: no {target!r} in the chain")
            if item.kind == "condition":
                target = yield from self._condition(item)
            else:
                target = yield from self._process(item)
        raise ChainError(f"{self.service.id}/{self.channel.id.value}: more than {MAX_ITEMS} items; the chain loops")

    def _unnumbered(self, target: str) -> ChainItem | None:
        n = int(target.split(" ", 1)[1])
        return next((c for c in self.channel.chain if c.item == n), None)

    def _process(self, item: ChainItem) -> Generator[Need, Any, str]:
        started = self.now
        result: StepResult = yield NeedProcess(_ref(item), item)
        step = self._record(item, started, item.duration, calls=result.calls)
        if result.result_document:
            self.trace.result_document = result.result_document
        if item.refusal is not None and self._refusal is None:
            self._refusal = {"code": item.refusal, "text": self._refusal_text(item.refusal)}
            step.notes.append(f"forms the refusal {item.refusal}")
        assert item.next is not None
        return item.next

    def _condition(self, item: ChainItem) -> Generator[Need, Any, str]:
        started, position = self.now, len(self.trace.steps)
        asked = tuple(c for c in item.checks if c is not Check.HUMAN_DECISION)
        results: list[CheckResult] = (yield NeedChecks(_ref(item), item, asked)) if asked else []
        by_check = {r.check: r for r in results}
        missing = [c.value for c in asked if c not in by_check]
        if missing:
            raise ChainError(f"{_ref(item)}: no result for {', '.join(missing)}")
        ok = all(r.ok for r in results)
        decision: Decision | None = None
        inner_started = self.now
        wraps = item.wraps_procedure
        if wraps is not None and wraps in self.channel.procedures and self.procedure is not None:
            wraps = self.procedure  # the sub-flow this run was asked for
        if ok and wraps is not None:
            # the provider's procedure runs inside this condition; its decision step answers human_decision
            for step in self.service.procedure(wraps).steps:
                decision = (yield from self._step(step, wraps)) or decision
        elif ok and Check.HUMAN_DECISION in item.checks:
            decision = (yield NeedStep(_ref(item), _as_step(item), None, True)).decision
            if decision is not None and not decision.approve and decision.ground is None:
                target = self.channel.find(item.if_no or "")
                decision.ground = target.refusal if target is not None and target.refusal else self._ground_for(None, None)
        if decision is not None:
            ok = decision.approve
        checks = {r.check.value: r.ok for r in results}
        if decision is not None and Check.HUMAN_DECISION in item.checks:
            checks[Check.HUMAN_DECISION.value] = decision.approve
        wrapped = wraps is not None and self.now > inner_started
        record = self._record(
            item, started, item.duration, branch="yes" if ok else "no", checks=checks,
            calls=[c for r in results for c in r.calls], count_duration=not wrapped,
        )  # fmt: skip
        if wrapped:  # shown before the procedure's steps it wraps, where it started
            self.trace.steps.insert(position, self.trace.steps.pop())
        if wrapped:
            record.notes.append(f"takes the time of procedure {wraps!r} it wraps, not its nominal {item.duration.short()}")
        for r in results:
            if r.detail:
                record.notes.append(f"{r.check.value}: {r.detail}")
        if decision is not None and not decision.approve and self._refusal is None:
            self._refuse(decision)
        assert item.if_yes is not None and item.if_no is not None
        return item.if_yes if ok else item.if_no

    def _step(self, step: Step, procedure: str | None) -> Generator[Need, Any, Decision | None]:
        if (procedure, step.number) in self._skip:
            return None
        started = self.now
        ref = f"procedure {procedure} step {step.number}" if procedure else f"step {step.number}"
        plan = rules.plan_step(step, ref, self.facts, self.trace.started_at)
        result: StepResult = yield NeedStep(ref, step, procedure, step.decision)
        decision = result.decision if step.decision else None
        if decision is not None and not decision.approve and decision.ground is None:
            decision.ground = self._ground_for(procedure, step.number)
        record = self._record_step(step, ref, started, result, decision, plan)
        if result.result_document:
            self.trace.result_document = result.result_document
        if decision is not None:
            record.branch = "approve" if decision.approve else "refuse"
        self._skip |= {(procedure, n) for n in plan.skip if n > step.number}
        self._regimes |= plan.regimes
        self.trace.rules += plan.applied
        if plan.refusal is not None and (decision is None or decision.approve):
            # a rule ends the run (annex 4: no proof of the fee in time) like a refusing decision would
            return Decision(approve=False, ground=plan.refusal, reason=self._refusal_text(plan.refusal), decided_by="rule")
        return decision

    # -- bookkeeping ---------------------------------------------------------------------------------------------
    def _record(self, item: ChainItem, started: datetime, duration: SeedDuration, *, branch: str | None = None,
                checks: dict[str, bool] | None = None, calls: list | None = None, count_duration: bool = True) -> TraceStep:  # fmt: skip
        if count_duration:
            self.now = timing.end_of(self.calendar, self.now, duration, self.interp)
            self._path.append(duration)
        step = TraceStep(
            ref=_ref(item), kind=item.kind, number=item.number, text=item.en, actor=None,
            systems=[s.value for s in item.systems], duration=duration.short(), started_at=started,
            ended_at=self.now, branch=branch, checks=checks or {}, calls=list(calls or []), inferred=item.inferred,
        )  # fmt: skip
        note = timing.reading(duration, self.interp)
        if note and count_duration:
            step.notes.append(note)
        self.trace.steps.append(step)
        return step

    def _record_step(self, step: Step, ref: str, started: datetime, result: StepResult, decision: Decision | None,
                     plan: rules.Plan) -> TraceStep:  # fmt: skip
        durations = [d for _, d in plan.durations]
        planned = timing.end_of_all(self.calendar, self.now, durations, self.interp)
        actual = decision.at if decision is not None and decision.at is not None else None
        self.now = max(planned, actual) if actual is not None else planned
        self._path += durations
        rec = TraceStep(
            ref=ref, kind="step", number=step.number, text=step.action, actor=step.actor.value, systems=[],
            duration=" + ".join(d.short() for d in durations), started_at=started, ended_at=self.now,
            calls=list(result.calls), inferred=step.inferred, overdue=actual is not None and actual > planned,
        )  # fmt: skip
        for note in dict.fromkeys(n for d in durations if (n := timing.reading(d, self.interp))):
            rec.notes.append(note)
        rec.notes += plan.notes
        self.trace.steps.append(rec)
        return rec

    def _refuse(self, decision: Decision) -> None:
        code = decision.ground or self._ground_for(None, None)
        self._refusal = {"code": code, "text": decision.reason or self._refusal_text(code)}

    def _refusal_text(self, code: str) -> str:
        return next((r.en for r in self.service.refusals if r.code == code), code)

    def _ground_for(self, procedure: str | None, number: int | None) -> str:
        """The refusal ground a decision step refuses with by default (:meth:`Service.default_refusal`)."""
        return self.service.default_refusal(procedure, number)

    def _finish(self) -> None:
        t = self.trace
        t.status = "done"
        t.ended_at = self.now
        t.outcome = "refusal" if self._refusal else "result"
        t.refusal = self._refusal
        t.regulation_total = timing.total(self._path, self.interp)
        t.working_days = round(self.calendar.working_days_between(t.started_at, self.now), 4)
        t.overdue = any(s.overdue for s in t.steps)
        mine = [d for d in self.service.deadlines
                if d.channel is self.channel.id and (d.procedure is None or d.procedure == self.procedure)]  # fmt: skip
        regime_on = any(d.regime in self._regimes for d in mine)
        for d in mine:
            # a rule's regime deadline applies when its rule applied, and then replaces the others
            applies = d.regime in self._regimes if d.regime is not None else not regime_on
            limit = timing.end_of_all(self.calendar, t.started_at, d.total, self.interp)
            met = self.now <= limit
            t.deadlines.append({
                "total": " + ".join(x.short() for x in d.total), "basis": d.basis, "procedure": d.procedure,
                "due": limit.isoformat(), "met": met, "applies": applies, "regime": d.regime, "note": d.note,
            })  # fmt: skip
            if d.basis == "stated" and not met and applies:
                t.overdue = True


def _ref(item: ChainItem) -> str:
    return item.label if item.number is not None else f"item {item.item}"


def _as_step(item: ChainItem) -> Step:
    from shlyuz.services.vocab import Actor

    return Step(number=item.number or item.item, actor=Actor.SPECIALIST, action=item.en, duration=item.duration, decision=True)
