"""The chain engine, sans-IO: every channel of every service definition, every condition both ways, every decision
step approved and refused. The test finds the branches from the definitions itself and checks each trace against
them: step references are the regulation's numbers, the simulated end is the regulation's durations on the path
taken, one after another on the Kazakh working calendar, and the outcome is the branch's."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from shlyuz.chains import timing
from shlyuz.chains.engine import ChainError, ChainRun
from shlyuz.chains.trace import CheckResult, Decision, Finished, NeedChecks, NeedProcess, NeedStep, StepResult
from shlyuz.clock import KZ
from shlyuz.services.model import Service
from shlyuz.services.vocab import Check
from shlyuz.worktime import WorkingCalendar

SERVICES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "services"
CAL = WorkingCalendar()
START = datetime(2026, 1, 15, 10, 0, tzinfo=KZ)  # a Thursday, in office hours


def load(path: Path) -> Service:
    return Service.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


SERVICES = {p.stem: load(p) for p in sorted(SERVICES_DIR.glob("*.yaml"))}


@dataclass
class Script:
    """How the fake driver answers: which condition fails (by ref), which decision refuses (by ref)."""

    fail_condition: str | None = None
    refuse_at: str | None = None
    asked: list[str] = field(default_factory=list)
    decisions_seen: list[str] = field(default_factory=list)


def drive(run: ChainRun, script: Script):
    need = run.next_need()
    while not isinstance(need, Finished):
        script.asked.append(need.ref)
        if isinstance(need, NeedChecks):
            need = run.answer([CheckResult(c, need.ref != script.fail_condition) for c in need.checks])
        elif isinstance(need, NeedStep):
            decision = None
            if need.decision:
                script.decisions_seen.append(need.ref)
                decision = Decision(approve=need.ref != script.refuse_at)
            need = run.answer(StepResult(decision=decision))
        else:
            assert isinstance(need, NeedProcess)
            need = run.answer(StepResult())
    return need.trace


def cases():
    """(service, channel, procedure, script) for every branch the definitions have."""
    out = []
    for sid, svc in SERVICES.items():
        for ch in svc.channels:
            for proc in ch.procedures or [None]:
                base = dict(service=sid, channel=ch.id.value, procedure=proc)
                out.append(pytest.param(base, Script(), id=f"{sid}-{ch.id.value}-{proc}-all-yes"))
                for item in ch.chain:
                    if item.kind == "condition" and any(c is not Check.HUMAN_DECISION for c in item.checks):
                        out.append(pytest.param(base, Script(fail_condition=item.label), id=f"{sid}-{ch.id.value}-{proc}-{item.label}-no"))
                # every decision point the all-yes run reaches, refused in turn
                probe = Script()
                drive(ChainRun(svc, ch.id.value, calendar=CAL, started_at=START, procedure=proc), probe)
                for ref in probe.decisions_seen:
                    out.append(pytest.param(base, Script(refuse_at=ref), id=f"{sid}-{ch.id.value}-{proc}-{ref}-refused"))
    return out


def known_refs(svc: Service, channel: str) -> set[str]:
    ch = svc.channel(channel)
    refs = {c.label if c.number is not None else f"item {c.item}" for c in ch.chain}
    refs |= {f"step {s.number}" for s in ch.steps}
    refs |= {f"procedure {p.id} step {s.number}" for p in svc.procedures for s in p.steps}
    return refs


@pytest.mark.parametrize("base,script", cases())
def test_every_branch(base, script):
    svc = SERVICES[base["service"]]
    run = ChainRun(svc, base["channel"], calendar=CAL, started_at=START, procedure=base["procedure"])
    trace = drive(run, script)

    # the steps are the regulation's own numbers
    refs = trace.refs()
    assert refs and set(refs) <= known_refs(svc, base["channel"]), set(refs) - known_refs(svc, base["channel"])

    # the simulated end is the regulation's durations on the path, one after another
    durations = []
    ch = svc.channel(base["channel"])
    for step in trace.steps:
        if step.ref.startswith("procedure "):
            _, pid, _, n = step.ref.split(" ")
            durations.append(next(s for s in svc.procedure(pid).steps if s.number == int(n)).duration)
        elif step.ref.startswith("step "):
            durations.append(next(s for s in ch.steps if s.number == int(step.ref.split(" ")[1])).duration)
        else:
            item = ch.find(step.ref) if not step.ref.startswith("item ") else ch.chain[int(step.ref.split(" ")[1]) - 1]
            wrapped = any(n.startswith("takes the time of procedure") for n in step.notes)
            if not wrapped:
                durations.append(item.duration)
    assert trace.ended_at == timing.end_of_all(CAL, trace.started_at, durations)
    assert trace.regulation_total == timing.total(durations)
    assert all(a.ended_at <= b.ended_at for a, b in zip(trace.steps, trace.steps[1:]) if a.kind != "condition")

    # the branch taken is the one asked for, and the outcome follows from it
    if script.fail_condition:
        step = next(s for s in trace.steps if s.ref == script.fail_condition)
        assert step.branch == "no" and not all(step.checks.values())
    if script.refuse_at:
        assert trace.outcome == "refusal", trace.refs()
        # a definition that lists no refusal ground still refuses, with the engine's generic REFUSED
        assert trace.refusal["code"] in ({r.code for r in svc.refusals} or {"REFUSED"})
    if not script.fail_condition and not script.refuse_at:
        assert trace.outcome == "result", (trace.refusal, refs)
        assert trace.refusal is None
    assert trace.status == "done"


def test_child_allowance_provider_channel_is_seven_working_days_and_thirty_minutes():
    svc = SERVICES["child-allowance"]
    trace = drive(ChainRun(svc, "provider", calendar=CAL, started_at=START), Script())
    assert trace.refs() == [f"procedure main step {n}" for n in range(1, 6)]
    assert trace.regulation_total == {"minutes": 30, "working_days": 7}
    stated = next(d for d in svc.deadlines if d.channel.value == "provider")
    assert trace.regulation_total == timing.total(stated.total)
    # 15 Jan 2026 10:00 + 20 + 10 minutes, then 2 + 3 + 2 working days → Monday 26 January 10:30
    assert trace.ended_at == datetime(2026, 1, 26, 10, 30, tzinfo=KZ)
    assert trace.deadlines[0]["met"] is True


def test_child_allowance_state_corp_refusal_path_and_wrapped_procedure():
    svc = SERVICES["child-allowance"]
    script = Script(refuse_at="procedure main step 5")
    trace = drive(ChainRun(svc, "state-corp", calendar=CAL, started_at=START), script)
    refs = trace.refs()
    # condition 2 wraps the provider's procedure: shown where it starts, the procedure inside, then the refusal letter
    i = refs.index("condition 2")
    assert refs[i + 1 : i + 6] == [f"procedure main step {n}" for n in range(1, 6)]
    assert refs[i + 6 :] == ["process 7", "process 8"]
    cond = trace.steps[i]
    assert cond.branch == "no" and cond.checks == {"documents_complete": True, "human_decision": False}
    assert trace.refusal["code"] == "R_DECISION"


def test_condition_no_leads_to_its_refusal():
    svc = SERVICES["child-allowance"]
    trace = drive(ChainRun(svc, "state-corp", calendar=CAL, started_at=START), Script(fail_condition="condition 1"))
    assert trace.refs()[-2:] == ["condition 1", "process 4"]
    assert trace.refusal["code"] == "R_DATA_UNAVAILABLE" and trace.outcome == "refusal"


def test_replay_reproduces_a_run_from_its_answers():
    svc = SERVICES["child-allowance"]
    run = ChainRun(svc, "state-corp", calendar=CAL, started_at=START)
    drive(run, Script(refuse_at="procedure main step 5"))
    again = ChainRun.replay(svc, "state-corp", calendar=CAL, started_at=START, answers=run.answers)
    assert isinstance(again.next_need(), Finished)
    assert again.trace.to_json() == run.trace.to_json()


def test_a_late_decision_marks_the_step_overdue():
    svc = SERVICES["child-allowance"]
    run = ChainRun(svc, "provider", calendar=CAL, started_at=START)
    need = run.next_need()
    while not (isinstance(need, NeedStep) and need.decision):
        need = run.answer(StepResult())
    late = datetime(2026, 2, 20, 11, 0, tzinfo=KZ)
    need = run.answer(StepResult(decision=Decision(approve=True, at=late)))
    trace = need.trace
    assert trace.steps[-1].overdue and trace.overdue and trace.ended_at == late
    assert trace.deadlines[0]["met"] is False


def test_answers_out_of_turn_are_refused():
    svc = SERVICES["child-allowance"]
    run = ChainRun(svc, "state-corp", calendar=CAL, started_at=START)
    with pytest.raises(ChainError, match="needs a step result"):
        run.answer([CheckResult(Check.GBDFL_PERSON_FOUND, True)])
    with pytest.raises(ChainError, match="no procedure"):
        ChainRun(svc, "provider", calendar=CAL, started_at=START, procedure="nope")
