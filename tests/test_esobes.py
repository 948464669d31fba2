"""E-sobes driven as an AsyncParticipant with a fake Outbox and a SqliteRecords in a temp dir: registration and
its NOTIFICATION, every intake refusal, the automatic provider's decisions (signed RESPONSE verified with the
gateway's verifier and xmlsec1), idempotent redelivery, and the sync status query over SHEP."""

from __future__ import annotations

import base64

import pytest
from conftest import GATEWAY_NOW, REPO
from edshelp import VERIFICATION_TIME, xmlsec1
from egovkit import (
    APPLICANT,
    ATTORNEY,
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
from shlyuz.shep.reader import read_sync_request
from shlyuz.systems import esobes
from shlyuz.systems.base import HandlerContext
from shlyuz.systems.participants import MessageType
from shlyuz.systems.rshep_inbox import INBOX
from shlyuz.systems.rshep_rules import Verdict

SIGNERS = (f"org/{PROVIDER_BIN}/{PROVIDER_HEAD}/sign", "system/ESOBES")
NTF_XSD = etree.XMLSchema(etree.parse(str(REPO / "schemas/egov/notification.xsd")))
STATUS_XSD = etree.XMLSchema(etree.parse(str(REPO / "schemas/esobes/esobes-status.xsd")))
SERVICES = esobes.known_services([REPO / "fixtures"])


def system(settings, pki, provider: ProviderSettings | None = None):
    return esobes.participant(verifier=verifier(settings, pki), provider=provider or ProviderSettings(),
                              services=SERVICES)  # fmt: skip


def signed(pki, app=None, name: str | None = None) -> bytes:
    return to_bytes(signer_for(pki, name or f"person/{APPLICANT}/sign").data(build_application(app or application())))


def notification(outbox: FakeOutbox, index: int = -1):
    msg = outbox.of(MessageType.NOTIFICATION)[index]
    root = etree.fromstring(msg.payload)
    validate(NTF_XSD, root)
    return msg, parse_notification(msg.payload)


def test_known_services_are_the_social_protection_definitions() -> None:
    assert "disabled-children-home-education" in SERVICES and "local-social-assistance" in SERVICES
    assert "foreign-labour-permits" not in SERVICES


async def test_registers_notifies_and_waits_in_the_inbox(settings, session_pki, tmp_path) -> None:
    outbox, sys_ = FakeOutbox(), system(settings, session_pki)
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        await sys_.on_message(request(signed(session_pki), "ESOBES_APPLICATION", "req-1"), ctx)
        msg, note = notification(outbox)
        assert (msg.correlation_id, msg.service_id) == ("req-1", "ESOBES_APPLICATION")
        assert (note.status, note.application_number, note.service) == ("registered", "ESB-2026-000001",
                                                                        "disabled-children-home-education")
        signer = await verify_document(etree.fromstring(msg.payload), verifier(settings, session_pki))
        assert signer.bin and "system" not in signer.roles  # signed by system/ESOBES
        item = (await ctx.records.get(INBOX, "ESB-2026-000001")).data
        assert (item["status"], item["applicantIin"], item["signerIin"], item["requestMessageId"]) == (
            "new", APPLICANT, APPLICANT, "req-1")
        assert outbox.of(MessageType.RESPONSE) == []  # default provider: manual
        # a repeated delivery changes nothing
        await sys_.on_message(request(signed(session_pki), "ESOBES_APPLICATION", "req-1"), ctx)
        assert len(outbox.sent) == 1
        # a second application gets the next number
        await sys_.on_message(request(signed(session_pki), "ESOBES_APPLICATION", "req-2"), ctx)
        assert notification(outbox)[1].application_number == "ESB-2026-000002"


async def test_decision_by_hand_sends_the_signed_response(settings, session_pki, tmp_path) -> None:
    outbox, sys_ = FakeOutbox(), system(settings, session_pki)
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        await sys_.on_message(request(signed(session_pki), "ESOBES_APPLICATION", "req-1"), ctx)
        item = await sys_.settle("ESB-2026-000001", Verdict("refuse", "", "DOCUMENTS_INCOMPLETE", "No PMPK conclusion"),
                                 ctx, employee="820731486029")  # fmt: skip
        assert (item["status"], item["delivery"], item["responseMessageId"]) == ("refused", "sent", "out-2")
        [resp] = outbox.of(MessageType.RESPONSE)
        assert (resp.correlation_id, resp.service_id) == ("req-1", "ESOBES_APPLICATION")
        root = etree.fromstring(resp.payload)
        validate(DEC_XSD, root)
        dec = parse_decision(resp.payload)
        assert (dec.decision, dec.reason.code, dec.decided_by.iin, dec.applicant.iin) == (
            "refused", "DOCUMENTS_INCOMPLETE", PROVIDER_HEAD, APPLICANT)
        who = await verify_document(root, verifier(settings, session_pki))
        assert (who.iin, who.bin) == (PROVIDER_HEAD, PROVIDER_BIN)
        (tmp_path / "dec.xml").write_bytes(resp.payload)
        cert = session_pki.identity(f"org/{PROVIDER_BIN}/{PROVIDER_HEAD}/sign").cert_path
        ok = xmlsec1("--verify", *VERIFICATION_TIME, "--pubkey-cert-pem", cert, tmp_path / "dec.xml")
        assert ok.returncode == 0, ok.stderr
        with pytest.raises(Exception) as err:  # decided once only
            await sys_.settle("ESB-2026-000001", Verdict("approve"), ctx)
        assert getattr(err.value, "code", None).value == "CONFLICT"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (ProviderRule(service="disabled-children-home-education", action="approve"), "approved"),
        (ProviderRule(person_tag="demo", action="refuse", reason_code="X_DEMO", reason="demo persons are refused"),
         "refused"),
        (ProviderRule(applicant=APPLICANT, fields={"schoolYear": "2025-2026"}, action="approve"), "approved"),
        (ProviderRule(fields={"schoolYear": "1999"}, action="approve"), None),
        (ProviderRule(system="elicensing", action="approve"), None),
    ],
    ids=["service", "tag", "applicant+field", "field-mismatch", "other-system"],
)  # fmt: skip
async def test_the_automatic_provider_decides_by_rules(settings, session_pki, tmp_path, rule, expected) -> None:
    outbox = FakeOutbox()
    sys_ = system(settings, session_pki, ProviderSettings(rules=[rule]))
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        await sys_.on_message(request(signed(session_pki), "ESOBES_APPLICATION", "req-1"), ctx)
        kinds = [m.message_type for _, m, _ in outbox.sent]
        item = (await ctx.records.get(INBOX, "ESB-2026-000001")).data
        if expected is None:
            assert kinds == [MessageType.NOTIFICATION] and item["status"] == "new"
        else:
            assert kinds == [MessageType.NOTIFICATION, MessageType.RESPONSE]  # notification first
            assert parse_decision(outbox.sent[1][1].payload).decision == item["status"] == expected
        await sys_.on_message(request(signed(session_pki), "ESOBES_APPLICATION", "req-1"), ctx)
        assert [m.message_type for _, m, _ in outbox.sent] == kinds  # idempotent


async def test_default_refuse_uses_the_default_ground(settings, session_pki, tmp_path) -> None:
    outbox = FakeOutbox()
    sys_ = system(settings, session_pki, ProviderSettings(rules=[], default="refuse"))
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        await sys_.on_message(request(signed(session_pki), "ESOBES_APPLICATION", "r"), ctx)
        dec = parse_decision(outbox.of(MessageType.RESPONSE)[0].payload)
        assert (dec.decision, dec.reason.code) == ("refused", "GROUNDS_NOT_MET")


POA = Representative(iin=ATTORNEY, poa_number="ДОВ-2025-000001", notarised=True)  # from 750930400018, valid


@pytest.mark.parametrize(
    ("payload_of", "service_id", "code"),
    [
        (lambda pki: None, "ESOBES_APPLICATION", "DOCUMENT_INVALID"),
        (lambda pki: b"<not-xml", "ESOBES_APPLICATION", "MALFORMED_XML"),
        (lambda pki: b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>', "ESOBES_APPLICATION",
         "XML_DTD_FORBIDDEN"),
        (lambda pki: b"<x/>", "ESOBES_APPLICATION", "DOCUMENT_INVALID"),
        (lambda pki: b"<x>" + b"a" * (3 << 20) + b"</x>", "ESOBES_APPLICATION", "BODY_TOO_LARGE"),
        (lambda pki: signed(pki), "ESOBES_OTHER", "SERVICE_NOT_SERVED"),
        (lambda pki: to_bytes(build_application(application())), "ESOBES_APPLICATION", "SIGNATURE_MISSING"),
        (lambda pki: signed(pki).replace(b"2025-2026", b"2024-2025"), "ESOBES_APPLICATION", "SIGNATURE_INVALID"),
        (lambda pki: signed(pki, name="bad/expired"), "ESOBES_APPLICATION", "CERT_EXPIRED"),
        (lambda pki: signed(pki, name="bad/revoked"), "ESOBES_APPLICATION", "CERT_REVOKED"),
        (lambda pki: signed(pki, name="bad/untrusted"), "ESOBES_APPLICATION", "CERT_UNTRUSTED"),
        (lambda pki: signed(pki, application(service="no-such-service")), "ESOBES_APPLICATION", "SERVICE_UNKNOWN"),
        (lambda pki: signed(pki, application(service="foreign-labour-permits")), "ESOBES_APPLICATION",
         "SERVICE_UNKNOWN"),
        (lambda pki: signed(pki, name=f"person/{ATTORNEY}/sign"), "ESOBES_APPLICATION", "SIGNER_NOT_APPLICANT"),
        (lambda pki: signed(pki, application(applicant=Applicant(iin="900101300025"))), "ESOBES_APPLICATION",
         "APPLICANT_UNKNOWN"),
        (lambda pki: signed(pki, application(applicant=Applicant(bin="140840234886", signer_iin=APPLICANT))),
         "ESOBES_APPLICATION", "APPLICANT_NOT_PERSON"),
        (lambda pki: signed(pki, application(permit=PermitData(sub_flow=SubFlow.ISSUE, worker_name="W",
                                                               citizenship="UZB", position="P",
                                                               valid_from=GATEWAY_NOW.date(),
                                                               valid_to=GATEWAY_NOW.date()))),
         "ESOBES_APPLICATION", "PERMIT_NOT_EXPECTED"),
        (lambda pki: signed(pki, application(applicant=Applicant(iin="750930400018"), representative=POA),
                            name=f"person/{APPLICANT}/sign"), "ESOBES_APPLICATION", "SIGNER_NOT_REPRESENTATIVE"),
        (lambda pki: signed(pki, application(applicant=Applicant(iin="900101300017"),
                                             representative=POA.model_copy(update={"poa_number": "ДОВ-2023-000002"})),
                            name=f"person/{ATTORNEY}/sign"), "ESOBES_APPLICATION", "POA_EXPIRED"),
        (lambda pki: signed(pki, application(applicant=Applicant(iin="840412400010"),
                                             representative=POA.model_copy(update={"poa_number": "ДОВ-2025-000003"})),
                            name=f"person/{ATTORNEY}/sign"), "ESOBES_APPLICATION", "POA_REVOKED"),
        (lambda pki: signed(pki, application(applicant=Applicant(iin="750930400018"),
                                             representative=POA.model_copy(update={"poa_number": "ДОВ-9999"})),
                            name=f"person/{ATTORNEY}/sign"), "ESOBES_APPLICATION", "POA_NOT_FOUND"),
        (lambda pki: signed(pki, application(applicant=Applicant(iin=APPLICANT), representative=POA),
                            name=f"person/{ATTORNEY}/sign"), "ESOBES_APPLICATION", "POA_MISMATCH"),
        (lambda pki: signed(pki, application(applicant=Applicant(iin="750930400018"),
                                             representative=POA.model_copy(update={"notarised": False})),
                            name=f"person/{ATTORNEY}/sign"), "ESOBES_APPLICATION", "POA_MISMATCH"),
        (lambda pki: signed(pki, application(applicant=Applicant(iin="940731388182"), representative=Representative(
            iin="680605479238", poa_number="ДОВ-2025-000111", notarised=True)), name="person/680605479238/sign"),
         "ESOBES_APPLICATION", "POA_NOT_YET_VALID"),
        (lambda pki: signed(pki, application(service="local-social-assistance")), "ESOBES_APPLICATION",
         "CHANNEL_NOT_AVAILABLE"),
        (lambda pki: signed(pki, application(channel="state-corp")), "ESOBES_APPLICATION", "SIGNER_NOT_OPERATOR"),
    ],
    ids=["no-payload", "malformed", "xxe", "wrong-root", "oversized", "wrong-service-id", "unsigned", "tampered", "expired",
         "revoked", "untrusted", "unknown-service", "elicensing-service", "signer-not-applicant", "unknown-applicant",
         "employer", "permit-data", "signer-not-representative", "poa-expired", "poa-revoked", "poa-not-found",
         "poa-mismatch", "poa-notarised-flag", "poa-not-yet-valid", "portal-not-for-this-applicant", "state-corp-not-operator"],
)  # fmt: skip
async def test_refusals_at_intake(settings, session_pki, tmp_path, payload_of, service_id, code) -> None:
    outbox, sys_ = FakeOutbox(), system(settings, session_pki)
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        await sys_.on_message(request(payload_of(session_pki), service_id, "req-x"), ctx)
        msg, note = notification(outbox)
        assert (note.status, note.reason.code) == ("rejected", code), note.reason.text
        assert msg.correlation_id == "req-x" and note.application_number is None
        assert len(outbox.sent) == 1 and await ctx.records.find(INBOX) == []


async def test_representative_and_disabled_applicant_are_registered(settings, session_pki, tmp_path) -> None:
    outbox, sys_ = FakeOutbox(), system(settings, session_pki)
    app = application(applicant=Applicant(iin="750930400018"), representative=POA, service="local-social-assistance")
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        await sys_.on_message(request(signed(session_pki, app, f"person/{ATTORNEY}/sign"), "ESOBES_APPLICATION"), ctx)
        assert notification(outbox)[1].status == "registered"
        item = (await ctx.records.get(INBOX, "ESB-2026-000001")).data
        assert (item["applicantIin"], item["representativeIin"], item["signerIin"]) == ("750930400018", ATTORNEY, ATTORNEY)


async def test_non_request_messages_are_ignored(settings, session_pki, tmp_path) -> None:
    from shlyuz.systems.participants import AsyncMessage

    outbox, sys_ = FakeOutbox(), system(settings, session_pki)
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        msg = AsyncMessage("u-1", MessageType.UPDATE, "ESOBES_APPLICATION", "egov-portal", GATEWAY_NOW, b"<x/>",
                           correlation_id="req-1")  # fmt: skip
        await sys_.on_message(msg, ctx)
        assert outbox.sent == []


def status_request(**fields: str) -> bytes:
    root = payload(esobes.STATUS_NS, "ApplicationStatusRequest", {"messageId": "q-1", **fields})
    return SendMessage(service_id="ESOBES_APPLICATION_STATUS", payload=root).to_bytes()


async def test_sync_status_query(settings, session_pki, tmp_path) -> None:
    outbox = FakeOutbox()
    sys_ = system(settings, session_pki, ProviderSettings(rules=[ProviderRule(action="approve")]))
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        await sys_.on_message(request(signed(session_pki), "ESOBES_APPLICATION", "req-1"), ctx)
        handler = esobes.EsobesStatusSystem(records=ctx.records)
        for query, n in (({"applicationNumber": "ESB-2026-000001"}, 1), ({"applicantIin": APPLICANT}, 1),
                         ({"applicationNumber": "ESB-2026-999999"}, 0), ({"applicantIin": "123"}, -1),
                         ({"applicantIin": APPLICANT, "applicationNumber": "ESB-2026-000001"}, -1),
                         ({"colour": "red"}, -1), ({}, -1)):  # fmt: skip
            req = read_sync_request(status_request(**query), "text/xml")
            hctx = HandlerContext(fixtures=FIXTURES, now=lambda: GATEWAY_NOW, session_id="s", response_message_id="r")
            result = await handler.handle(req, hctx)
            validate(STATUS_XSD, result.payload)
            assert result.payload.findtext("messageResult/code") == {1: "00000", 0: "00001", -1: "00002"}[n]
            assert result.status.value == ("SCSS001" if n == 1 else "SCSE001"), result.message
            if n == 1:
                [app] = result.payload.findall("applications/application")
                assert app.findtext("status") == "approved"
                dec = base64.b64decode(app.findtext("decisionDocument"))
                assert parse_decision(dec).decision == "approved"
                await verify_document(etree.fromstring(dec), verifier(settings, session_pki))


async def test_status_over_shep_end_to_end(shep, session_pki, settings) -> None:
    """The status query through the gateway's /bip-sync/ (registered in default_registry, records bound)."""
    from shlyuz.systems.participants import ParticipantContext

    gw = shep.gateway
    outbox = FakeOutbox()
    ctx = ParticipantContext(fixtures=gw.fixtures, now=lambda: GATEWAY_NOW, records=gw.records, outbox=outbox,
                             signers={n: signer_for(session_pki, n) for n in SIGNERS})  # fmt: skip
    sys_ = system(settings, session_pki, ProviderSettings(rules=[ProviderRule(action="approve")]))
    await sys_.on_message(request(signed(session_pki), "ESOBES_APPLICATION", "req-e2e"), ctx)
    body = SendMessage(service_id="ESOBES_APPLICATION_STATUS", sender_id="egov-portal", password="egov-portal-password",
                       payload=payload(esobes.STATUS_NS, "ApplicationStatusRequest", {"applicantIin": APPLICANT})).to_bytes()
    reply = await shep.post(body, validate=False)
    assert reply.status == 200, reply.body[:600]
    parsed = reply.parsed
    assert parsed.status.value == "SCSS001", parsed
    from xsdcheck import validate_sync_body

    validate_sync_body(reply.body, extra_xsds=[REPO / "schemas/esobes/esobes-status.xsd"])  # official SHEP + ours
    root = parsed.payload
    assert root.findtext("applications/application/applicationNumber") == "ESB-2026-000001"
    signer = await verify_document(root, verifier(settings, session_pki))  # E-sobes signs its sync answers
    assert signer.bin is not None


async def test_without_pki_nothing_is_registered(settings, session_pki, tmp_path) -> None:
    outbox = FakeOutbox()
    sys_ = esobes.participant(verifier=None, provider=ProviderSettings(), services=SERVICES)
    async with context(tmp_path, session_pki, outbox, SIGNERS) as ctx:
        await sys_.on_message(request(signed(session_pki), "ESOBES_APPLICATION"), ctx)
        assert notification(outbox)[1].reason.code == "SIGNATURE_UNVERIFIABLE"
