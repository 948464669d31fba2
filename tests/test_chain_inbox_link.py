"""The chain run ↔ provider inbox link (shlyuz.chains.link), over the JSON APIs, without a browser: a portal
submission is also a chain run of the service's portal channel waiting at the provider's decision step; the АРМ РШЭП
inbox's decision resumes it; a decision the inbox took before the run got there is taken instead of waiting; and a
run started with ``decide: wait`` that sent its own application is resumed by that application's inbox decision.
The async channel is driven by hand (``run_due``), no timers."""

from __future__ import annotations

import pytest
from conftest import GATEWAY_NOW
from lxml import etree
from portalkit import application_xml, sign_xml

from shlyuz.chains.link import decision_of, portal_options
from shlyuz.clock import FixedClock
from shlyuz.egov.documents import Applicant
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.gateway.app import build_gateway, create_app

APPLICANT = DEMO_IINS["disabled"]
SERVICE = "disabled-children-home-education"
SPECIALIST_PASSWORD = "rshep-{}"


@pytest.fixture
async def world(settings, session_pki, app_client):
    settings.async_channel.delivery_loop = False  # the tests deliver by hand
    gateway = build_gateway(settings, clock=FixedClock(GATEWAY_NOW), pki=session_pki)
    client = await app_client(create_app(gateway))
    return gateway, client, session_pki


async def _portal_token(client, pki, iin: str = APPLICANT) -> dict[str, str]:
    challenge = await (await client.post("/portal/auth/challenge")).json()
    signed = sign_xml(pki, f"person/{iin}/auth", etree.fromstring(challenge["document"]))
    token = (await (await client.post("/portal/auth/eds", json={"signedXml": signed})).json())["token"]
    return {"Authorization": f"Bearer {token}"}


async def _inbox_token(client, gateway, headers: dict[str, str] | None = None) -> dict[str, str]:
    from shlyuz.workstations.rshep_api import employees

    staff = employees(gateway.fixtures, gateway.settings.provider.bin)
    iin = next(e.iin for e in staff.values() if e.role == "specialist")
    login = {"iin": iin, "password": f"rshep-{iin}"}
    body = await (await client.post("/rshep/login", json=login, headers=headers or {})).json()
    return {"Authorization": f"Bearer {body['token']}"}


async def _submit(client, pki, headers) -> dict:
    document = application_xml(pki, identity=f"person/{APPLICANT}/sign", applicant=Applicant(iin=APPLICANT))
    resp = await client.post("/portal/applications", json={"document": document}, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _inbox_item(client, headers, message_id: str) -> dict:
    items = (await (await client.get("/rshep/items", headers=headers)).json())["items"]
    for summary in items:
        item = await (await client.get(f"/rshep/items/{summary['number']}", headers=headers)).json()
        if item.get("responseMessageId") is None and summary["status"] in ("new", "taken"):
            return item
    raise AssertionError(f"no open inbox item for {message_id}: {items}")


async def test_a_portal_submission_is_a_chain_run_waiting_for_the_inbox_which_resumes_it(world):
    gateway, client, pki = world
    portal = await _portal_token(client, pki)
    submitted = await _submit(client, pki, portal)
    run_id = submitted["chainRun"]
    assert run_id and run_id.startswith("RUN-"), submitted

    run = await (await client.get(f"/chains/runs/{run_id}")).json()
    assert run["status"] == "waiting" and run["waitingFor"] == "procedure main step 3", run
    assert run["service"] == SERVICE and run["options"]["channel"] == "portal"
    assert run["requestMessageId"] == submitted["messageId"] and run["link"] == {"source": "portal", "id": submitted["id"]}
    sends = [c for s in run["trace"]["steps"] for c in s["calls"] if c.get("service_id") == "ESOBES_APPLICATION"]
    assert [c["message_id"] for c in sends] == [submitted["messageId"]]  # the portal's REQUEST, not a second one
    eds = next(s for s in run["trace"]["steps"] if s["ref"] == "condition 2")
    assert eds["branch"] == "yes" and eds["checks"]["eds_not_revoked"] is True, eds

    assert await gateway.async_channel.run_due() >= 2  # the REQUEST to E-sobes, its NOTIFICATION back
    inbox = await _inbox_token(client, gateway)
    item = await _inbox_item(client, inbox, submitted["messageId"])
    taken = await client.post(f"/rshep/items/{item['number']}/take", headers=inbox)
    assert taken.status == 200, await taken.text()
    decided = await client.post(f"/rshep/items/{item['number']}/decide", json={"decision": "approve"}, headers=inbox)
    assert decided.status == 200, await decided.text()

    run = await (await client.get(f"/chains/runs/{run_id}")).json()
    assert run["status"] == "done" and run["trace"]["outcome"] == "result", run["trace"]["outcome"]
    step = next(s for s in run["trace"]["steps"] if s["ref"] == "procedure main step 3")
    decided_item = await (await client.get(f"/rshep/items/{item['number']}", headers=inbox)).json()
    assert step["branch"] == "approve" and [c["message_id"] for c in step["calls"]] == [decided_item["responseMessageId"]]
    assert item["number"] in step["calls"][0]["action"], step
    assert run["trace"]["result_document"] == decided_item["decisionXml"]  # the inbox's signed Decision is the result

    await gateway.async_channel.run_due()  # the RESPONSE to the portal
    cabinet = await (await client.get(f"/portal/cabinet/applications/{submitted['id']}", headers=portal)).json()
    assert cabinet["status"] == "APPROVED" and cabinet["chainRun"] == run_id


async def test_a_refusal_in_the_inbox_refuses_the_run_with_its_ground(world):
    gateway, client, pki = world
    submitted = await _submit(client, pki, await _portal_token(client, pki))
    await gateway.async_channel.run_due()
    inbox = await _inbox_token(client, gateway)
    item = await _inbox_item(client, inbox, submitted["messageId"])
    body = {"decision": "refuse", "reasonCode": "R_DOCS", "reason": "the medical certificate is missing"}
    resp = await client.post(f"/rshep/items/{item['number']}/decide", json=body, headers=inbox)
    assert resp.status == 200, await resp.text()
    run = await (await client.get(f"/chains/runs/{submitted['chainRun']}")).json()
    assert run["status"] == "done" and run["trace"]["outcome"] == "refusal", run["trace"]["outcome"]
    step = next(s for s in run["trace"]["steps"] if s["ref"] == "procedure main step 3")
    assert step["branch"] == "refuse" and "refused (R_DOCS)" in step["calls"][0]["action"], step
    assert run["trace"]["refusal"] == {"code": "R_DOCS", "text": "the medical certificate is missing"}


async def test_a_decision_taken_outside_the_inbox_api_reaches_waiting_and_later_runs(world):
    """The run sent its own application (POST /chains/…/runs, decide: wait). The item is decided without the inbox
    API, as an automatic provider rule does: nothing resumes the run then, but reading it reconciles it; and a run
    linked to an already decided REQUEST takes the decision at its decision step instead of waiting."""
    from shlyuz.chains.driver import Link, RunOptions
    from shlyuz.systems.rshep_inbox import INBOX
    from shlyuz.systems.rshep_rules import Verdict
    from shlyuz.workstations.rshep_api import desk_for

    gateway, client, _ = world
    resp = await client.post(f"/chains/{SERVICE}/runs", json={"channel": "portal", "applicant": APPLICANT, "decide": "wait"})
    assert resp.status == 201, await resp.text()
    run = await resp.json()
    assert run["status"] == "waiting" and run["requestMessageId"], run
    await gateway.async_channel.run_due()
    found = await gateway.records.find(INBOX, where={"requestMessageId": run["requestMessageId"]})
    assert len(found) == 1
    esobes = next(p for p in gateway.participants if getattr(p, "participant_id", "") == "esobes")
    await esobes.settle(found[0].key, Verdict("approve", "test rule"), desk_for(gateway, {}).context())
    assert (await gateway.chains.get(run["id"]))["status"] == "waiting"
    read = await (await client.get(f"/chains/runs/{run['id']}")).json()  # reading reconciles it
    assert read["status"] == "done" and read["trace"]["outcome"] == "result", read

    late = await gateway.chains.start(SERVICE, RunOptions(channel="portal", applicant=APPLICANT, decide="wait"),
                                      link=Link("portal", "late", run["requestMessageId"]))  # fmt: skip
    assert late["status"] == "done" and late["trace"]["outcome"] == "result", late["status"]
    step = next(s for s in late["trace"]["steps"] if s["ref"] == "procedure main step 3")
    assert step["branch"] == "approve" and "by rule 'test rule'" in step["calls"][0]["action"], step


def test_decision_of_an_inbox_item():
    assert decision_of(None) is None and decision_of({"status": "taken", "number": "ESB-1"}) is None
    approved = decision_of({"status": "approved", "number": "ESB-1", "system": "esobes", "employee": "880101300016",
                            "decidedAt": "2026-01-15T10:00:00+05:00"})  # fmt: skip
    assert approved.approve and approved.reason is None and approved.decided_by == "employee 880101300016"
    refused = decision_of({"status": "refused", "number": "ESB-2", "system": "esobes", "rule": "deceased applicant",
                           "reasonCode": "APPLICANT_DECEASED", "reason": "deceased"})  # fmt: skip
    assert not refused.approve and refused.ground == "APPLICANT_DECEASED" and refused.reason == "deceased"
    assert refused.decided_by == "rule 'deceased applicant'"


def test_portal_options_of_a_person_an_employer_and_a_representative():
    assert portal_options({"applicant": {"iin": APPLICANT}}) == {"channel": "portal", "decide": "wait", "applicant": APPLICANT}
    employer = portal_options({"applicant": {"bin": "001240876555", "signerIin": "900101300017"}})
    assert employer["applicant"] == "001240876555" and employer["signer"] == "900101300017"
    rep = portal_options({"applicant": {"iin": APPLICANT}, "representative": {"iin": "900101300017", "poaNumber": "P-1"}})
    assert rep["representative"] == "900101300017" and rep["poa"] == "P-1"


async def test_the_link_holds_inside_an_isolated_session(world):
    """Everything under one X-Shlyuz-Scope: the run, the inbox item and the decision stay in that session."""
    gateway, client, pki = world
    scope = {"X-Shlyuz-Scope": "link-test"}
    challenge = await (await client.post("/portal/auth/challenge", headers=scope)).json()
    signed = sign_xml(pki, f"person/{APPLICANT}/auth", etree.fromstring(challenge["document"]))
    login = await (await client.post("/portal/auth/eds", json={"signedXml": signed}, headers=scope)).json()
    portal = {**scope, "Authorization": f"Bearer {login['token']}"}
    submitted = await _submit(client, pki, portal)
    assert (await client.get(f"/chains/runs/{submitted['chainRun']}")).status == 404  # not in the default session
    await gateway.async_channel.run_due()
    inbox = {**scope, **(await _inbox_token(client, gateway, scope))}
    item = await _inbox_item(client, inbox, submitted["messageId"])
    resp = await client.post(f"/rshep/items/{item['number']}/decide", json={"decision": "approve"}, headers=inbox)
    assert resp.status == 200, await resp.text()
    run = await (await client.get(f"/chains/runs/{submitted['chainRun']}", headers=scope)).json()
    assert run["status"] == "done" and run["trace"]["outcome"] == "result", run.get("status")
