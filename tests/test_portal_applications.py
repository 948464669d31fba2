"""Portal applications over HTTP: the service catalogue, a signed Application (valid, tampered, someone else's
signature, bad certificates, a representative under a power of attorney checked in ENIS), the REQUEST handed to the
async channel as ``egov-portal``, and the personal cabinet after the NOTIFICATION and the signed RESPONSE are
delivered to the portal participant's ``on_message``."""

from __future__ import annotations

import pytest
from conftest import GATEWAY_NOW
from egovkit import APPLICANT, ATTORNEY, PROVIDER_BIN
from lxml import etree
from portalkit import PASSWORD, application_xml, decision, deliver, error, make_app

from shlyuz.egov.documents import Applicant, Representative
from shlyuz.egov.notification import Notification, build_notification
from shlyuz.fixtures.generate import DEMO_IINS, DEMO_POAS
from shlyuz.portal.participant import PortalParticipant
from shlyuz.storage.base import JournalQuery
from shlyuz.systems.participants import MessageType

DISABLED = DEMO_IINS["disabled"]  # the principal of the valid demo power of attorney (to the demo attorney)


@pytest.fixture
async def portal(settings, session_pki, app_client):
    app, gateway, outbox = make_app(settings, session_pki)
    client = await app_client(app)
    client.gateway, client.outbox = gateway, outbox
    return client


async def logged_in(client, iin: str = APPLICANT) -> dict[str, str]:
    assert (await client.post("/portal/register", json={"iin": iin, "password": PASSWORD})).status == 201
    resp = await client.post("/portal/auth/login", json={"iin": iin, "password": PASSWORD})
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def submit(client, headers, document: str):
    return await client.post("/portal/applications", json={"document": document}, headers=headers)


# -- the catalogue ---------------------------------------------------------------------------------------------------


async def test_catalogue_says_where_each_portal_service_goes(portal):
    resp = await portal.get("/portal/services")
    assert resp.status == 200
    body = await resp.json()
    services = {s["id"]: s for s in body["services"]}
    home = services["disabled-children-home-education"]
    assert (home["portal"], home["system"], home["serviceId"]) == (True, "esobes", "ESOBES_APPLICATION")
    permits = services["foreign-labour-permits"]
    assert (permits["system"], permits["serviceId"], permits["applicant"]) == (
        "elicensing", "ELICENSING_PERMIT_APPLICATION", "employer")
    child = services["child-allowance"]  # paragraph 11: the portal is not provided for
    assert child["portal"] is False and "system" not in child and child["channels"] == ["provider", "state-corp"]
    assert body["source"].startswith("service definitions: ")


def test_a_broken_definition_is_left_out_of_the_catalogue(tmp_path):
    import shutil

    from conftest import REPO

    from shlyuz.portal import catalogue

    (tmp_path / "services").mkdir()
    shutil.copy(REPO / "fixtures/services/child-allowance.yaml", tmp_path / "services")
    (tmp_path / "services" / "broken.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    assert [s.id for s in catalogue.load_definitions([tmp_path])] == ["child-allowance"]


# -- submission ------------------------------------------------------------------------------------------------------


async def test_signed_application_goes_to_esobes_as_egov_portal(portal, session_pki):
    headers = await logged_in(portal)
    document = application_xml(session_pki)
    resp = await submit(portal, headers, document)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["status"] == "SENT" and body["statusRu"] == "Отправлено" and body["messageId"] == "out-1"
    assert body["serviceId"] == "ESOBES_APPLICATION" and body["applicant"]["iin"] == APPLICANT
    [(sender, out, scope)] = portal.outbox.sent
    assert (sender, out.message_type, out.service_id, scope) == ("egov-portal", MessageType.REQUEST,
                                                                 "ESOBES_APPLICATION", "default")
    assert out.payload == document.encode("utf-8") and out.correlation_id is None  # byte for byte
    record = await portal.gateway.records.get("portal-application", body["id"])
    assert record.data["checks"]["signature"]["iin"] == APPLICANT
    assert record.data["checks"]["signature"]["revocation"] in ("ocsp", "cache")


async def test_tampered_application_is_refused(portal, session_pki):
    headers = await logged_in(portal)
    document = application_xml(session_pki).replace("2025-2026", "2024-2026")
    status, code, message = await error(await submit(portal, headers, document))
    assert (status, code) == (400, "SIGNATURE_INVALID") and "changed after it was signed" in message
    assert portal.outbox.sent == []


async def test_someone_elses_signature_is_refused(portal, session_pki):
    headers = await logged_in(portal)
    document = application_xml(session_pki, identity=f"person/{ATTORNEY}/sign")
    assert await error(await submit(portal, headers, document)) == (
        400, "IIN_MISMATCH", f"the document is signed by IIN {ATTORNEY}, not by the logged-in user {APPLICANT}")
    assert portal.outbox.sent == []


async def test_application_for_someone_else_without_a_representative(portal, session_pki):
    headers = await logged_in(portal, ATTORNEY)
    document = application_xml(session_pki, identity=f"person/{ATTORNEY}/sign")  # applicant: the demo applicant
    status, code, message = await error(await submit(portal, headers, document))
    assert (status, code) == (403, "FORBIDDEN") and "needs a representative" in message


@pytest.mark.parametrize(
    "identity, code",
    [("bad/revoked", "CERT_REVOKED"), ("bad/expired", "CERT_EXPIRED"), ("bad/auth-used-for-signing", "CERT_KEY_USAGE"),
     ("bad/untrusted", "CERT_UNTRUSTED"), ("bad/other-iin", "IIN_MISMATCH"), (f"person/{APPLICANT}/auth", "CERT_KEY_USAGE")],
)  # fmt: skip
async def test_bad_signing_certificates_are_refused(portal, session_pki, identity, code):
    headers = await logged_in(portal)
    status, got, message = await error(await submit(portal, headers, application_xml(session_pki, identity=identity)))
    assert (status, got) == (400, code), message
    assert portal.outbox.sent == []


async def test_unsigned_application_is_refused(portal):
    from egovkit import application

    from shlyuz.egov.documents import build_application

    headers = await logged_in(portal)
    document = etree.tostring(build_application(application()), encoding="unicode")
    assert (await error(await submit(portal, headers, document)))[:2] == (400, "SIGNATURE_MISSING")


async def test_service_not_on_the_portal(portal, session_pki):
    headers = await logged_in(portal)
    status, code, message = await error(await submit(portal, headers, application_xml(session_pki, service="child-allowance")))
    assert (status, code) == (403, "FORBIDDEN") and "not rendered through the portal" in message
    status, code, _ = await error(await submit(portal, headers, application_xml(session_pki, service="no-such-service")))
    assert (status, code) == (404, "NOT_FOUND")


async def test_document_that_is_not_an_application(portal, session_pki):
    headers = await logged_in(portal)
    status, code, message = await error(await submit(portal, headers, "<hello/>"))
    assert (status, code) == (400, "DOCUMENT_INVALID") and message.startswith("document: the document element is")
    doc = '<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>'
    assert (await error(await submit(portal, headers, doc)))[:2] == (400, "XML_DTD_FORBIDDEN")


async def test_representative_under_a_valid_notarised_power_of_attorney(portal, session_pki):
    headers = await logged_in(portal, ATTORNEY)
    rep = Representative(iin=ATTORNEY, poa_number=DEMO_POAS["valid"], notarised=True)
    document = application_xml(session_pki, identity=f"person/{ATTORNEY}/sign",
                               applicant=Applicant(iin=DISABLED), representative=rep)  # fmt: skip
    resp = await submit(portal, headers, document)
    assert resp.status == 201, await resp.text()
    record = await portal.gateway.records.get("portal-application", (await resp.json())["id"])
    poa = record.data["checks"]["poa"]
    assert (poa["status"], poa["principal"], poa["attorney"]) == ("VALID", DISABLED, ATTORNEY)
    # the ENIS check is a real SHEP exchange, journaled with the portal as sender
    [entry] = await portal.gateway.storage.query_exchanges(JournalQuery(service_id="ENIS_POA_CHECK"))
    assert entry.sender_id == "egov-portal" and entry.outcome == "SCSS001"


@pytest.mark.parametrize("poa, code, fragment", [
    (DEMO_POAS["revoked"], "POA_NOT_VALID", "ENIS verdict REVOKED"),
    (DEMO_POAS["expired"], "POA_NOT_VALID", "ENIS verdict EXPIRED"),
    ("ДОВ-2099-999999", "POA_NOT_FOUND", "Power of attorney not found"),
])  # fmt: skip
async def test_representative_with_an_unusable_power_of_attorney(portal, session_pki, poa, code, fragment):
    headers = await logged_in(portal, ATTORNEY)
    rep = Representative(iin=ATTORNEY, poa_number=poa, notarised=True)
    document = application_xml(session_pki, identity=f"person/{ATTORNEY}/sign",
                               applicant=Applicant(iin=DISABLED), representative=rep)  # fmt: skip
    status, got, message = await error(await submit(portal, headers, document))
    assert (status, got) == (422, code) and fragment in message, message
    assert portal.outbox.sent == []


# -- the cabinet -----------------------------------------------------------------------------------------------------


async def test_cabinet_shows_the_signed_decision_after_the_response(portal, session_pki):
    headers = await logged_in(portal)
    app_id = (await (await submit(portal, headers, application_xml(session_pki))).json())["id"]
    participant = PortalParticipant()
    note = build_notification(Notification(system="esobes", status="registered", application_number="ES-2026-000001",
                                           service="disabled-children-home-education", received_at=GATEWAY_NOW))  # fmt: skip
    await deliver(participant, portal.gateway, MessageType.NOTIFICATION, "out-1", etree.tostring(note), "n-1")
    one = await (await portal.get(f"/portal/cabinet/applications/{app_id}", headers=headers)).json()
    assert (one["status"], one["applicationNumber"], one["statusRu"]) == ("REGISTERED", "ES-2026-000001", "Зарегистрировано")
    assert "result" not in one
    assert (await error(await portal.get(f"/portal/cabinet/applications/{app_id}/result", headers=headers)))[:2] == (
        404, "NOT_FOUND")

    signed = decision("ES-2026-000001", pki=session_pki)
    msg = await deliver(participant, portal.gateway, MessageType.RESPONSE, "out-1", signed, "r-1")
    await participant.on_message(msg, _ctx(portal.gateway))  # delivered twice: idempotent
    listing = await (await portal.get("/portal/cabinet/applications", headers=headers)).json()
    [one] = listing["applications"]
    assert one["status"] == "APPROVED" and one["statusRu"] == "Исполнено"
    assert [h["messageType"] for h in one["history"]] == ["NOTIFICATION", "RESPONSE"]
    result = one["result"]
    assert result["decision"] == "approved" and result["result"] == {"amount": "45000"}
    v = result["verification"]
    assert v["verified"] is True and v["authorizedPerson"] is True
    assert (v["signerIin"], v["signerBin"]) == ("740211363594", PROVIDER_BIN)
    resp = await portal.get(f"/portal/cabinet/applications/{app_id}/result", headers=headers)
    assert resp.status == 200 and resp.content_type == "application/xml"
    assert await resp.read() == signed and resp.headers["X-Signature-Verified"] == "true"


async def test_refusal_and_a_decision_not_signed_by_the_head(portal, session_pki):
    headers = await logged_in(portal)
    app_id = (await (await submit(portal, headers, application_xml(session_pki))).json())["id"]
    employee = "940731388182"  # an employee of the provider, not its head
    signed = decision("ES-2026-000002", verdict="refused", pki=session_pki, signer=f"org/{PROVIDER_BIN}/{employee}/sign",
                      decided_by_iin=employee)  # fmt: skip
    await deliver(PortalParticipant(), portal.gateway, MessageType.RESPONSE, "out-1", signed, "r-1")
    one = await (await portal.get(f"/portal/cabinet/applications/{app_id}", headers=headers)).json()
    assert one["status"] == "REFUSED" and one["result"]["reasonCode"] == "DOCS_INCOMPLETE"
    v = one["result"]["verification"]
    assert v["verified"] is False and v["authorizedPerson"] is False and "is not the head of" in v["message"]
    resp = await portal.get(f"/portal/cabinet/applications/{app_id}/result", headers=headers)
    assert resp.headers["X-Signature-Verified"] == "false"


async def test_tampered_decision_is_shown_as_not_verified(portal, session_pki):
    headers = await logged_in(portal)
    app_id = (await (await submit(portal, headers, application_xml(session_pki))).json())["id"]
    signed = decision("ES-2026-000003", pki=session_pki).replace(b"45000", b"99000")
    await deliver(PortalParticipant(), portal.gateway, MessageType.RESPONSE, "out-1", signed, "r-1")
    v = (await (await portal.get(f"/portal/cabinet/applications/{app_id}", headers=headers)).json())["result"]["verification"]
    assert (v["verified"], v["code"]) == (False, "SIGNATURE_INVALID")


async def test_a_rejected_notification_is_final(portal, session_pki):
    headers = await logged_in(portal)
    app_id = (await (await submit(portal, headers, application_xml(session_pki))).json())["id"]
    from shlyuz.egov.notification import Rejection

    note = build_notification(Notification(system="esobes", status="rejected", received_at=GATEWAY_NOW,
                                           reason=Rejection(code="DOCS_MISSING", text="нет документов")))  # fmt: skip
    await deliver(PortalParticipant(), portal.gateway, MessageType.NOTIFICATION, "out-1", etree.tostring(note), "n-1")
    one = await (await portal.get(f"/portal/cabinet/applications/{app_id}", headers=headers)).json()
    assert one["status"] == "REJECTED" and one["history"][0]["text"] == "DOCS_MISSING: нет документов"


async def test_message_for_an_unknown_request_is_retried(portal):
    with pytest.raises(LookupError):
        await deliver(PortalParticipant(), portal.gateway, MessageType.RESPONSE, "never-sent", b"<x/>", "r-9")


async def test_cabinet_is_private(portal, session_pki):
    headers = await logged_in(portal)
    app_id = (await (await submit(portal, headers, application_xml(session_pki))).json())["id"]
    other = await logged_in(portal, ATTORNEY)
    assert (await error(await portal.get(f"/portal/cabinet/applications/{app_id}", headers=other)))[:2] == (
        404, "NOT_FOUND")
    assert (await (await portal.get("/portal/cabinet/applications", headers=other)).json()) == {"applications": []}


def _ctx(gateway):
    from shlyuz.systems.participants import ParticipantContext

    return ParticipantContext(fixtures=gateway.fixtures, now=gateway.clock.now, records=gateway.records,
                              outbox=gateway.outbox, signers={})  # fmt: skip


# -- an employer (E-licensing) ---------------------------------------------------------------------------------------

EMPLOYER_BIN, EMPLOYER_HEAD = "090140541935", "730506414772"  # a foreign-labour employer and its head


def permit_application(**kw):
    from datetime import date

    from shlyuz.egov.documents import PermitData, SubFlow

    permit = PermitData(sub_flow=SubFlow.ISSUE, worker_name="Рахимов Алишер", citizenship="UZB", position="Сварщик",
                        valid_from=date(2026, 3, 1), valid_to=date(2027, 2, 28))  # fmt: skip
    data = {"service": "foreign-labour-permits", "applicant": Applicant(bin=EMPLOYER_BIN, signer_iin=EMPLOYER_HEAD),
            "permit": permit, "fields": (), "documents": ()}  # fmt: skip
    return {**data, **kw}


async def employer_headers(client) -> dict[str, str]:
    body = {"iin": EMPLOYER_HEAD, "bin": EMPLOYER_BIN, "password": PASSWORD}
    assert (await client.post("/portal/register", json=body)).status == 201
    resp = await client.post("/portal/auth/login", json=body)
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def test_employer_permit_application_goes_to_elicensing(portal, session_pki):
    headers = await employer_headers(portal)
    identity = f"org/{EMPLOYER_BIN}/{EMPLOYER_HEAD}/sign"
    resp = await submit(portal, headers, application_xml(session_pki, identity=identity, **permit_application()))
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["serviceId"] == "ELICENSING_PERMIT_APPLICATION"
    [(sender, out, _)] = portal.outbox.sent
    assert (sender, out.service_id) == ("egov-portal", "ELICENSING_PERMIT_APPLICATION")


async def test_employer_application_signed_with_a_personal_certificate(portal, session_pki):
    headers = await employer_headers(portal)
    doc = application_xml(session_pki, identity=f"person/{EMPLOYER_HEAD}/sign", **permit_application())
    status, code, message = await error(await submit(portal, headers, doc))
    assert (status, code) == (400, "IIN_MISMATCH") and f"not for the applicant BIN {EMPLOYER_BIN}" in message


async def test_a_person_cannot_apply_for_an_employers_service(portal, session_pki):
    headers = await logged_in(portal)
    doc = application_xml(session_pki, **permit_application(applicant=Applicant(iin=APPLICANT)))
    status, code, message = await error(await submit(portal, headers, doc))
    assert (status, code) == (403, "FORBIDDEN") and "employer's service" in message


# -- the test-only signing endpoint ----------------------------------------------------------------------------------


async def test_dev_sign_is_not_wired_by_default(portal):
    resp = await portal.post("/portal/dev/sign", json={"identity": f"person/{APPLICANT}/sign", "document": "<a/>"})
    assert (await error(resp))[:2] == (404, "NOT_FOUND")


async def test_dev_sign_when_wired_signs_with_a_fixture_identity(settings, session_pki, app_client):
    from egovkit import FakeOutbox, application

    from shlyuz.clock import FixedClock
    from shlyuz.egov.documents import build_application
    from shlyuz.gateway.app import build_gateway, create_app
    from shlyuz.portal import api as portal_api

    gateway = build_gateway(settings, clock=FixedClock(GATEWAY_NOW), pki=session_pki)
    gateway.outbox = FakeOutbox()
    app = create_app(gateway)
    portal_api.add_routes(app, dev=True)
    client = await app_client(app)
    unsigned = etree.tostring(build_application(application()), encoding="unicode")
    resp = await client.post("/portal/dev/sign", json={"identity": f"person/{APPLICANT}/sign", "document": unsigned})
    assert resp.status == 200
    signed = (await resp.json())["signedXml"]
    headers = await logged_in(client)
    assert (await submit(client, headers, signed)).status == 201
    again = await client.post("/portal/dev/sign", json={"identity": f"person/{APPLICANT}/sign", "document": signed})
    assert (await error(again))[:2] == (400, "INVALID_PARAMETER")  # already signed
    unknown = await client.post("/portal/dev/sign", json={"identity": "person/900101300007/sign", "document": "<a/>"})
    assert (await error(unknown))[:2] == (404, "NOT_FOUND")


async def test_a_request_the_channel_refuses_is_kept_as_not_sent(portal, session_pki):
    from shlyuz.errors import ErrorCode, ShlyuzError

    class RefusingOutbox:
        async def send(self, sender_id, message, *, scope="default"):
            raise ShlyuzError(ErrorCode.SERVICE_NOT_ALLOWED, f"{sender_id} may not send {message.service_id}")

    portal.gateway.outbox = RefusingOutbox()
    headers = await logged_in(portal)
    status, code, message = await error(await submit(portal, headers, application_xml(session_pki)))
    assert (status, code) == (503, "PROVIDER_ERROR")
    assert message == ("the async channel did not accept the request: SERVICE_NOT_ALLOWED: egov-portal may not send "
                       "ESOBES_APPLICATION")
    [one] = (await (await portal.get("/portal/cabinet/applications", headers=headers)).json())["applications"]
    assert (one["status"], one["statusRu"]) == ("NOT_SENT", "Не отправлено") and "messageId" not in one
