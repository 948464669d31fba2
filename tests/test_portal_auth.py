"""Portal registration and login over HTTP: IIN + password, IIN/BIN + password, EDS (a nonce signed with AUTH),
tokens on the gateway clock, and hostile input with precise codes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import GATEWAY_NOW, PKI_NOW
from egovkit import APPLICANT
from lxml import etree
from portalkit import PASSWORD, error, make_app, sign_xml

from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.pki.store import Pki, PkiUrls
from shlyuz.pki.subjects import person_subject

EMPLOYER_BIN = "090140541935"  # a foreign-labour employer of the fixtures
EMPLOYER_HEAD = "730506414772"
NOT_FOUND_IIN = "900101300007"  # checksum-valid, never given to a fixture person


@pytest.fixture
async def portal(settings, session_pki, app_client):
    app, gateway, _ = make_app(settings, session_pki)
    client = await app_client(app)
    client.gateway = gateway
    return client


async def register(client, iin=APPLICANT, password=PASSWORD, **kw):
    return await client.post("/portal/register", json={"iin": iin, "password": password, **kw})


async def login(client, iin=APPLICANT, password=PASSWORD, **kw):
    return await client.post("/portal/auth/login", json={"iin": iin, "password": password, **kw})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- registration ---------------------------------------------------------------------------------------------------


async def test_register_and_login_by_iin_and_password(portal):
    resp = await register(portal)
    assert resp.status == 201, await resp.text()
    account = await resp.json()
    assert account["account"] == APPLICANT and account["name"] == "Ахметов Нұрлан Серікұлы"
    assert account["methods"] == ["password"]
    stored = await portal.gateway.records.get("portal-account", APPLICANT)
    assert stored.data["passwordHash"].startswith("scrypt$") and PASSWORD not in str(stored.data)
    resp = await login(portal)
    assert resp.status == 200
    body = await resp.json()
    assert body["tokenType"] == "Bearer" and body["account"]["iin"] == APPLICANT
    me = await portal.get("/portal/me", headers=bearer(body["token"]))
    assert (await me.json())["account"] == APPLICANT
    # only the token's hash is stored
    sessions = await portal.gateway.records.find("portal-session")
    assert len(sessions) == 1 and body["token"] not in sessions[0].key


async def test_register_twice_is_a_conflict(portal):
    assert (await register(portal)).status == 201
    message = f"account {APPLICANT} is already registered: log in, or use another IIN"
    assert await error(await register(portal)) == (409, "CONFLICT", message)


async def test_register_unknown_iin(portal):
    status, code, message = await error(await register(portal, iin=NOT_FOUND_IIN))
    assert (status, code) == (422, "PERSON_NOT_FOUND") and NOT_FOUND_IIN in message


async def test_register_bad_checksum(portal):
    status, code, message = await error(await register(portal, iin="900101300018"))
    assert (status, code) == (400, "INVALID_PARAMETER")
    assert message.startswith("iin: ") and "checksum" in message


async def test_register_weak_password(portal):
    status, code, message = await error(await register(portal, password="qwertyuiop"))
    assert (status, code) == (400, "INVALID_PARAMETER")
    assert message == "password: the password needs an upper-case Latin letter, a digit"
    _, _, message = await error(await register(portal, password=f"Aa{APPLICANT}"))
    assert message == "password: the password must not contain the IIN"


async def test_register_deceased_person(portal):
    status, code, message = await error(await register(portal, iin=DEMO_IINS["deceased"]))
    assert (status, code) == (403, "FORBIDDEN") and "deceased" in message


async def test_employer_staff_register_and_login_by_iin_bin(portal):
    resp = await register(portal, iin=EMPLOYER_HEAD, bin=EMPLOYER_BIN)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["account"] == f"{EMPLOYER_BIN}/{EMPLOYER_HEAD}"
    resp = await login(portal, iin=EMPLOYER_HEAD, bin=EMPLOYER_BIN)
    assert resp.status == 200 and (await resp.json())["account"]["bin"] == EMPLOYER_BIN
    # the same IIN without the BIN is another account (a person's), not registered
    assert (await error(await login(portal, iin=EMPLOYER_HEAD)))[:2] == (401, "ACCOUNT_NOT_FOUND")


async def test_register_for_an_organisation_one_does_not_work_for(portal):
    status, code, message = await error(await register(portal, iin=APPLICANT, bin=EMPLOYER_BIN))
    assert (status, code) == (422, "ORGANISATION_NOT_FOUND") and "neither the head nor an employee" in message
    status, code, message = await error(await register(portal, iin=APPLICANT, bin="020340001011"))  # a system's BIN
    assert (status, code, message) == (422, "ORGANISATION_NOT_FOUND", "BIN 020340001011 is not a registered organisation")


# -- password login -------------------------------------------------------------------------------------------------


async def test_login_wrong_password(portal):
    await register(portal)
    assert await error(await login(portal, password="Wrong2026x")) == (
        401, "LOGIN_FAILED", f"wrong password for account {APPLICANT}")


async def test_login_unknown_account(portal):
    status, code, message = await error(await login(portal, iin=DEMO_IINS["attorney"]))
    assert (status, code) == (401, "ACCOUNT_NOT_FOUND") and "register first" in message


async def test_login_bad_checksum(portal):
    assert (await error(await login(portal, iin="900101300018")))[:2] == (400, "INVALID_PARAMETER")


async def test_token_expires_on_the_gateway_clock(portal):
    await register(portal)
    token = (await (await login(portal)).json())["token"]
    assert (await portal.get("/portal/me", headers=bearer(token))).status == 200
    portal.gateway.clock.advance(timedelta(minutes=29))
    assert (await portal.get("/portal/me", headers=bearer(token))).status == 200
    portal.gateway.clock.advance(timedelta(minutes=1))
    status, code, message = await error(await portal.get("/portal/me", headers=bearer(token)))
    assert (status, code) == (401, "TOKEN_EXPIRED") and "expired at 2026-01-15T10:30:00+05:00" in message
    # and it is gone: the next call does not know it
    assert (await error(await portal.get("/portal/me", headers=bearer(token))))[:2] == (401, "UNAUTHENTICATED")


async def test_logout_ends_the_session(portal):
    await register(portal)
    token = (await (await login(portal)).json())["token"]
    assert (await portal.post("/portal/auth/logout", headers=bearer(token))).status == 204
    assert (await error(await portal.get("/portal/me", headers=bearer(token))))[:2] == (401, "UNAUTHENTICATED")


@pytest.mark.parametrize(
    "headers, message",
    [
        ({}, "no Authorization header: send 'Authorization: Bearer <token>'"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "the Authorization header must be 'Bearer <token>'"),
        ({"Authorization": "Bearer not-a-token"}, "the bearer token is not a portal session (unknown or logged out)"),
    ],
)
async def test_missing_or_bad_token(portal, headers, message):
    assert await error(await portal.get("/portal/cabinet/applications", headers=headers)) == (
        401, "UNAUTHENTICATED", message)


# -- EDS login ------------------------------------------------------------------------------------------------------


async def signed_challenge(client, pki, identity: str) -> str:
    resp = await client.post("/portal/auth/challenge")
    assert resp.status == 201
    body = await resp.json()
    assert body["document"] == f"<login><nonce>{body['nonce']}</nonce></login>"
    return sign_xml(pki, identity, etree.fromstring(body["document"]))


async def eds(client, signed: str):
    return await client.post("/portal/auth/eds", json={"signedXml": signed})


async def test_eds_login_with_a_valid_auth_certificate(portal, session_pki):
    resp = await eds(portal, await signed_challenge(portal, session_pki, f"person/{APPLICANT}/auth"))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["account"]["iin"] == APPLICANT and body["account"]["methods"] == ["eds"]
    me = await portal.get("/portal/me", headers=bearer(body["token"]))
    assert (await me.json())["account"] == APPLICANT
    # an EDS-registered account can add a password later
    assert (await register(portal)).status == 201
    assert (await portal.gateway.records.get("portal-account", APPLICANT)).data["methods"] == ["eds", "password"]


async def test_eds_login_as_an_employer_staff_member(portal, session_pki):
    resp = await eds(portal, await signed_challenge(portal, session_pki, f"org/{EMPLOYER_BIN}/{EMPLOYER_HEAD}/auth"))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["account"]["account"] == f"{EMPLOYER_BIN}/{EMPLOYER_HEAD}"


@pytest.mark.parametrize(
    "identity, code, fragment",
    [
        ("bad/expired", "CERT_EXPIRED", "expired"),
        ("bad/not-yet-valid", "CERT_NOT_YET_VALID", "not valid"),
        ("bad/untrusted", "CERT_UNTRUSTED", "does not chain to a trusted CA"),
        (f"person/{APPLICANT}/sign", "CERT_KEY_USAGE", "auth"),  # a SIGN key used to log in
        ("bad/no-eku", "CERT_KEY_USAGE", "ExtendedKeyUsage"),
    ],
)
async def test_eds_login_refuses_bad_certificates(portal, session_pki, identity, code, fragment):
    status, got, message = await error(await eds(portal, await signed_challenge(portal, session_pki, identity)))
    assert (status, got) == (401, code), message
    assert fragment.lower() in message.lower()
    assert await portal.gateway.records.find("portal-session") == []


async def test_eds_login_with_a_revoked_auth_certificate(settings, tmp_path, app_client):
    pki = Pki.open(tmp_path / "own-pki", now=PKI_NOW, urls=PkiUrls("http://127.0.0.1:8080"))
    pki.issue_identity("manual/applicant-auth", person_subject(APPLICANT, "Ахметов", "Нұрлан"), "auth",
                       key_kind="ec-p256", now=PKI_NOW)  # fmt: skip
    pki.revoke("manual/applicant-auth", "keyCompromise", GATEWAY_NOW - timedelta(days=1))
    app, _, _ = make_app(settings, pki)
    client = await app_client(app)
    status, code, message = await error(await eds(client, await signed_challenge(client, pki, "manual/applicant-auth")))
    assert (status, code) == (401, "CERT_REVOKED") and "revoked" in message


async def test_eds_login_tampered_document(portal, session_pki):
    signed = await signed_challenge(portal, session_pki, f"person/{APPLICANT}/auth")
    tampered = signed.replace("<login>", '<login><extra>1</extra>', 1)
    status, code, message = await error(await eds(portal, tampered))
    assert (status, code) == (401, "SIGNATURE_INVALID") and "digest" in message


async def test_eds_nonce_is_single_use(portal, session_pki):
    signed = await signed_challenge(portal, session_pki, f"person/{APPLICANT}/auth")
    assert (await eds(portal, signed)).status == 200
    status, code, message = await error(await eds(portal, signed))
    assert (status, code) == (401, "CHALLENGE_INVALID") and "already used" in message


async def test_eds_nonce_expires(portal, session_pki):
    signed = await signed_challenge(portal, session_pki, f"person/{APPLICANT}/auth")
    portal.gateway.clock.advance(timedelta(minutes=5))
    status, code, message = await error(await eds(portal, signed))
    assert (status, code) == (401, "CHALLENGE_INVALID") and "expired at" in message


async def test_eds_nonce_never_issued(portal, session_pki):
    signed = sign_xml(session_pki, f"person/{APPLICANT}/auth", etree.fromstring("<login><nonce>made-up</nonce></login>"))
    assert (await error(await eds(portal, signed)))[:2] == (401, "CHALLENGE_INVALID")


async def test_eds_unsigned_document(portal):
    nonce = (await (await portal.post("/portal/auth/challenge")).json())["nonce"]
    status, code, _ = await error(await eds(portal, f"<login><nonce>{nonce}</nonce></login>"))
    assert (status, code) == (401, "SIGNATURE_MISSING")


# -- hostile JSON and XML --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, ctype, status, code, fragment",
    [
        (b"{not json", "application/json", 400, "INVALID_JSON", "body is not JSON"),
        (b"[1, 2]", "application/json", 400, "INVALID_JSON", "must be a JSON object, not list"),
        (b'{"iin": "900101300017"}', "application/json", 400, "INVALID_PARAMETER", "password: Field required"),
        (b'{"iin": 900101300017, "password": "x"}', "application/json", 400, "INVALID_PARAMETER", "iin"),
        (b'{"iin": "900101300017", "password": "Qwerty2026x", "admin": true}', "application/json", 400,
         "INVALID_PARAMETER", "admin: Extra inputs are not permitted"),
        (b"\xff\xfe", "application/json", 400, "INVALID_JSON", "not UTF-8"),
        (b"iin=1", "application/x-www-form-urlencoded", 415, "INVALID_JSON", "Content-Type must be application/json"),
        (b'{"iin": "' + b"9" * 5000 + b'", "password": "x"}', "application/json", 400, "INVALID_PARAMETER", "iin"),
    ],
)
async def test_hostile_json(portal, data, ctype, status, code, fragment):
    resp = await portal.post("/portal/register", data=data, headers={"Content-Type": ctype})
    got = await error(resp)
    assert got[:2] == (status, code) and fragment in got[2], got


async def test_eds_document_with_a_doctype(portal):
    doc = '<!DOCTYPE login [<!ENTITY x SYSTEM "file:///etc/passwd">]><login><nonce>&x;</nonce></login>'
    assert (await error(await eds(portal, doc)))[:2] == (400, "XML_DTD_FORBIDDEN")


async def test_eds_document_not_xml(portal):
    status, code, message = await error(await eds(portal, "<login><nonce>"))
    assert (status, code) == (400, "MALFORMED_XML") and message.startswith("signedXml: ")


async def test_openapi_lists_the_portal_routes(portal):
    doc = await (await portal.get("/openapi.json")).json()
    for path in ("/portal/register", "/portal/auth/login", "/portal/auth/challenge", "/portal/auth/eds",
                 "/portal/services", "/portal/applications", "/portal/cabinet/applications",
                 "/portal/cabinet/applications/{id}", "/portal/cabinet/applications/{id}/result"):  # fmt: skip
        assert path in doc["paths"], path
    assert doc["components"]["securitySchemes"]["portalToken"] == {"type": "http", "scheme": "bearer"}
    assert "Register" in doc["components"]["schemas"] and "LoginOut" in doc["components"]["schemas"]
