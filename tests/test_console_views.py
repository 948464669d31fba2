"""The console's views: a chain run's sequence diagram (sans-IO, and served for a real run), the services' diagrams,
the fixtures endpoints, the verdict explanation, and the console routes in /openapi.json."""

from __future__ import annotations

import shutil

import pytest
from lxml import etree

from shlyuz.console.explain import explain_signature, pretty_xml
from shlyuz.console.sequence import participants, sequence_svg, tag
from shlyuz.fixtures.generate import DEMO_IINS

SVG = "{http://www.w3.org/2000/svg}"
APPLICANT = DEMO_IINS["applicant"]


def texts(svg: str) -> list[str]:
    root = etree.fromstring(svg.encode("utf-8"))
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


async def start_run(shep, service="child-allowance", scope=None, **options):
    headers = {"X-Shlyuz-Scope": scope} if scope else {}
    resp = await shep.client.post(f"/chains/{service}/runs", json={"channel": "state-corp", "applicant": APPLICANT, **options},
                                  headers=headers)  # fmt: skip
    assert resp.status == 201, await resp.text()
    return await resp.json()


# -- the sequence diagram, sans-IO --------------------------------------------------------------------------------
def synthetic_run(**trace):
    base = {
        "service": "svc", "channel": "state-corp", "started_at": "2026-01-15T10:00:00+05:00", "status": "done",
        "outcome": "refusal", "refusal": {"code": "R_X", "text": "no <data> & \"quotes\""},
        "deadlines": [{"total": "15 minutes", "due": "2026-01-15T10:15:00+05:00", "met": False}],
        "steps": [
            {"ref": "process 1", "kind": "process", "number": 1, "text": "Opens <the> form & sends", "systems": ["arm-con"],
             "duration": "1 minutes", "started_at": "2026-01-15T10:00:00+05:00", "ended_at": "2026-01-15T10:01:00+05:00",
             "calls": [], "checks": {}},
            {"ref": "condition 1", "kind": "condition", "number": 1, "text": "Person found?", "systems": ["gbdfl"],
             "duration": "1 minutes", "started_at": "2026-01-15T10:01:00+05:00", "ended_at": "2026-01-15T10:02:00+05:00",
             "branch": "no", "checks": {"gbdfl_person_found": False},
             "calls": [{"system": "gbdfl", "action": "GBD FL person", "ok": False, "service_id": "GBDFL_UniversalServiceSync"}]},
        ],
    }  # fmt: skip
    base.update(trace)
    return {"id": "RUN-<1>", "service": "svc", "status": "done", "trace": base}


def test_sequence_svg_escapes_every_text_and_parses_as_xml():
    svg = sequence_svg(synthetic_run())
    root = etree.fromstring(svg.encode("utf-8"))
    assert root.tag == f"{SVG}svg" and root.get("data-run") == "RUN-<1>"
    assert "<the>" not in svg and "&lt;the&gt;" in svg
    assert any('no <data> & "quotes"' in t for t in texts(svg))


def test_sequence_svg_numbers_steps_and_shows_the_branch_and_a_failed_call():
    svg = sequence_svg(synthetic_run())
    root = etree.fromstring(svg.encode("utf-8"))
    refs = [g.get("data-ref") for g in root.iter(f"{SVG}g") if g.get("class") == "step"]
    assert refs == ["process 1", "condition 1"]
    nums = ["".join(t.itertext()) for t in root.iter(f"{SVG}text") if t.get("class") == "num"]
    assert nums == ["P1", "C1"]
    branch = [g.get("data-branch") for g in root.iter(f"{SVG}g") if g.get("class") == "branch"]
    assert branch == ["no"]
    messages = [m for m in root.iter() if m.get("class") == "message"]
    assert [(m.get("data-system"), m.get("data-ok")) for m in messages] == [("gbdfl", "false")]
    deadlines = [g.get("data-met") for g in root.iter(f"{SVG}g") if g.get("class") == "deadline"]
    assert deadlines == ["false"]


def test_sequence_participants_are_shep_plus_the_systems_used():
    lanes = [lane for lane, _ in participants(synthetic_run()["trace"])]
    assert lanes == ["state-corp", "shep", "gbdfl"]  # arm-con draws on the State Corporation's lane
    with_applicant = synthetic_run()["trace"]
    with_applicant["steps"][0]["systems"] = ["applicant", "arm-con"]
    assert next(lane for lane, _ in participants(with_applicant)) == "applicant"


def test_step_tags_number_processes_conditions_steps_and_items():
    assert [tag(s) for s in ({"kind": "process", "number": 3}, {"kind": "condition", "number": 2},
                             {"kind": "step", "number": 4, "ref": "procedure main step 4"},
                             {"kind": "unnumbered", "ref": "item 1"})] == ["P3", "C2", "S4", "I1"]  # fmt: skip


def test_sequence_svg_of_a_waiting_run_ends_with_the_waiting_row():
    run = synthetic_run(status="waiting", outcome=None, refusal=None)
    run.update(status="waiting", waitingFor="procedure main step 5")
    svg = sequence_svg(run)
    assert any(t == "waiting for a decision: procedure main step 5" for t in texts(svg))


def test_sequence_svg_of_an_empty_trace_is_still_an_svg():
    svg = sequence_svg({"id": "x", "status": "running", "trace": {}})
    assert etree.fromstring(svg.encode()).tag == f"{SVG}svg" and "no simulated time yet" in svg


# -- served for a real run ----------------------------------------------------------------------------------------
async def test_sequence_of_a_real_run_has_its_participants_and_numbered_steps(shep):
    run = await start_run(shep)
    resp = await shep.client.get(f"/ui/api/chains/runs/{run['id']}/sequence.svg")
    assert resp.status == 200 and resp.content_type == "image/svg+xml"
    svg = await resp.text()
    root = etree.fromstring(svg.encode("utf-8"))
    lanes = [g.get("data-lane") for g in root.iter(f"{SVG}g") if g.get("class") == "participant"]
    assert {"state-corp", "shep", "gbdfl", "arm-rshep"} <= set(lanes)  # the state-corp channel's systems
    assert not {"portal", "elicensing"} & set(lanes)  # not used by this run: not drawn
    refs = [g.get("data-ref") for g in root.iter(f"{SVG}g") if g.get("class") == "step"]
    assert refs == [s["ref"] for s in run["trace"]["steps"]]
    nums = ["".join(t.itertext()) for t in root.iter(f"{SVG}text") if t.get("class") == "num"]
    assert {"P1", "C1", "P5", "S5"} <= set(nums)
    sent = {(m.get("data-system"), m.get("data-ok")) for m in root.iter() if m.get("class") == "message"}
    assert ("gbdfl", "true") in sent and ("arm-rshep", "true") in sent
    branches = {g.get("data-branch") for g in root.iter(f"{SVG}g") if g.get("class") == "branch"}
    assert {"yes", "approve"} <= branches
    info = await (await shep.client.get(f"/ui/api/chains/runs/{run['id']}/participants")).json()
    assert [p["id"] for p in info["participants"]] == lanes


async def test_sequence_of_a_waiting_run_follows_the_decision(shep):
    run = await start_run(shep, decide="wait")
    assert run["status"] == "waiting"
    svg = await (await shep.client.get(f"/ui/api/chains/runs/{run['id']}/sequence.svg")).text()
    assert any(t.startswith("waiting for a decision") for t in texts(svg))
    decided = await shep.client.post(f"/chains/runs/{run['id']}/decision", json={"approve": True})
    assert decided.status == 200
    svg = await (await shep.client.get(f"/ui/api/chains/runs/{run['id']}/sequence.svg")).text()
    assert not any(t.startswith("waiting for a decision") for t in texts(svg))
    assert "outcome: result" in texts(svg)


async def test_a_run_is_only_found_in_its_session(shep):
    run = await start_run(shep, scope="seq-s1")
    assert (await shep.client.get(f"/ui/api/chains/runs/{run['id']}/sequence.svg",
                                  headers={"X-Shlyuz-Scope": "seq-s1"})).status == 200  # fmt: skip
    resp = await shep.client.get(f"/ui/api/chains/runs/{run['id']}/sequence.svg")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "NOT_FOUND"


# -- services -----------------------------------------------------------------------------------------------------
async def test_services_list_the_15_with_their_diagrams(shep):
    body = await (await shep.client.get("/ui/api/services")).json()
    assert len(body["services"]) == 15 and body["graphviz"] is (shutil.which("dot") is not None)
    child = next(s for s in body["services"] if s["id"] == "child-allowance")
    assert "child-allowance--state-corp--chain" in [d["name"] for d in child["diagrams"]]
    assert child["channels"] and child["nameRu"]
    assert child["deadlines"] and not any("unit=" in d for d in child["deadlines"])  # human durations


@pytest.mark.parametrize("fmt,ctype,marker", [("dot", "text/vnd.graphviz", "digraph"), ("mermaid", "text/plain", "flowchart")])
async def test_service_diagram_as_text(shep, fmt, ctype, marker):
    resp = await shep.client.get("/ui/api/services/child-allowance/diagrams/child-allowance--state-corp--chain",
                                 params={"format": fmt})  # fmt: skip
    assert resp.status == 200 and resp.content_type == ctype and marker in await resp.text()


async def test_service_diagram_as_svg_is_drawn_by_graphviz(shep):
    resp = await shep.client.get("/ui/api/services/child-allowance/diagrams/child-allowance--state-corp--chain")
    assert resp.status == 200 and resp.content_type == "image/svg+xml"
    assert etree.fromstring(await resp.read()).tag == f"{SVG}svg"


async def test_service_diagram_without_graphviz_is_a_404_not_a_500(shep, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    resp = await shep.client.get("/ui/api/services/child-allowance/diagrams/child-allowance--state-corp--steps")
    assert resp.status == 404 and "format=dot" in (await resp.json())["error"]["message"]
    assert (await (await shep.client.get("/ui/api/services")).json())["graphviz"] is False


@pytest.mark.parametrize("path,query,status,code", [
    ("/ui/api/services/nope/diagrams/x", {}, 404, "NOT_FOUND"),
    ("/ui/api/services/child-allowance/diagrams/nope", {}, 404, "NOT_FOUND"),
    ("/ui/api/services/child-allowance/diagrams/child-allowance--state-corp--chain", {"format": "png"}, 400, "INVALID_PARAMETER"),
])  # fmt: skip
async def test_service_diagram_errors(shep, path, query, status, code):
    resp = await shep.client.get(path, params=query)
    assert resp.status == status and (await resp.json())["error"]["code"] == code


# -- fixtures -----------------------------------------------------------------------------------------------------
async def test_fixture_persons_search_by_iin(shep):
    body = await (await shep.client.get("/ui/api/fixtures/persons", params={"q": APPLICANT})).json()
    assert body["total"] == 1 and body["items"][0]["iin"] == APPLICANT and body["items"][0]["name"]


async def test_fixture_persons_page(shep):
    body = await (await shep.client.get("/ui/api/fixtures/persons", params={"limit": "10", "offset": "5"})).json()
    assert body["total"] == len(shep.gateway.fixtures.persons) and len(body["items"]) == 10 and body["offset"] == 5


async def test_fixture_organisations_and_powers_of_attorney(shep):
    orgs = await (await shep.client.get("/ui/api/fixtures/organisations")).json()
    assert orgs["total"] == len(shep.gateway.fixtures.organisations)
    poas = await (await shep.client.get("/ui/api/fixtures/powers-of-attorney", params={"q": "revoked"})).json()
    assert poas["total"] >= 1 and all(p["status"] == "REVOKED" for p in poas["items"])


async def test_fixture_identities_show_the_bad_ones(shep):
    body = await (await shep.client.get("/ui/api/fixtures/identities", params={"q": "bad/"})).json()
    by_name = {i["name"]: i for i in body["items"]}
    assert by_name["bad/revoked"]["state"] == "revoked" and by_name["bad/revoked"]["bad"] == "CERT_REVOKED"
    assert by_name["bad/expired"]["state"] == "expired" and by_name["bad/expired"]["iin"] == APPLICANT
    person = await (await shep.client.get("/ui/api/fixtures/identities", params={"q": f"person/{APPLICANT}/sign"})).json()
    assert person["items"][0]["iin"] == APPLICANT and person["items"][0]["state"] == "valid"


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "x"}, {"offset": "-1"}, {"colour": "red"}, {"q": "x" * 201}])
async def test_fixture_bad_parameters_are_400(shep, query):
    resp = await shep.client.get("/ui/api/fixtures/persons", params=query)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "INVALID_PARAMETER"


# -- explanation, sans-IO ------------------------------------------------------------------------------------------
def test_explain_a_verified_signature_lists_the_certificate():
    verdicts = {"signature": {"wsse": {"verified": True, "algorithm": "rsa-sha256", "subject": "CN=X,SERIALNUMBER=IIN1",
                                       "iin": "1", "chain": ["CN=X", "CN=CA"], "revocation": "ocsp", "purpose": "sign",
                                       "keyUsage": ["digitalSignature"], "notAfter": "2027-01-01T00:00:00Z"},
                              "data": "absent"}}  # fmt: skip
    out = explain_signature(verdicts)
    assert out["state"] == "valid" and out["parts"][0]["iin"] == "1" and out["parts"][1]["state"] == "absent"
    assert any("ocsp" in c for c in out["parts"][0]["checks"])


def test_explain_a_failure_names_the_check():
    out = explain_signature({"signature": {"failed": "CERT_EXPIRED", "reason": "expired on ..."}})
    assert out["state"] == "failed" and out["failed"]["check"].startswith("validity") and out["failed"]["meaning"]


def test_pretty_xml_refuses_a_doctype_and_garbage():
    assert pretty_xml(b'<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>') is None
    assert pretty_xml(b"not xml") is None and pretty_xml(None) is None
    assert pretty_xml(b"<a><b>1</b></a>") == "<a>\n  <b>1</b>\n</a>\n"


# -- /openapi.json ---------------------------------------------------------------------------------------------------
async def test_console_routes_are_in_openapi(shep):
    doc = await (await shep.client.get("/openapi.json")).json()
    for path in ("/ui/api/journal/stream", "/ui/api/journal/{id}", "/ui/api/services", "/ui/api/fixtures/persons",
                 "/ui/api/chains/runs/{run}/sequence.svg", "/ui/api/overview"):
        assert path in doc["paths"], path
    from openapi_spec_validator import validate

    validate(doc)
