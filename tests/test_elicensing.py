"""E-licensing driven as an AsyncParticipant (fake Outbox, SqliteRecords in a temp dir): each of annex 4's four
sub-flows from application to the permit registry, the fee window, every intake refusal, and the sync registry."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from conftest import GATEWAY_NOW, REPO
from egovkit import (
    APPLICANT,
    DEC_XSD,
    FIXTURES,
    PROVIDER_BIN,
    PROVIDER_HEAD,
    FakeOutbox,
    application,
    context,
    request,
    validate,
    verifier,
)  # fmt: skip
from lxml import etree

from shlyuz.client import SendMessage, payload
from shlyuz.config import ProviderRule, ProviderSettings
from shlyuz.dsig.signer import signer_for
from shlyuz.egov.documents import (
    Applicant,
    PermitData,
    Representative,
    SubFlow,
    build_application,
    parse_decision,
    to_bytes,
    verify_document,
)  # fmt: skip
from shlyuz.egov.notification import parse_notification
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.shep.reader import read_sync_request
from shlyuz.shep.responses import read_sync_reply
from shlyuz.systems import elicensing
from shlyuz.systems.base import HandlerContext
from shlyuz.systems.elicensing_rules import add_working_days, permit_status
from shlyuz.systems.participants import MessageType
from shlyuz.systems.rshep_inbox import INBOX
from shlyuz.systems.rshep_rules import Verdict

EMPLOYER, HEAD = "140840234886", "670408313444"  # ТОО «Достық Тамақ»
EMPLOYEE_WITH_POA = "870711488709"  # ДОВ-2025-000120 (notarised, FOREIGN_LABOUR_PERMIT)
EMPLOYEE = "860606381772"  # no power of attorney
SIGNERS = (f"org/{PROVIDER_BIN}/{PROVIDER_HEAD}/sign", "system/ELICENSING")
REGISTRY_XSD = etree.XMLSchema(etree.parse(str(REPO / "schemas/elicensing/elicensing-registry.xsd")))
SID = "ELICENSING_PERMIT_APPLICATION"
TODAY = GATEWAY_NOW.date()


def permit(sub_flow=SubFlow.ISSUE, **kw) -> PermitData:
    data = {"sub_flow": sub_flow, "worker_name": "RAKHIMOV ALISHER", "worker_iin": "930808300016", "citizenship": "UZB",
                "position": "Повар", "valid_from": date(2026, 2, 1), "valid_to": date(2027, 1, 31)}  # fmt: skip
    data.update(kw)
    return PermitData(**data)


def employer_app(p: PermitData | None = None, *, bin_=EMPLOYER, signer=HEAD, **kw):
    kw = {"service": "foreign-labour-permits", "fields": (), **kw}
    return application(applicant=Applicant(bin=bin_, signer_iin=signer), permit=p if p is not None else permit(), **kw)


def signed(pki, app, identity: str | None = None) -> bytes:
    name = identity or f"org/{app.applicant.bin}/{app.applicant.signer_iin}/sign"
    return to_bytes(signer_for(pki, name).data(build_application(app)))


def system(settings, pki, provider=None):
    return elicensing.participant(verifier=verifier(settings, pki), provider=provider or ProviderSettings())


def last_note(outbox):
    return parse_notification(outbox.of(MessageType.NOTIFICATION)[-1].payload)


async def registry(ctx, today: date = TODAY, **query: str):
    handler = elicensing.PermitRegistrySystem(records=ctx.records)
    req = read_sync_request(SendMessage(service_id="ELICENSING_PERMIT_REGISTRY",
                                        payload=payload(elicensing.REGISTRY_NS, "PermitRegistryRequest", query)).to_bytes(),
                            "text/xml")  # fmt: skip
    moment = GATEWAY_NOW + timedelta(days=(today - TODAY).days)
    result = await handler.handle(req, HandlerContext(FIXTURES, lambda: moment, "s", "r"))
    validate(REGISTRY_XSD, result.payload)
    return result


async def apply_and_decide(sys_, ctx, outbox, pki, app, msg_id, action="approve"):
    await sys_.on_message(request(signed(pki, app), SID, msg_id), ctx)
    note = last_note(outbox)
    assert note.status == "registered", note.reason
    await sys_.settle(note.application_number, Verdict(action, "", "COMMISSION_REFUSED" if action == "refuse" else None,
                                                       "The Commission recommends refusal" if action == "refuse" else None),
                      ctx)  # fmt: skip
    resp = outbox.of(MessageType.RESPONSE)[-1]
    assert resp.correlation_id == msg_id
    validate(DEC_XSD, etree.fromstring(resp.payload))
    return note.application_number, parse_decision(resp.payload)


def test_working_days_skip_weekends() -> None:
    assert add_working_days(date(2026, 1, 15), 10) == date(2026, 1, 29)  # Thursday → Thursday two weeks on
    assert add_working_days(date(2026, 1, 16), 1) == date(2026, 1, 19)  # Friday → Monday


async def test_issue_fee_window_reissue_and_extend(settings, session_pki, tmp_path) -> None:
    outbox, sys_ = FakeOutbox(), system(settings, session_pki)
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        num, dec = await apply_and_decide(sys_, ctx, outbox, session_pki, employer_app(), "m-issue")
        assert num == "ELA-2026-000001"
        assert (dec.decision, dec.result_value("permitNumber"), dec.result_value("feeDue")) == (
            "approved", "FLP-2026-000001", "2026-01-29")
        assert dec.applicant.bin == EMPLOYER and dec.applicant.signer_iin == HEAD
        who = await verify_document(etree.fromstring(outbox.of(MessageType.RESPONSE)[-1].payload),
                                    verifier(settings, session_pki))  # fmt: skip
        assert (who.iin, who.bin) == (PROVIDER_HEAD, PROVIDER_BIN)
        # the registry: awaiting the fee, lapsed after the window, by BIN and by worker IIN
        r = await registry(ctx, employerBin=EMPLOYER)
        assert [p.findtext("status") for p in r.payload.iter("permit")] == ["awaiting-fee"]
        r = await registry(ctx, date(2026, 1, 30), workerIin="930808300016")
        assert [p.findtext("status") for p in r.payload.iter("permit")] == ["lapsed"]
        # a re-issue of a permit whose fee is not paid yet is refused
        await sys_.on_message(request(signed(session_pki, employer_app(permit(
            SubFlow.REISSUE, permit_number="FLP-2026-000001", reason="new passport")), ), SID, "m-early"), ctx)
        assert (last_note(outbox).status, last_note(outbox).reason.code) == ("rejected", "PERMIT_NOT_ACTIVE")
        # the fee is paid in time: active
        paid = await elicensing.record_fee_payment(ctx.records, "FLP-2026-000001", date(2026, 1, 20))
        assert paid["status"] == "active"
        with pytest.raises(ShlyuzError) as err:
            await elicensing.record_fee_payment(ctx.records, "FLP-2026-000001", date(2026, 1, 21))
        assert err.value.code is ErrorCode.CONFLICT
        r = await registry(ctx, date(2026, 2, 2), permitNumber="FLP-2026-000001")
        assert r.payload.findtext("permits/permit/status") == "active"
        # re-issue: new data, same term and number
        reissue = permit(SubFlow.REISSUE, permit_number="FLP-2026-000001", reason="Passport replaced", position="Шеф-повар")
        num, dec = await apply_and_decide(sys_, ctx, outbox, session_pki, employer_app(reissue), "m-reissue")
        assert (dec.decision, dec.result_value("permitNumber"), dec.result_value("feeDue")) == (
            "approved", "FLP-2026-000001", None)
        rec = (await ctx.records.get(elicensing.PERMIT, "FLP-2026-000001")).data
        assert (rec["position"], rec["status"], rec["applications"]) == ("Шеф-повар", "active",
                                                                         ["ELA-2026-000001", num])
        # extend: a later end
        extend = permit(SubFlow.EXTEND, permit_number="FLP-2026-000001", valid_to=date(2027, 12, 31))
        num, dec = await apply_and_decide(sys_, ctx, outbox, session_pki, employer_app(extend), "m-extend")
        assert dec.decision == "approved" and dec.summary == "Permit FLP-2026-000001 is extended"
        rec = (await ctx.records.get(elicensing.PERMIT, "FLP-2026-000001")).data
        assert rec["validTo"] == "2027-12-31"
        r = await registry(ctx, date(2027, 6, 1), employerBin=EMPLOYER)
        assert r.payload.findtext("permits/permit/validTo") == "2027-12-31"
        assert r.payload.findtext("permits/permit/status") == "active"


async def test_intra_corporate_transfer_by_an_employee_with_a_power_of_attorney(settings, session_pki, tmp_path) -> None:
    outbox, sys_ = FakeOutbox(), system(settings, session_pki)
    poa = Representative(iin=EMPLOYEE_WITH_POA, poa_number="ДОВ-2025-000120", notarised=True)
    app = employer_app(permit(SubFlow.INTRA_CORPORATE_TRANSFER, home_company="Dostyk Food LLC, Tashkent",
                              valid_to=date(2028, 12, 31)), signer=EMPLOYEE_WITH_POA, representative=poa)  # fmt: skip
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        _num, dec = await apply_and_decide(sys_, ctx, outbox, session_pki, app, "m-ict")
        assert dec.result_value("subFlow") == "intra-corporate-transfer" and dec.result_value("feeDue") == "2026-01-29"
        r = await registry(ctx, employerBin=EMPLOYER)
        assert r.payload.findtext("permits/permit/kind") == "intra-corporate-transfer"
        assert r.payload.findtext("permits/permit/homeCompany") == "Dostyk Food LLC, Tashkent"


async def test_refusal_by_the_commission_issues_no_permit(settings, session_pki, tmp_path) -> None:
    outbox, sys_ = FakeOutbox(), system(settings, session_pki)
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        _num, dec = await apply_and_decide(sys_, ctx, outbox, session_pki, employer_app(), "m-1", action="refuse")
        assert (dec.decision, dec.reason.code, dec.result) == ("refused", "COMMISSION_REFUSED", ())
        assert await ctx.records.find(elicensing.PERMIT) == []
        assert (await registry(ctx, employerBin=EMPLOYER)).payload.findtext("messageResult/code") == "00001"


async def test_rules_decide_by_sub_flow(settings, session_pki, tmp_path) -> None:
    outbox = FakeOutbox()
    rules = [ProviderRule(system="elicensing", sub_flow="issue", action="refuse", reason_code="QUOTA_EXHAUSTED",
                          reason="The regional quota for foreign labour is exhausted")]  # fmt: skip
    sys_ = system(settings, session_pki, ProviderSettings(rules=rules, default="approve"))
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        await sys_.on_message(request(signed(session_pki, employer_app()), SID, "m-1"), ctx)
        dec = parse_decision(outbox.of(MessageType.RESPONSE)[-1].payload)
        assert (dec.decision, dec.reason.code) == ("refused", "QUOTA_EXHAUSTED")
        ict = employer_app(permit(SubFlow.INTRA_CORPORATE_TRANSFER, home_company="X"))
        await sys_.on_message(request(signed(session_pki, ict), SID, "m-2"), ctx)
        assert parse_decision(outbox.of(MessageType.RESPONSE)[-1].payload).decision == "approved"


async def _seed_permit(ctx, number="FLP-2026-000077", bin_=EMPLOYER, status="active", **kw) -> None:
    data = {"number": number, "bin": bin_, "kind": "issue", "workerName": "W", "citizenship": "UZB", "position": "P",
            "validFrom": "2026-01-01", "validTo": "2026-12-31", "status": status, "feeDue": "2026-01-10",
            "applications": []} | kw  # fmt: skip
    await ctx.records.put(elicensing.PERMIT, number, data)


P77 = "FLP-2026-000077"


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: application(service="foreign-labour-permits", permit=permit()), "APPLICANT_NOT_EMPLOYER"),
        (lambda: employer_app(bin_="990340000012", signer=HEAD), "EMPLOYER_UNKNOWN"),
        (lambda: employer_app(service="child-allowance"), "SERVICE_UNKNOWN"),
        (lambda: employer_app(channel="state-corp"), "CHANNEL_NOT_AVAILABLE"),
        (lambda: employer_app(signer=EMPLOYEE), "SIGNER_NOT_AUTHORISED"),
        (lambda: employer_app(signer=EMPLOYEE, representative=Representative(
            iin=EMPLOYEE, poa_number="ДОВ-2025-000120", notarised=True)), "POA_MISMATCH"),
        (lambda: employer_app(bin_="160451447077", signer="920905472623", representative=Representative(
            iin="920905472623", poa_number="ДОВ-2025-000109", notarised=True)), "POA_REVOKED"),
        (lambda: employer_app(bin_="100240839443", signer="641025358519", representative=Representative(
            iin="641025358519", poa_number="ДОВ-2025-000122", notarised=True)), "POA_NO_POWER"),
        (lambda: employer_app(permit(citizenship="KAZ")), "WORKER_NOT_FOREIGN"),
        (lambda: employer_app(permit(worker_iin=APPLICANT)), "WORKER_NOT_FOREIGN"),
        (lambda: employer_app(permit(valid_from=date(2025, 12, 1))), "PERMIT_PERIOD_INVALID"),
        (lambda: employer_app(permit(valid_to=date(2028, 1, 31))), "PERMIT_PERIOD_INVALID"),
        (lambda: employer_app(permit(SubFlow.REISSUE, permit_number="FLP-1999-000001", reason="r")), "PERMIT_NOT_FOUND"),
        (lambda: employer_app(permit(SubFlow.REISSUE, permit_number="FLP-2026-000078", reason="r",
                                     valid_to=date(2026, 12, 31))), "PERMIT_NOT_OWNED"),
        (lambda: employer_app(permit(SubFlow.EXTEND, permit_number="FLP-2026-000079", valid_to=date(2027, 6, 1))),
         "PERMIT_NOT_ACTIVE"),
        (lambda: employer_app(permit(SubFlow.REISSUE, permit_number=P77, valid_to=date(2026, 12, 31))),
         "REISSUE_REASON_MISSING"),
        (lambda: employer_app(permit(SubFlow.REISSUE, permit_number=P77, reason="r", valid_to=date(2027, 3, 1))),
         "PERMIT_PERIOD_INVALID"),
        (lambda: employer_app(permit(SubFlow.EXTEND, permit_number=P77, valid_to=date(2026, 6, 1))),
         "EXTENSION_INVALID"),
    ],
    ids=["person", "unknown-employer", "wrong-service", "state-corp", "employee-no-poa", "poa-other-attorney",
         "poa-revoked", "poa-no-power", "kazakh-worker", "kazakh-worker-iin", "past-start", "too-long",
         "reissue-unknown", "reissue-other-employer", "extend-lapsed", "reissue-no-reason", "reissue-new-term",
         "extend-earlier"],
)  # fmt: skip
async def test_refusals_at_intake(settings, session_pki, tmp_path, make, code) -> None:
    outbox, sys_ = FakeOutbox(), system(settings, session_pki)
    app = make()
    identity = f"person/{APPLICANT}/sign" if app.applicant.bin is None else (
        f"org/{EMPLOYER}/{HEAD}/sign" if code == "EMPLOYER_UNKNOWN" else None)
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        await _seed_permit(ctx)
        await _seed_permit(ctx, "FLP-2026-000078", bin_="090140541935")
        await _seed_permit(ctx, "FLP-2026-000079", status="awaiting-fee")
        await sys_.on_message(request(signed(session_pki, app, identity), SID, "m-x"), ctx)
        note = last_note(outbox)
        assert (note.status, note.reason.code) == ("rejected", code), note.reason.text
        assert await ctx.records.find(INBOX) == []


@pytest.mark.parametrize(
    ("identity", "code"),
    [(f"person/{HEAD}/sign", "SIGNER_NOT_EMPLOYEE"), (f"org/{EMPLOYER}/{EMPLOYEE}/sign", "SIGNER_MISMATCH"),
     ("bad/revoked", "CERT_REVOKED")],
)  # fmt: skip
async def test_signer_refusals(settings, session_pki, tmp_path, identity, code) -> None:
    outbox, sys_ = FakeOutbox(), system(settings, session_pki)
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        await sys_.on_message(request(signed(session_pki, employer_app(), identity), SID, "m-x"), ctx)
        assert last_note(outbox).reason.code == code


def test_permit_status_on_dates() -> None:
    p = {"status": "active", "validFrom": "2026-02-01", "validTo": "2026-12-31"}
    assert [permit_status(p, d) for d in (date(2026, 1, 1), date(2026, 6, 1), date(2027, 1, 1))] == [
        "not-yet-valid", "active", "expired"]


async def test_registry_bad_queries(settings, session_pki, tmp_path) -> None:
    async with context(tmp_path, session_pki, FakeOutbox()) as ctx:
        for query in ({}, {"employerBin": "123"}, {"employerBin": EMPLOYER, "workerIin": APPLICANT}):
            r = await registry(ctx, **query)
            assert r.payload.findtext("messageResult/code") == "00002" and r.status.value == "SCSE001"


async def test_registry_over_shep_end_to_end(shep, session_pki, settings) -> None:
    """ELICENSING_PERMIT_REGISTRY through /bip-sync/ (default_registry), reply valid against the official SHEP XSDs
    plus ours, signed by system/ELICENSING."""
    from xsdcheck import validate_sync_body

    await shep.gateway.records.put(elicensing.PERMIT, P77, {
        "number": P77, "bin": EMPLOYER, "kind": "issue", "workerName": "W", "citizenship": "UZB", "position": "P",
        "validFrom": "2026-01-01", "validTo": "2026-12-31", "status": "active", "applications": []})
    body = SendMessage(service_id="ELICENSING_PERMIT_REGISTRY", sender_id="egov-portal", password="egov-portal-password",
                       payload=payload(elicensing.REGISTRY_NS, "PermitRegistryRequest", {"employerBin": EMPLOYER})).to_bytes()
    reply = await shep.post(body, validate=False)
    assert reply.status == 200, reply.body[:600]
    validate_sync_body(reply.body, extra_xsds=[REPO / "schemas/elicensing/elicensing-registry.xsd"])
    data = reply.parsed.payload
    assert (data.findtext("permits/permit/permitNumber"), data.findtext("permits/permit/status")) == (P77, "active")
    who = await verify_document(data, verifier(settings, session_pki))
    assert who.bin is not None


class Recorder:
    """Stands in for the portal (``egov-portal``): keeps what the channel delivers to it."""

    name = "portal stand-in"
    participant_id = "egov-portal"
    service_ids: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.got: dict[str, object] = {}

    async def on_message(self, message, ctx) -> None:
        self.got[message.message_id] = message

    def answers(self, kind: MessageType, correlation_id: str) -> list:
        return [m for m in self.got.values() if m.message_type is kind and m.correlation_id == correlation_id]


async def test_each_sub_flow_end_to_end_over_the_async_channel_and_the_inbox_api(settings, session_pki, app_client):
    """The real channel (no fake Outbox): REQUEST from the portal's senderId → E-licensing → NOTIFICATION; an
    employee decides over the inbox JSON API → RESPONSE with the signed Decision; the registry answers over SHEP."""
    from shlyuz.clock import FixedClock
    from shlyuz.gateway.app import build_gateway, create_app
    from shlyuz.systems import rshep
    from shlyuz.systems.participants import Outgoing
    from shlyuz.workstations import rshep_api

    settings.async_channel.delivery_loop = False
    systems = rshep.participants(verifier=verifier(settings, session_pki), provider=ProviderSettings(),
                                 fixture_dirs=settings.fixture_dirs)  # fmt: skip
    portal = Recorder()
    gateway = build_gateway(settings, clock=FixedClock(GATEWAY_NOW), pki=session_pki,
                            participants=[portal, *systems.values()])  # fmt: skip
    app = create_app(gateway)
    rshep_api.add_routes(app, rshep_api.desk_for(gateway, systems))
    client = await app_client(app)
    token = (await (await client.post("/rshep/login", json={"iin": "940731388182",
                                                             "password": "rshep-940731388182"})).json())["token"]
    headers = {"Authorization": f"Bearer {token}"}

    async def run(p: PermitData) -> tuple[str, object]:
        sent = await gateway.outbox.send("egov-portal", Outgoing(MessageType.REQUEST, SID,
                                                                 signed(session_pki, employer_app(p))))  # fmt: skip
        await gateway.async_channel.run_due()
        [n] = portal.answers(MessageType.NOTIFICATION, sent)
        number = parse_notification(n.payload).application_number
        assert number is not None, parse_notification(n.payload)
        resp = await client.post(f"/rshep/items/{number}/decide", headers=headers, json={"decision": "approve"})
        assert resp.status == 200, await resp.text()
        await gateway.async_channel.run_due()
        [r] = portal.answers(MessageType.RESPONSE, sent)
        validate(DEC_XSD, etree.fromstring(r.payload))
        who = await verify_document(etree.fromstring(r.payload), verifier(settings, session_pki))
        assert (who.iin, who.bin) == (PROVIDER_HEAD, PROVIDER_BIN)
        return number, parse_decision(r.payload)

    _, issued = await run(permit())
    permit_number = issued.result_value("permitNumber")
    assert issued.decision == "approved" and permit_number == "FLP-2026-000001"
    await elicensing.record_fee_payment(gateway.records, permit_number, TODAY)
    _, reissued = await run(permit(SubFlow.REISSUE, permit_number=permit_number, reason="Passport replaced",
                                   position="Шеф-повар"))  # fmt: skip
    _, extended = await run(permit(SubFlow.EXTEND, permit_number=permit_number, valid_to=date(2027, 12, 31)))
    _, transfer = await run(permit(SubFlow.INTRA_CORPORATE_TRANSFER, home_company="Dostyk Food LLC, Tashkent"))
    assert [d.result_value("subFlow") for d in (issued, reissued, extended, transfer)] == [
        "issue", "reissue", "extend", "intra-corporate-transfer"]
    assert transfer.result_value("permitNumber") == "FLP-2026-000002"

    body = SendMessage(service_id="ELICENSING_PERMIT_REGISTRY", sender_id="egov-portal", password="egov-portal-password",
                       payload=payload(elicensing.REGISTRY_NS, "PermitRegistryRequest", {"employerBin": EMPLOYER})).to_bytes()
    reply = await client.post("/bip-sync/", data=body, headers={"Content-Type": "text/xml; charset=utf-8"})
    data = read_sync_reply(await reply.read()).payload
    got = {p.findtext("permitNumber"): (p.findtext("status"), p.findtext("validTo"), p.findtext("position"))
           for p in data.iter("permit")}  # fmt: skip
    assert got == {"FLP-2026-000001": ("not-yet-valid", "2027-12-31", "Шеф-повар"),
                   "FLP-2026-000002": ("awaiting-fee", "2027-01-31", "Повар")}  # fmt: skip
