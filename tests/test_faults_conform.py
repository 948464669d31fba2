"""Fault injection in conformance scenarios: the step fields (``faults``, ``timeout``), the expectations for replies
that never come or are not XML, the shipped conformance/faults suite (green, every kind exercised), and the
scenario JSON Schema kept in step with the model."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from pydantic import ValidationError
from test_conform import run_against

from shlyuz.conform import asserts
from shlyuz.conform.loader import Loaded, discover
from shlyuz.conform.model import Expect, Scenario, Step
from shlyuz.conform.schema import check_schema, export_schema, schema_path
from shlyuz.faults.model import KINDS

ROOT = Path(__file__).resolve().parent.parent
FAULTS = ROOT / "conformance" / "faults"
GBDFL = {"service": "GBDFL_UniversalServiceSync",
         "payload": '<m:Request xmlns:m="http://message.persistence.interactive.nat"><iin>900101300017</iin></m:Request>'}  # fmt: skip


def test_expect_transport_excludes_every_other_expectation():
    assert Expect(transport="reset").transport == "reset"
    with pytest.raises(ValidationError, match="excludes every other"):
        Expect(transport="reset", http=200)
    with pytest.raises(ValidationError, match="excludes every other"):
        Expect.model_validate({"transport": "timeout", "malformed": True})
    with pytest.raises(ValidationError, match="nothing can be captured"):
        Step.model_validate({"name": "s", "shep": GBDFL, "expect": {"transport": "reset"}, "capture": {"x": {"header": "A"}}})


def test_a_step_is_an_action_or_faults_alone():
    assert Step.model_validate({"name": "s", "faults": [{"fault": {"kind": "reset"}}]}).action == "faults"
    assert Step.model_validate({"name": "s", "shep": GBDFL, "faults": [{"fault": {"kind": "reset"}}]}).action == "shep"
    with pytest.raises(ValidationError, match="exactly one of"):
        Step.model_validate({"name": "s"})
    with pytest.raises(ValidationError, match="needs the rule's latency"):
        Step.model_validate({"name": "s", "faults": [{"fault": {"kind": "latency"}}]})
    with pytest.raises(ValidationError):
        Step.model_validate({"name": "s", "shep": GBDFL, "timeout": 0})


def test_malformed_and_transport_checks():
    xml = asserts.Response(200, {}, b"<a/>")
    cut = asserts.Response(200, {}, b"<a><b>")
    assert asserts.check(cut, Expect(malformed=True)) == []
    assert asserts.check(xml, Expect(malformed=False)) == []
    assert asserts.check(xml, Expect(malformed=True))[0].startswith("expected the body not to be well-formed XML")
    assert asserts.check_transport("reset", "reset", "x") == []
    assert asserts.check_transport("timeout", "reset", "ClientOSError") == [
        "expected the step's timeout to pass, got the connection closed unanswered (ClientOSError)"]
    assert asserts.check_transport("reset", None, "HTTP 200") == [
        "expected the connection closed or reset unanswered, got a reply (HTTP 200)"]


def test_the_scenario_schema_is_up_to_date():
    """schemas/conform/scenario.schema.json: regenerate with python -m shlyuz.conform.schema."""
    assert schema_path() == ROOT / "schemas" / "conform" / "scenario.schema.json"
    assert check_schema(), "regenerate with: python -m shlyuz.conform.schema"


def test_the_fault_scenarios_validate_against_the_schema():
    validator = jsonschema.Draft202012Validator(export_schema())
    for path in sorted(FAULTS.glob("*.yaml")):
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
        assert not errors, (path.name, [e.message for e in errors[:3]])
    bad = {"name": "x", "steps": [{"name": "s", "faults": [{"fault": {"kind": "meteor"}}]}]}
    assert list(validator.iter_errors(bad))


def test_every_fault_kind_is_exercised_by_the_shipped_suite():
    kinds = set()
    for item in discover([FAULTS]):
        for step in item.scenario.steps:
            kinds |= {rule.fault.kind for rule in step.faults or []}
    assert kinds == set(KINDS)
    assert len(discover([FAULTS])) >= 25


async def test_the_fault_suite_is_green_in_parallel(shep):
    items = discover([FAULTS])
    outcomes = await run_against(shep, items)
    failed = [(o.id, s.name, s.failures) for o in outcomes for s in o.steps if not s.ok]
    assert not failed, failed[:5]
    # a scenario whose rules are all step-local ends with none: each was deleted after its step
    step_local = {i.id for i in items if not any(s.action in ("faults", "http") for s in i.scenario.steps)}
    assert len(step_local) >= 15
    for o in outcomes:
        if o.id in step_local:
            r = await shep.client.get("/__admin/faults", headers={"X-Shlyuz-Scope": o.scope})
            assert (await r.json())["rules"] == [], o.id


async def test_a_step_without_the_expected_reset_fails_and_says_why(shep):
    sc = Scenario.model_validate({"name": "x", "steps": [
        {"name": "reset", "faults": [{"fault": {"kind": "reset"}}], "shep": GBDFL, "expect": {"status": "SCSS001"}},
    ]})  # fmt: skip
    [out] = await run_against(shep, [Loaded(sc, FAULTS / "x.yaml")])
    assert not out.ok
    assert out.steps[0].failures[0].startswith(("no answer from", "ServerDisconnectedError")), out.steps[0].failures
    # the step's rule was removed even though the step failed
    r = await shep.client.get("/__admin/faults", headers={"X-Shlyuz-Scope": out.scope})
    assert json.loads(await r.text())["rules"] == []


async def test_the_report_names_the_rules_of_a_step_and_the_missing_reply(shep):
    from shlyuz.conform.report import html_report

    sc = Scenario.model_validate({"name": "x", "steps": [
        {"name": "reset", "faults": [{"fault": {"kind": "reset"}}], "shep": GBDFL, "expect": {"transport": "reset"}},
    ]})  # fmt: skip
    [out] = await run_against(shep, [Loaded(sc, FAULTS / "x.yaml")])
    assert out.ok, out.steps[0].failures
    assert out.steps[0].request.startswith("fault rules of this step: f1 (reset)\nPOST /bip-sync/")
    assert out.steps[0].response.startswith("(no reply: ")
    page = html_report([out]).decode()
    assert "fault rules of this step: f1 (reset)" in page and "(no reply: " in page
