"""The State Corporation workstation (АРМ ИИС ЦОН) over HTTP: operator login, an application for the applicant
themself and for a representative under a valid, an expired, a revoked, an unknown and a non-notarised power of
attorney (GBD FL and ENIS asked over SHEP through the gateway's pipeline, journaled), the Application signed with the
operator's EDS and handed to the async channel as ``arm-con`` → ``RSHEP_DOCUMENT``, and the result retrieved after
the RESPONSE is delivered to the participant's ``on_message``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from egovkit import APPLICANT, ATTORNEY, PROVIDER_BIN
from portalkit import decision, deliver, error, make_app

from shlyuz.egov.documents import Applicant, parse_application
from shlyuz.egov.signing import verify_document
from shlyuz.fixtures.generate import DEMO_IINS, DEMO_POAS
from shlyuz.storage.base import JournalQuery
from shlyuz.systems.participants import MessageType
from shlyuz.workstations.con_participant import ConParticipant
from shlyuz.xml import safe

SC_BIN = "160941360814"  # the State Corporation's Almaty branch (fixtures/organisations.json)
OPERATOR = "890512397971"  # one of its employees
DISABLED = DEMO_IINS["disabled"]
SERVICE = "disabled-children-home-education"  # has a State Corporation channel


@pytest.fixture
async def con(settings, session_pki, app_client):
    app, gateway, outbox = make_app(settings, session_pki, con=True)
    client = await app_client(app)
    client.gateway, client.outbox = gateway, outbox
    return client


async def operator_headers(client, iin: str = OPERATOR) -> dict[str, str]:
    resp = await client.post("/con/auth/login", json={"login": iin, "password": f"tson-{iin}"})
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


def body(applicant: str = APPLICANT, representative: dict | None = None, service: str = SERVICE) -> dict:
    out = {
        "service": service,
        "applicant": {"iin": applicant},
        "fields": [{"name": "childIin", "value": DEMO_IINS["minor"]}],
        "documents": [{"code": "MED_CONCLUSION", "name": "Заключение ПМПК"}],
    }
    if representative:
        out["representative"] = representative
    return out


def rep(number: str, notarised: bool = True, **poa) -> dict:
    return {"iin": ATTORNEY, "poa": {"number": number, "notarised": notarised, **poa}}


async def enter(client, headers, data):
    return await client.post("/con/applications", json=data, headers=headers)


async def journal(client, service_id: str):
    return await client.gateway.storage.query_exchanges(JournalQuery(service_id=service_id))


# -- login ------------------------------------------------------------------------------------------------------------


async def test_operator_login(con):
    resp = await con.post("/con/auth/login", json={"login": OPERATOR, "password": f"tson-{OPERATOR}"})
    assert resp.status == 200
    data = await resp.json()
    assert data["operator"]["bin"] == SC_BIN and data["operator"]["signingIdentity"] == f"org/{SC_BIN}/{OPERATOR}/sign"
    me = await con.get("/con/me", headers={"Authorization": f"Bearer {data['token']}"})
    assert (await me.json())["iin"] == OPERATOR


async def test_operator_login_refusals(con):
    assert await error(await con.post("/con/auth/login", json={"login": OPERATOR, "password": "wrong"})) == (
        401, "LOGIN_FAILED", f"wrong password for operator {OPERATOR}")
    assert await error(await con.post("/con/auth/login", json={"login": APPLICANT, "password": "x"})) == (
        401, "ACCOUNT_NOT_FOUND", f"IIN {APPLICANT} is not a State Corporation operator")
    assert (await error(await con.post("/con/auth/login", json={"login": "890512397972", "password": "x"})))[:2] == (
        400, "INVALID_PARAMETER")


async def test_operator_token_is_not_a_portal_token(con):
    headers = await operator_headers(con)
    assert (await error(await con.get("/portal/me", headers=headers)))[:2] == (401, "UNAUTHENTICATED")
    con.gateway.clock.advance(timedelta(minutes=30))
    assert (await error(await con.get("/con/me", headers=headers)))[:2] == (401, "TOKEN_EXPIRED")


# -- entry ------------------------------------------------------------------------------------------------------------


async def test_application_for_the_applicant_themself(con, session_pki):
    headers = await operator_headers(con)
    resp = await enter(con, headers, body())
    assert resp.status == 201, await resp.text()
    out = await resp.json()
    assert out["status"] == "SENT" and out["serviceId"] == "RSHEP_DOCUMENT" and out["operator"] == OPERATOR
    assert out["applicant"] == {"iin": APPLICANT, "name": "Ахметов Нұрлан Серікұлы"}
    assert out["checks"]["gbdfl"]["found"] is True and "enis" not in out["checks"]
    assert out["reference"].startswith("CON-20260115-")
    [(sender, msg, _)] = con.outbox.sent
    assert (sender, msg.message_type, msg.service_id) == ("arm-con", MessageType.REQUEST, "RSHEP_DOCUMENT")
    # the document: channel state-corp, signed with the operator's EDS (the applicant does not sign)
    root = safe.parse(msg.payload)
    app = parse_application(root)
    assert (app.channel, app.applicant.iin, app.representative) == ("state-corp", APPLICANT, None)
    signed = await verify_document(root, con.gateway.sync.verifier)
    assert (signed.iin, signed.bin) == (OPERATOR, SC_BIN)
    # 3 процесс: GBD FL was asked over SHEP by the workstation, and the exchange is in the journal
    [entry] = await journal(con, "GBDFL_UniversalServiceSync")
    assert (entry.sender_id, entry.outcome, entry.remote) == ("arm-con", "SCSS001", "internal:arm-con")


async def test_applicant_not_in_gbdfl(con):
    headers = await operator_headers(con)
    status, code, message = await error(await enter(con, headers, body(applicant="900101300007")))
    assert (status, code) == (422, "PERSON_NOT_FOUND") and message.startswith("the data cannot be obtained: GBD FL")
    assert con.outbox.sent == []
    [entry] = await journal(con, "GBDFL_UniversalServiceSync")
    assert entry.outcome == "SCSE001"


async def test_deceased_applicant(con):
    headers = await operator_headers(con)
    status, code, message = await error(await enter(con, headers, body(applicant=DEMO_IINS["deceased"])))
    assert (status, code) == (422, "PERSON_NOT_FOUND") and "deceased" in message


async def test_representative_with_a_valid_power_of_attorney(con):
    headers = await operator_headers(con)
    resp = await enter(con, headers, body(applicant=DISABLED, representative=rep(DEMO_POAS["valid"])))
    assert resp.status == 201, await resp.text()
    out = await resp.json()
    enis = out["checks"]["enis"]
    assert (enis["status"], enis["notarised"], enis["principal"], enis["attorney"]) == ("VALID", True, DISABLED, ATTORNEY)
    assert enis["message"] == ("Power of attorney ДОВ-2025-000001 is VALID (Действительна), valid 2025-03-03..2028-03-02; "
                               "checked on 2026-01-15")
    assert out["representative"] == {"iin": ATTORNEY, "poaNumber": DEMO_POAS["valid"], "notarised": True}
    app = parse_application(con.outbox.sent[0][1].payload)
    assert app.representative.poa_number == DEMO_POAS["valid"] and app.representative.notarised is True
    [entry] = await journal(con, "ENIS_POA_CHECK")
    assert (entry.sender_id, entry.outcome) == ("arm-con", "SCSS001")


@pytest.mark.parametrize(
    "applicant, number, code, fragment",
    [
        (APPLICANT, DEMO_POAS["expired"], "POA_NOT_VALID",
         "ENIS verdict EXPIRED: Power of attorney ДОВ-2023-000002 is EXPIRED (Срок действия истёк), valid 2023-02-10..2024-02-09"),
        (DEMO_IINS["parent_of_large_family"], DEMO_POAS["revoked"], "POA_NOT_VALID",
         "ENIS verdict REVOKED: Power of attorney ДОВ-2025-000003 is REVOKED (Отменена), valid 2025-01-20..2027-01-19, revoked on 2025-10-01"),
        (DISABLED, "ДОВ-2099-999999", "POA_NOT_FOUND", "ENIS: Power of attorney not found: no record with number"),
        (APPLICANT, DEMO_POAS["valid"], "POA_NOT_VALID", f"is from {DISABLED} to {ATTORNEY}, not from the applicant"),
        (DEMO_IINS["foreigner"], DEMO_POAS["not_notarised"], "POA_NOT_VALID", "is not notarised"),
    ],
)
async def test_representative_with_an_unusable_power_of_attorney(con, applicant, number, code, fragment):
    headers = await operator_headers(con)
    status, got, message = await error(await enter(con, headers, body(applicant=applicant, representative=rep(number))))
    assert (status, got) == (422, code) and fragment in message, message
    assert con.outbox.sent == []
    assert len(await journal(con, "ENIS_POA_CHECK")) == 1  # ENIS was asked, and said so


async def test_non_notarised_power_of_attorney_is_entered_not_checked(con):
    headers = await operator_headers(con)
    poa = rep(DEMO_POAS["not_notarised"], notarised=False, issuedOn="2025-06-16", validTo="2027-06-15",
              issuer="ТОО работодатель")  # fmt: skip
    resp = await enter(con, headers, body(applicant=DEMO_IINS["foreigner"], representative=poa))
    assert resp.status == 201, await resp.text()
    out = await resp.json()
    assert out["checks"]["poaEntered"]["validTo"] == "2027-06-15" and "enis" not in out["checks"]
    assert await journal(con, "ENIS_POA_CHECK") == []
    assert parse_application(con.outbox.sent[0][1].payload).representative.notarised is False


async def test_non_notarised_power_of_attorney_out_of_its_dates(con):
    headers = await operator_headers(con)
    poa = rep("Б/Н-17", notarised=False, issuedOn="2024-01-01", validTo="2025-01-01")
    status, code, message = await error(await enter(con, headers, body(representative=poa)))
    assert (status, code) == (422, "POA_NOT_VALID") and "not on 2026-01-15" in message
    poa = rep("Б/Н-17", notarised=False)
    status, code, message = await error(await enter(con, headers, body(representative=poa)))
    assert (status, code) == (400, "INVALID_PARAMETER") and "needs issuedOn and validTo" in message


async def test_service_without_a_state_corporation_channel(con):
    headers = await operator_headers(con)
    status, code, message = await error(await enter(con, headers, body(service="employment-referrals")))
    assert (status, code) == (403, "FORBIDDEN") and "not rendered through the State Corporation" in message


@pytest.mark.parametrize(
    "data, code, fragment",
    [
        ({"service": SERVICE}, "INVALID_PARAMETER", "applicant: Field required"),
        ({**body(), "applicant": {"iin": "900101300018"}}, "INVALID_PARAMETER", "checksum"),
        ({**body(), "fields": [{"name": "1bad", "value": "x"}]}, "INVALID_PARAMETER", "fields.0.name"),
        ({**body(), "service": "../etc"}, "INVALID_PARAMETER", "service"),
        ({**body(), "representative": {"iin": APPLICANT, "poa": {"number": "x", "notarised": True}}},
         "INVALID_PARAMETER", "cannot represent themself"),
    ],
)  # fmt: skip
async def test_hostile_entry(con, data, code, fragment):
    headers = await operator_headers(con)
    status, got, message = await error(await enter(con, headers, data))
    assert (status, got) == (400, code) and fragment in message, message


async def test_entry_needs_an_operator(con):
    assert (await error(await enter(con, {}, body())))[:2] == (401, "UNAUTHENTICATED")


# -- result -----------------------------------------------------------------------------------------------------------


async def test_result_retrieval_after_the_response(con, session_pki):
    headers = await operator_headers(con)
    app_id = (await (await enter(con, headers, body())).json())["id"]
    signed = decision("RS-2026-000001", verdict="refused", pki=session_pki,
                      applicant=Applicant(iin=APPLICANT))  # fmt: skip
    await deliver(ConParticipant(), con.gateway, MessageType.RESPONSE, "out-1", signed, "r-1")
    out = await (await con.get(f"/con/applications/{app_id}", headers=headers)).json()
    assert out["status"] == "REFUSED" and out["applicationNumber"] == "RS-2026-000001"
    assert out["result"]["reason"] == "Не представлено заключение ПМПК"
    v = out["result"]["verification"]
    assert v["verified"] is True and (v["signerBin"], v["authorizedPerson"]) == (PROVIDER_BIN, True)
    resp = await con.get(f"/con/applications/{app_id}/result", headers=headers)
    assert await resp.read() == signed and resp.headers["X-Signature-Verified"] == "true"
    listing = await (await con.get("/con/applications", headers=headers)).json()
    assert [a["id"] for a in listing["applications"]] == [app_id]


async def test_openapi_lists_the_workstation_routes(con):
    doc = await (await con.get("/openapi.json")).json()
    for path in ("/con/auth/login", "/con/me", "/con/applications", "/con/applications/{id}",
                 "/con/applications/{id}/result"):  # fmt: skip
        assert path in doc["paths"], path
    assert doc["components"]["securitySchemes"]["conToken"] == {"type": "http", "scheme": "bearer"}
