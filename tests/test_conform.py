"""``shlyuz conform``: the scenario format, the checks, the runner against a live gateway, the reports — and the
shipped suite (conformance/) green against the embedded gateway, in parallel, each scenario in its own scope."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from lxml import etree

from shlyuz.conform import asserts
from shlyuz.conform.loader import Loaded, ScenarioError, discover, load_file, select
from shlyuz.conform.model import Expect, JsonCheck, Scenario, XPathCheck
from shlyuz.conform.report import html_report, junit
from shlyuz.conform.runner import Runner, substitute, VarError

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "conformance"


def test_json_paths():
    data = {"a": {"b": [{"c": 1}, {"c": 2}]}, "x": None}
    assert asserts.json_path(data, "a.b[1].c") == (True, 2)
    assert asserts.json_path(data, "a.b[-1].c") == (True, 2)
    assert asserts.json_path(data, "a.b[5]") == (False, None)
    assert asserts.json_path(data, "x") == (True, None)
    assert asserts.json_path(data, "a.z") == (False, None)


def test_checks_say_what_was_expected_and_what_came():
    resp = asserts.Response(200, {}, b'<r xmlns:p="urn:p"><p:v>1</p:v><p:v>2</p:v></r>')
    assert asserts.check_xpath(resp, XPathCheck(path="//p:v", ns={"p": "urn:p"}, count=2, equals="1")) == []
    assert asserts.check_xpath(resp, XPathCheck(path="//*[local-name()='v']", equals="2")) == [
        "xpath //*[local-name()='v']: expected '2', found '1'"
    ]
    assert "not a valid XPath" in asserts.check_xpath(resp, XPathCheck(path="//[", exists=True))[0]
    j = asserts.Response(400, {}, b'{"error": {"code": "X", "message": "m"}}')
    fails = asserts.check(j, Expect(http=200, json=[JsonCheck(path="error.code", equals="Y")]))
    assert fails == ["HTTP status: expected 200, got 400", "json error.code: expected 'Y', found 'X'"]


def test_variables_are_substituted_and_unknown_ones_named():
    assert substitute({"a": ["${x}-${y}"]}, {"x": "1", "y": "2"}) == {"a": ["1-2"]}
    with pytest.raises(VarError, match=r"unknown variable \$\{z\}"):
        substitute("${z}", {"x": "1"})


@pytest.mark.parametrize(
    "text,message",
    [
        ("- a\n- b\n", "expected a mapping"),
        ("name: x\nsteps: []\n", "steps: List should have at least 1 item"),
        ("name: x\nsteps:\n  - name: s\n", "exactly one of shep, http, chain, journal"),
        ("name: x\nsteps:\n  - name: s\n    http: {path: /a}\n    bogus: 1\n", "steps[0].bogus: Extra inputs"),
        ("name: [\n", "not valid YAML"),
        ("scenarios:\n  - {name: a, steps: [{name: s, http: {path: /}}]}\n  - {name: a, steps: [{name: s, http: {path: /}}]}\n", "used twice"),
        ("name: x\nsteps:\n  - name: s\n    http: {path: /a, json: {iin: 2026-01-15}}\n", "not a valid JSON value"),  # a YAML date
        ("name: x\nsteps:\n  - name: s\n    http: {path: /a, body: x, signXml: {identity: i, xml: <a/>}}\n", "signXml puts"),
    ],
)  # fmt: skip
def test_bad_scenario_files_are_refused_precisely(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_file(f)


def test_select_by_name_tag_and_negation(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("scenarios:\n  - {name: one, tags: [eds], steps: [{name: s, http: {path: /}}]}\n"
                 "  - {name: two, steps: [{name: s, http: {path: /}}]}\n")  # fmt: skip
    loaded = discover([tmp_path])
    assert [x.scenario.name for x in select(loaded, "eds")] == ["one"]
    assert [x.scenario.name for x in select(loaded, "not eds")] == ["two"]
    assert [x.scenario.name for x in select(loaded, "s::t*")] == ["two"]


async def run_against(shep, scenarios: list[Loaded], jobs: int = 8):
    base = str(shep.client.make_url("")).rstrip("/")
    passwords = {sid: s.password for sid, s in shep.gateway.senders.items() if s.password}
    async with aiohttp.ClientSession() as http:
        runner = Runner(base, http=http, pki=shep.gateway.pki, passwords=passwords)
        sem = asyncio.Semaphore(jobs)

        async def one(x):
            async with sem:
                return await runner.run(x)

        return await asyncio.gather(*(one(x) for x in scenarios))


async def test_a_failing_scenario_reports_the_step_and_why(shep, tmp_path):
    sc = Scenario.model_validate({
        "name": "expects-wrong", "steps": [
            {"name": "unknown sender", "shep": {"service": "GBDFL_UniversalServiceSync", "sender": "nobody", "password": "x",
                                                "payload": "<m:Request xmlns:m='http://message.persistence.interactive.nat'><iin>900101300017</iin></m:Request>"},
             "expect": {"status": "SCSS001"}},
            {"name": "never reached", "http": {"path": "/healthz"}},
        ]})  # fmt: skip
    [out] = await run_against(shep, [Loaded(sc, tmp_path / "x.yaml")])
    assert not out.ok and len(out.steps) == 1
    assert out.steps[0].failures[0].startswith("expected SHEP status SCSS001, got the fault SENDER_UNKNOWN")
    report = etree.fromstring(junit([out]))
    assert report.find(".//failure").get("message").startswith("step 'unknown sender': expected SHEP status")
    page = html_report([out]).decode()
    assert "SENDER_UNKNOWN" in page and "FAIL" in page


async def test_the_shipped_suite_is_green_in_parallel(shep):
    """Every scenario of conformance/ against the embedded gateway, 8 at a time, each in its own scope."""
    scenarios = discover([SUITE])
    outcomes = await run_against(shep, scenarios, jobs=8)
    failed = [(o.id, s.name, s.failures) for o in outcomes for s in o.steps if not s.ok]
    assert not failed, failed[:5]
    assert len({o.scope for o in outcomes}) == len(outcomes)


def test_the_generated_chain_scenarios_are_up_to_date():
    """conformance/chains/ is generated from fixtures/services/: regenerate with python -m shlyuz.conform.chains_suite."""
    from shlyuz.conform.chains_suite import render
    from shlyuz.services.loader import ServiceCatalogue

    catalogue = ServiceCatalogue.load()
    files = {p.stem for p in (SUITE / "chains").glob("*.yaml")}
    assert files == {s.id for s in catalogue}
    for service in catalogue:
        assert (SUITE / "chains" / f"{service.id}.yaml").read_text(encoding="utf-8") == render(service), service.id
