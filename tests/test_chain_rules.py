"""Rules with memory or a timer (chains/rules.py), each both ways: annex 1's repeat application within a calendar
year, annex 4's fee window and pickup-or-posting, annex 6's 20-working-day regime, annex 7's sub-flows. The engine is
driven directly (sans-IO, all decisions approved); the memory is exercised through the driver and the record store."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import yaml

from shlyuz.chains import timing
from shlyuz.chains.driver import ChainDriver, RunOptions
from shlyuz.chains.engine import ChainError, ChainRun
from shlyuz.chains.rules import EarlierRun, Facts
from shlyuz.chains.trace import (
    CheckResult,
    Decision,
    Finished,
    NeedChecks,
    NeedStep,
    StepResult,
)
from shlyuz.clock import KZ
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.services.duration import Duration
from shlyuz.services.loader import ServiceDefinitionError, parse_service
from shlyuz.services.model import Service
from shlyuz.worktime import WorkingCalendar

SERVICES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "services"
SERVICES = {p.stem: Service.model_validate(yaml.safe_load(p.read_text(encoding="utf-8"))) for p in SERVICES_DIR.glob("*.yaml")}
CAL = WorkingCalendar()
START = datetime(2026, 1, 15, 10, 0, tzinfo=KZ)
APPLICANT = DEMO_IINS["applicant"]


def run(service: str, channel: str, facts: Facts | None = None, procedure: str | None = None):
    r = ChainRun(SERVICES[service], channel, calendar=CAL, started_at=START, procedure=procedure, facts=facts or Facts())
    need = r.next_need()
    while not isinstance(need, Finished):
        if isinstance(need, NeedChecks):
            need = r.answer([CheckResult(c, True) for c in need.checks])
        elif isinstance(need, NeedStep) and need.decision:
            need = r.answer(StepResult(decision=Decision(approve=True)))
        else:
            need = r.answer(StepResult())
    return need.trace


def wd(start: datetime, n: int) -> datetime:
    return timing.end_of(CAL, start, Duration(value=n, unit="working_days"))


def step(trace, ref):
    return next(s for s in trace.steps if s.ref == ref)


def earlier(day: str, outcome: str | None = "result") -> EarlierRun:
    return EarlierRun("RUN-000001", datetime.fromisoformat(f"{day}T10:00:00+05:00"), outcome, "provider")


# -- annex 1: repeat application within a calendar year -----------------------------------------------------------
def test_first_application_in_the_year_is_inspected():
    trace = run("child-allowance", "provider", Facts(earlier=(earlier("2025-11-03"),)))
    [rule] = trace.rules
    assert rule["kind"] == "repeat_application" and rule["ref"] == "procedure main step 4"
    assert rule["inspection"] is True and rule["applied"] is False and "first application in calendar year 2026" in rule["why"]
    assert any("draws up an act" in n for n in step(trace, "procedure main step 4").notes)


def test_repeat_application_without_change_is_not_inspected_again_and_keeps_its_time():
    first = run("child-allowance", "provider", Facts(earlier=()))
    repeat = run("child-allowance", "provider", Facts(earlier=(earlier("2026-01-05"),)))
    [rule] = repeat.rules
    assert rule["applied"] is True and rule["inspection"] is False and rule["earlier"] == ["RUN-000001"]
    assert "no new inspection" in rule["effect"]
    # the text gives the commission the same 3 working days either way
    assert repeat.ended_at == first.ended_at and repeat.regulation_total == first.regulation_total


@pytest.mark.parametrize("change", ["residence", "family", "income"])
def test_repeat_application_with_a_change_is_inspected_again(change):
    trace = run("child-allowance", "state-corp", Facts(earlier=(earlier("2026-01-05"),), changes=frozenset({change})))
    [rule] = trace.rules
    assert rule["ref"] == "procedure main step 4" and rule["inspection"] is True and rule["changes"] == [change]


def test_a_bare_engine_run_consults_no_memory():
    assert run("child-allowance", "provider").rules == []


# -- annex 4: fee window, pickup, posting -------------------------------------------------------------------------
def test_fee_within_the_window_waits_for_the_proof():
    plain = run("foreign-labour-permits", "provider", procedure="issue")
    paid = run("foreign-labour-permits", "provider", Facts(fee_paid_after=4), procedure="issue")
    s13 = step(paid, "procedure issue step 13")
    assert s13.duration == "1 working_days + 4 working_days"
    assert s13.ended_at == wd(step(plain, "procedure issue step 13").ended_at, 4)
    assert paid.outcome == "result" and paid.refs()[-1] == "procedure issue step 14"
    assert paid.regulation_total["working_days"] == plain.regulation_total["working_days"] + 4


def test_fee_not_paid_in_the_window_ends_with_the_inferred_refusal_after_ten_working_days():
    plain = run("foreign-labour-permits", "provider", procedure="issue")
    late = run("foreign-labour-permits", "provider", Facts(fee_paid_after=11, picked_up=False), procedure="issue")
    assert late.outcome == "refusal" and late.refusal["code"] == "R_FEE_NOT_PAID"
    assert "procedure issue step 14" not in late.refs()  # nothing to post
    assert late.ended_at == wd(step(plain, "procedure issue step 13").ended_at, 10)
    assert [r["kind"] for r in late.rules] == ["fee_window"]  # pickup does not apply to a permit never prepared


@pytest.mark.parametrize("procedure,last,posting", [("issue", 13, 14), ("extend", 9, 10), ("ict", 12, 13)])
def test_picked_up_permit_is_not_posted(procedure, last, posting):
    plain = run("foreign-labour-permits", "provider", procedure=procedure)
    came = run("foreign-labour-permits", "provider", Facts(picked_up=True), procedure=procedure)
    assert came.refs() == [r for r in plain.refs() if r != f"procedure {procedure} step {posting}"]
    assert came.ended_at == step(plain, f"procedure {procedure} step {last}").ended_at
    assert came.rules[0]["pickedUp"] is True


@pytest.mark.parametrize("procedure,last,posting", [("issue", 13, 14), ("extend", 9, 10), ("ict", 12, 13)])
def test_permit_not_collected_waits_the_timeout_then_hand_over_then_posting(procedure, last, posting):
    plain = run("foreign-labour-permits", "provider", procedure=procedure)
    left = run("foreign-labour-permits", "provider", Facts(picked_up=False), procedure=procedure)
    assert left.refs() == plain.refs()
    s = step(left, f"procedure {procedure} step {last}")
    rule = SERVICES["foreign-labour-permits"].procedure(procedure).steps[last - 1].rules[-1]
    expected = timing.end_of_all(CAL, step(plain, f"procedure {procedure} step {last}").ended_at, [rule.timeout, rule.handover])
    assert s.ended_at == expected
    post = step(left, f"procedure {procedure} step {posting}")
    assert post.ended_at == wd(expected, 1)


# -- annex 6: 20-working-day regime when documents are missing ----------------------------------------------------
def _deadline(trace, regime):
    return next(d for d in trace.deadlines if d["regime"] == regime)


def test_normal_regime_checks_the_computed_deadline_only():
    trace = run("local-social-assistance", "provider")
    assert _deadline(trace, None)["applies"] is True and _deadline(trace, "missing_documents")["applies"] is False
    assert trace.rules == []


@pytest.mark.parametrize("case", ["requested", "lost"])
def test_missing_documents_switch_to_the_20_working_day_regime(case):
    plain = run("local-social-assistance", "provider")
    trace = run("local-social-assistance", "provider", Facts(missing_documents=case, documents_supplied_after=6))
    s3 = step(trace, "procedure main step 3")
    assert s3.ended_at == wd(step(plain, "procedure main step 3").ended_at, 6)
    regime, normal = _deadline(trace, "missing_documents"), _deadline(trace, None)
    assert regime["applies"] is True and normal["applies"] is False
    assert regime["met"] is True and normal["met"] is False and trace.overdue is False
    assert trace.rules[0]["case"] == case


def test_missing_documents_answered_too_late_miss_the_20_working_days():
    trace = run("local-social-assistance", "provider", Facts(documents_supplied_after=15))
    assert _deadline(trace, "missing_documents")["met"] is False and trace.overdue is True


# -- annex 7: Semey sub-flows -------------------------------------------------------------------------------------
def _days(trace, ref):
    return step(trace, ref).duration


def test_semey_default_is_the_recognition_decision_as_written():
    assert _days(run("semey-test-site-victims", "provider"), "procedure main step 4") == "20 days_unspecified"
    assert _days(run("semey-test-site-victims", "provider", Facts(subflow="recognition")), "procedure main step 4") == "20 days_unspecified"


@pytest.mark.parametrize("flow,duration", [
    ("certificate", "20 days_unspecified + 5 days_unspecified"),
    ("duplicate", "5 days_unspecified"),
    ("compensation", "not_stated"),
])  # fmt: skip
def test_semey_sub_flows_take_their_own_terms(flow, duration):
    trace = run("semey-test-site-victims", "state-corp", Facts(subflow=flow, earlier=()))
    assert _days(trace, "step 6") == duration
    assert trace.rules[0]["flow"] == flow


def test_semey_extension_adds_one_month():
    plain = run("semey-test-site-victims", "provider")
    ext = run("semey-test-site-victims", "provider", Facts(extra_checks=True))
    s4 = step(ext, "procedure main step 4")
    assert s4.duration == "20 days_unspecified + 1 months"
    assert s4.ended_at == timing.end_of(CAL, step(plain, "procedure main step 4").ended_at, Duration(value=1, unit="months"))


def test_semey_certificate_for_an_applicant_who_has_one_is_a_duplicate():
    trace = run("semey-test-site-victims", "provider", Facts(subflow="certificate", earlier=(earlier("2024-03-01"),)))
    assert trace.rules[0]["flow"] == "duplicate" and "not a first-time applicant" in trace.rules[0]["why"]
    # an earlier refusal does not make a certificate holder
    trace = run("semey-test-site-victims", "provider", Facts(subflow="certificate", earlier=(earlier("2024-03-01", "refusal"),)))
    assert trace.rules[0]["flow"] == "certificate"


def test_unknown_sub_flow_is_refused_up_front():
    with pytest.raises(ChainError, match="no sub-flow 'pension'"):
        run("semey-test-site-victims", "provider", Facts(subflow="pension"))
    with pytest.raises(ChainError, match="no sub-flow"):
        run("child-allowance", "provider", Facts(subflow="duplicate"))


# -- the rules are validated data ---------------------------------------------------------------------------------
def _mutated(service: str, edit) -> bytes:
    data = yaml.safe_load((SERVICES_DIR / f"{service}.yaml").read_text(encoding="utf-8"))
    edit(data)
    return yaml.safe_dump(data, allow_unicode=True).encode()


@pytest.mark.parametrize("service,edit,path,message", [
    ("foreign-labour-permits", lambda d: d["procedures"][0]["steps"][12]["rules"][1].update(posting_step=3),
     "procedures[0].steps[12].rules[1].posting_step", "not a later step"),
    ("foreign-labour-permits", lambda d: d["procedures"][0]["steps"][12]["rules"][0].update(on_missed="R_NOPE"),
     "procedures[0].steps[12].rules[0].on_missed", "unknown refusal"),
    ("child-allowance", lambda d: d["procedures"][0]["steps"][3]["rules"][0].update(kind="magic"),
     "procedures[0].steps[3].rules[0]", "magic"),
    ("child-allowance", lambda d: d["procedures"][0]["steps"][3]["rules"][0].update(reinspect_on=["weather"]),
     "procedures[0].steps[3].rules[0].repeat_application.reinspect_on[0]", "residence"),
    ("child-allowance", lambda d: d["deadlines"][0].update(regime="fee_window"), "deadlines[0].regime", "no step"),
    ("semey-test-site-victims", lambda d: d["procedures"][0]["steps"][3]["rules"][0].update(default="other"),
     "procedures[0].steps[3].rules[0].subflows", "unknown sub-flow 'other'"),
])  # fmt: skip
def test_bad_rules_are_named(service, edit, path, message):
    with pytest.raises(ServiceDefinitionError) as exc:
        parse_service(_mutated(service, edit), f"{service}.yaml")
    assert exc.value.path.startswith(path) and message in exc.value.problem, (exc.value.path, exc.value.problem)


# -- memory: the driver looks up the applicant's earlier runs in the record store ---------------------------------
@pytest.fixture
def driver(shep):
    return ChainDriver(shep.gateway, SERVICES)


async def test_driver_remembers_earlier_applications_in_the_same_scope(driver):
    opts = RunOptions(channel="provider", applicant=APPLICANT)
    first = await driver.start("child-allowance", opts)
    again = await driver.start("child-allowance", opts)
    changed = await driver.start("child-allowance", opts.model_copy(update={"changes": ["family"]}))
    other_scope = await driver.start("child-allowance", opts, scope="elsewhere")
    assert first["memory"] == [] and first["trace"]["rules"][0]["inspection"] is True
    assert [m["id"] for m in again["memory"]] == [first["id"]]
    assert again["trace"]["rules"][0]["inspection"] is False
    assert changed["trace"]["rules"][0]["inspection"] is True and len(changed["memory"]) == 2
    assert other_scope["memory"] == [] and other_scope["trace"]["rules"][0]["applied"] is False


async def test_driver_semey_second_certificate_becomes_a_duplicate_and_waits_resume_with_the_same_memory(driver):
    opts = RunOptions(channel="provider", applicant=APPLICANT, subflow="certificate")
    first = await driver.start("semey-test-site-victims", opts)
    assert first["trace"]["outcome"] == "result" and first["trace"]["rules"][0]["flow"] == "certificate"
    waiting = await driver.start("semey-test-site-victims", opts.model_copy(update={"decide": "wait"}))
    assert waiting["status"] == "waiting"
    from shlyuz.chains.driver import DecisionIn

    done = await driver.decide(waiting["id"], DecisionIn(approve=True))
    assert done["trace"]["rules"][0]["flow"] == "duplicate"
    assert _days_json(done, "procedure main step 4") == "5 days_unspecified"


def _days_json(record, ref):
    return next(s for s in record["trace"]["steps"] if s["ref"] == ref)["duration"]


async def test_driver_refuses_an_unknown_sub_flow(driver):
    with pytest.raises(ShlyuzError) as exc:
        await driver.start("semey-test-site-victims", RunOptions(channel="provider", applicant=APPLICANT, subflow="pension"))
    assert exc.value.code is ErrorCode.INVALID_PARAMETER
