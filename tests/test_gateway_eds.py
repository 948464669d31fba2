"""EDS through HTTP: the WS-Security and data signatures the gateway verifies and makes, cross-checked with xmlsec1,
and every bad test identity refused with its own fault code. Every reply is validated against the official XSDs."""

from __future__ import annotations

import copy
import uuid

import pytest
from edshelp import (
    APPLICANT, ATTORNEY, BODY_ID_ARGS, GBDFL, NSMAP, SYNC, VERIFICATION_TIME, WSS, assert_chain, expect_fault,
    expect_ok, journal, key_identifier, message, own_gateway, parse, person_iins, tobytes,
    wsse_template, xmlsec1,
)  # fmt: skip
from lxml import etree

from shlyuz.config import ServicePolicy
from shlyuz.dsig import algorithms as alg
from shlyuz.dsig.enveloped import verify_enveloped
from shlyuz.dsig.signer import signer_for
from shlyuz.dsig.wsse import sign_envelope, verify_envelope

SIGN = f"person/{APPLICANT}/sign"
AUTH = f"person/{APPLICANT}/auth"


def response_data(env: etree._Element) -> etree._Element:
    [data] = env.findall("soap:Body/*/response/responseData/data", NSMAP)
    return data


def chain_of(pki, name: str) -> list:
    ident = pki.identity(name)
    return [ident.cert, *ident.chain]


# -- 1. /bip-sync-wss-gost/ and /bip-sync/ with a WS-Security signature ---------------------------------------------


async def test_wss_endpoint_refuses_an_unsigned_request(shep, session_pki):
    msg = message()
    await expect_fault(shep, msg.to_bytes(), "SIGNATURE_MISSING", "this endpoint requires a WS-Security signature")
    record = await journal(shep, msg.message_id)
    assert record.outcome == "SIGNATURE_MISSING" and record.verdicts["failed_stage"] == "signature"
    assert record.verdicts["signature"]["failed"] == "SIGNATURE_MISSING"
    # on this endpoint the gateway signs its faults too
    assert verify_envelope(parse(record.response)).certificate == session_pki.identity("gateway").cert


async def test_wss_endpoint_signed_request_and_signed_reply(shep, session_pki, tmp_path):
    msg = message(wsse_signer=signer_for(session_pki, SIGN))
    reply, resp = await expect_ok(shep, msg.to_bytes())
    assert person_iins(resp) == [APPLICANT]

    record = await journal(shep, msg.message_id)
    assert record.outcome == "SCSS001" and record.endpoint == WSS
    wsse = record.verdicts["signature"]["wsse"]
    assert wsse["verified"] is True and wsse["iin"] == APPLICANT
    assert_chain(wsse["chain"], chain_of(session_pki, SIGN))
    assert wsse["revocation"] == "ocsp" and wsse["purpose"] == "sign"
    assert (wsse["algorithm"], wsse["keyRef"]) == ("rsa-sha256", "key-identifier")
    assert wsse["serial"] == f"{session_pki.identity(SIGN).cert.serial_number:X}"
    assert record.verdicts["signature"]["data"] == "absent"
    # the admin API shows the same verdict
    listed = await (await shep.client.get("/__admin/journal", params={"messageId": msg.message_id})).json()
    assert listed["exchanges"][0]["verdicts"]["signature"]["wsse"] == wsse

    # the reply: WS-Security by the gateway identity, verified by shlyuz and by xmlsec1
    gateway = session_pki.identity("gateway")
    env = parse(reply.body)
    assert verify_envelope(env).certificate == gateway.cert
    (tmp_path / "reply.xml").write_bytes(reply.body)
    ok = xmlsec1("--verify", *VERIFICATION_TIME, "--pubkey-cert-pem", gateway.cert_path, *BODY_ID_ARGS,
                 tmp_path / "reply.xml")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "forged.xml").write_bytes(reply.body.replace(APPLICANT.encode(), ATTORNEY.encode()))
    bad = xmlsec1("--verify", *VERIFICATION_TIME, "--pubkey-cert-pem", gateway.cert_path, *BODY_ID_ARGS,
                  tmp_path / "forged.xml")  # fmt: skip
    assert bad.returncode != 0  # the check has teeth

    # its data: an enveloped signature by system/GBDFL, verified on the data element and as a standalone document
    gbdfl = session_pki.identity("system/GBDFL")
    data = response_data(env)
    assert data[-1].tag == f"{{{alg.DS}}}Signature"
    assert verify_enveloped(data).certificate == gbdfl.cert
    (tmp_path / "data.xml").write_bytes(etree.tostring(copy.deepcopy(data)))
    ok = xmlsec1("--verify", *VERIFICATION_TIME, "--pubkey-cert-pem", gbdfl.cert_path, tmp_path / "data.xml")
    assert ok.returncode == 0, ok.stderr


async def test_wss_endpoint_escaped_request_gets_a_signed_escaped_document(shep, session_pki, tmp_path):
    msg = message(escaped=True, wsse_signer=signer_for(session_pki, SIGN))
    reply, resp = await expect_ok(shep, msg.to_bytes())
    assert person_iins(resp) == [APPLICANT]
    env = parse(reply.body)
    assert verify_envelope(env).certificate == session_pki.identity("gateway").cert
    data = response_data(env)
    assert len(data) == 0 and data.text.lstrip().startswith("<")  # an escaped string, not inline XML
    document = etree.fromstring(data.text.encode())
    gbdfl = session_pki.identity("system/GBDFL")
    assert verify_enveloped(document).certificate == gbdfl.cert
    (tmp_path / "document.xml").write_bytes(data.text.encode())
    ok = xmlsec1("--verify", *VERIFICATION_TIME, "--pubkey-cert-pem", gbdfl.cert_path, tmp_path / "document.xml")
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("spaced", [False, True])
async def test_issuer_serial_key_reference_resolved_from_the_pki(shep, session_pki, spaced):
    """KeyInfo/SecurityTokenReference/X509IssuerSerial, the form SHEP itself answers with; other tools write the
    issuer DN with a space after each comma."""
    ident = session_pki.identity(SIGN)
    msg = message()
    env = sign_envelope(parse(msg.to_bytes()), key=ident.key, cert=ident.cert, key_ref="issuer-serial")
    name = env.find(".//ds:X509IssuerName", NSMAP)
    if spaced:
        name.text = name.text.replace(",", ", ")  # KeyInfo is outside SignedInfo: the signature still holds
    await expect_ok(shep, tobytes(env))
    wsse = (await journal(shep, msg.message_id)).verdicts["signature"]["wsse"]
    assert wsse["keyRef"] == "issuer-serial" and wsse["iin"] == APPLICANT


async def test_both_signatures_by_one_person_cost_one_ocsp_request(shep, session_pki):
    signer = signer_for(session_pki, SIGN)
    msg = message(wsse_signer=signer, data_signer=signer)
    await expect_ok(shep, msg.to_bytes())
    verdict = (await journal(shep, msg.message_id)).verdicts["signature"]
    assert verdict["wsse"]["revocation"] == "ocsp" and verdict["data"]["revocation"] == "cache"
    assert verdict["data"]["verified"] is True and verdict["data"]["iin"] == APPLICANT
    stats = shep.gateway.revocation.stats
    assert (stats.ocsp_requests, stats.cache_hits) == (1, 1)


async def test_plain_endpoint_verifies_a_signature_that_is_present(shep, session_pki):
    msg = message(wsse_signer=signer_for(session_pki, SIGN))
    reply, _ = await expect_ok(shep, msg.to_bytes(), path=SYNC)
    wsse = (await journal(shep, msg.message_id)).verdicts["signature"]["wsse"]
    assert wsse["verified"] is True and wsse["iin"] == APPLICANT and wsse["revocation"] == "ocsp"
    assert parse(reply.body).find("soap:Header/wsse:Security", NSMAP) is None  # sign_responses = "wss-endpoint"


async def test_plain_endpoint_unsigned_still_works(shep):
    msg = message()
    _, resp = await expect_ok(shep, msg.to_bytes(), path=SYNC)
    assert person_iins(resp) == [APPLICANT]
    assert (await journal(shep, msg.message_id)).verdicts["signature"] == {"wsse": "absent", "data": "absent"}


# -- 2. requests signed by xmlsec1 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key_info", ["key-identifier", "x509-certificate"])
async def test_request_signed_by_xmlsec1_is_accepted(shep, session_pki, tmp_path, key_info):
    ident = session_pki.identity(SIGN)
    msg = message()
    body_id = f"id-{uuid.uuid4()}"
    x509_data = "<ds:X509Data><ds:X509Certificate/></ds:X509Data>"  # xmlsec1 fills in the certificate
    ki = key_identifier(ident.cert) if key_info == "key-identifier" else x509_data
    template = wsse_template(msg.to_bytes(), method=alg.RSA_SHA256, key_info=ki, body_id=body_id)
    (tmp_path / "template.xml").write_bytes(template)
    done = xmlsec1("--sign", *VERIFICATION_TIME, "--privkey-pem", f"{ident.key_path},{ident.cert_path}",
                   *BODY_ID_ARGS, "--output", tmp_path / "signed.xml", tmp_path / "template.xml")  # fmt: skip
    assert done.returncode == 0, done.stderr
    signed = (tmp_path / "signed.xml").read_bytes()
    assert b"<ds:DigestValue/>" not in signed and b"<ds:SignatureValue/>" not in signed
    _, resp = await expect_ok(shep, signed)
    assert person_iins(resp) == [APPLICANT]
    wsse = (await journal(shep, msg.message_id)).verdicts["signature"]["wsse"]
    assert wsse["verified"] is True and wsse["keyRef"] == key_info and wsse["iin"] == APPLICANT


# -- 3. the bad identities ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "code", "fragment"), [
    ("bad/expired", "CERT_EXPIRED", "expired on"),
    ("bad/not-yet-valid", "CERT_NOT_YET_VALID", "is not valid before"),
    ("bad/revoked", "CERT_REVOKED", "was revoked on 2025-12-01T03:00:00Z"),
    ("bad/untrusted", "CERT_UNTRUSTED", "does not chain to a trusted CA"),
    ("bad/no-eku", "CERT_KEY_USAGE", "has no ExtendedKeyUsage"),
])  # fmt: skip
async def test_bad_identity_on_the_transport_signature(shep, session_pki, name, code, fragment):
    msg = message(wsse_signer=signer_for(session_pki, name))
    f = await expect_fault(shep, msg.to_bytes(), code, fragment)
    assert f"SERIALNUMBER=IIN{APPLICANT}" in f.error.error_message
    record = await journal(shep, msg.message_id)
    assert record.verdicts["signature"] == {"failed": code, "reason": f.error.error_message}


async def test_revocation_reason_is_named_as_in_rfc_5280(shep, session_pki):
    """docs/dsig.md and RevocationStatus.reason: "(reason: keyCompromise)", the CRLReason name, not the Python enum's
    member name "key_compromise" (regression: gateway/revocation.py _reason once used ReasonFlags.name)."""
    msg = message(wsse_signer=signer_for(session_pki, "bad/revoked"))
    await expect_fault(shep, msg.to_bytes(), "CERT_REVOKED", "(reason: keyCompromise) according to OCSP")


async def test_expired_certificate_costs_no_ocsp_round_trip(shep, session_pki):
    msg = message(wsse_signer=signer_for(session_pki, "bad/expired"))
    await expect_fault(shep, msg.to_bytes(), "CERT_EXPIRED")
    assert shep.gateway.revocation.stats.ocsp_requests == 0


async def test_auth_certificate_may_not_sign_a_document(shep, session_pki):
    msg = message(data_signer=signer_for(session_pki, "bad/auth-used-for-signing"))
    f = await expect_fault(shep, msg.to_bytes(), "CERT_KEY_USAGE", "is not a signing (SIGN) certificate", path=SYNC)
    assert "nonRepudiation" in f.error.error_message


@pytest.mark.parametrize("name", ["bad/auth-used-for-signing", AUTH])
async def test_auth_certificate_may_sign_the_transport_signature(shep, session_pki, name):
    msg = message(wsse_signer=signer_for(session_pki, name))
    await expect_ok(shep, msg.to_bytes())
    wsse = (await journal(shep, msg.message_id)).verdicts["signature"]["wsse"]
    assert wsse["verified"] is True and wsse["purpose"] == "auth" and wsse["iin"] == APPLICANT


@pytest.fixture
async def strict(settings, session_pki):
    """GBD FL requires a data signature by the person whose IIN the request names."""
    settings.services = {GBDFL: ServicePolicy(require_data_signature=True, match_iin_field="iin")}
    async with own_gateway(settings, session_pki) as shep:
        yield shep


async def test_data_signed_by_someone_else_is_iin_mismatch(strict, session_pki):
    msg = message(APPLICANT, data_signer=signer_for(session_pki, "bad/other-iin"))
    f = await expect_fault(strict, msg.to_bytes(), "IIN_MISMATCH", f"the request names IIN {APPLICANT}", path=SYNC)
    assert f"belongs to IIN {ATTORNEY}" in f.error.error_message


@pytest.mark.parametrize("escaped", [False, True])
async def test_data_signed_by_the_person_is_accepted(strict, session_pki, escaped):
    msg = message(APPLICANT, escaped=escaped, data_signer=signer_for(session_pki, SIGN))
    _, resp = await expect_ok(strict, msg.to_bytes(), path=SYNC)
    assert person_iins(resp) == [APPLICANT]
    verdict = (await journal(strict, msg.message_id)).verdicts["signature"]
    assert verdict["wsse"] == "absent"
    assert verdict["data"]["verified"] is True and verdict["data"]["iin"] == APPLICANT
    assert verdict["data"]["purpose"] == "sign" and verdict["data"]["revocation"] == "ocsp"


async def test_missing_data_signature_is_refused_where_required(strict, session_pki):
    await expect_fault(strict, message(APPLICANT).to_bytes(), "SIGNATURE_MISSING",
                       f"serviceId {GBDFL!r} requires the data payload to carry an enveloped ds:Signature", path=SYNC)
    # a transport signature is no substitute for the data signature
    msg = message(APPLICANT, wsse_signer=signer_for(session_pki, SIGN))
    await expect_fault(strict, msg.to_bytes(), "SIGNATURE_MISSING", "requires the data payload", path=SYNC)
