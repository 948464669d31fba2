"""Attacks on the WS-Security signature of /bip-sync-wss-gost/, through HTTP: each refused with its own code and a
message naming the reason, and nothing after the signature stage runs (the journal says so)."""

from __future__ import annotations

import base64
import copy

import pytest
from edshelp import (
    APPLICANT, ATTORNEY, NSMAP, WSU_ID, body_of, craft_signature, expect_fault, expect_ok, journal, key_identifier,
    message, own_gateway, parse, person_iins, security_of, signed, tobytes,
)  # fmt: skip
from lxml import etree

from shlyuz.dsig import algorithms as alg
from shlyuz.shep import ns

SIGN = f"person/{APPLICANT}/sign"
CHANGED = "the Body was changed after it was signed"
WRAPPED = "not at the soap:Body that is the Envelope's child"


def iin_of(env: etree._Element) -> etree._Element:
    [iin] = body_of(env).findall(".//requestData/data/iin")
    return iin


async def refused(shep, env: etree._Element, code: str, fragment: str):
    body = tobytes(env)
    message_id = parse(body).findtext(".//requestInfo/messageId")
    f = await expect_fault(shep, body, code, fragment)
    record = await journal(shep, message_id)
    assert record.verdicts["failed_stage"] == "signature" and "dispatch" not in record.timings
    return f


def crafted(pki, name: str = SIGN, *, header_block: bool = True) -> tuple[etree._Element, etree._Element]:
    """A request whose Body has wsu:Id="id-1" and whose Header holds an ``hdr:Info`` block (wsu:Id="hdr-1") and an
    empty wsse:Security; returns (envelope, security) for :func:`craft_signature`."""
    block = f'<hdr:Info xmlns:hdr="urn:hdr" xmlns:wsu="{ns.WSU}" wsu:Id="hdr-1">x</hdr:Info>' if header_block else ""
    text = message().to_bytes().replace(
        b"<soap:Header/>", f'<soap:Header>{block}<wsse:Security xmlns:wsse="{ns.WSSE}"/></soap:Header>'.encode()
    ).replace(b"<soap:Body>", f'<soap:Body xmlns:wsu="{ns.WSU}" wsu:Id="id-1">'.encode())  # fmt: skip
    env = parse(text)
    return env, security_of(env)


async def test_tampered_body(shep, session_pki):
    env = signed(session_pki, SIGN)
    iin_of(env).text = ATTORNEY
    await refused(shep, env, "SIGNATURE_INVALID", CHANGED)


async def test_tampered_signature_value(shep, session_pki):
    env = signed(session_pki, SIGN)
    value = env.find(".//ds:SignatureValue", NSMAP)
    raw = bytearray(base64.b64decode(value.text))
    raw[len(raw) // 2] ^= 0x01
    value.text = base64.b64encode(bytes(raw)).decode()
    await refused(shep, env, "SIGNATURE_INVALID", "the SignatureValue does not verify with the public key")


@pytest.mark.parametrize("change", ["iin", "serviceId"])
async def test_signed_body_moved_into_the_header(shep, session_pki, change):
    """XSW: the signed Body goes into a header wrapper (its digest still matches, its Id moves with it); the
    Envelope's Body, which routing reads, asks for another person or another service."""
    env = signed(session_pki, SIGN)
    body = body_of(env)
    wrapper = etree.SubElement(env.find("soap:Header", NSMAP), "{urn:evil}Wrapper")
    wrapper.append(copy.deepcopy(body))
    del body.attrib[WSU_ID]
    if change == "iin":
        iin_of(env).text = ATTORNEY
    else:
        body.find(".//requestInfo/serviceId").text = "ENIS_POA_CHECK"
    await refused(shep, env, "SIGNATURE_INVALID", WRAPPED)


async def test_signed_body_copied_into_the_header_keeping_its_id(shep, session_pki):
    env = signed(session_pki, SIGN)
    wrapper = etree.SubElement(env.find("soap:Header", NSMAP), "{urn:evil}Wrapper")
    wrapper.append(copy.deepcopy(body_of(env)))
    iin_of(env).text = ATTORNEY
    await refused(shep, env, "SIGNATURE_INVALID", "duplicate Ids are refused")


@pytest.mark.parametrize("where", ["header", "body"])
async def test_duplicate_wsu_id(shep, session_pki, where):
    env = signed(session_pki, SIGN)
    body_id = body_of(env).get(WSU_ID)
    if where == "header":
        etree.SubElement(env.find("soap:Header", NSMAP), "{urn:evil}Extra").set(WSU_ID, body_id)
    else:  # inside the signed payload (requestInfo is schema-checked first, data is open content)
        iin_of(env).set(WSU_ID, body_id)
    await refused(shep, env, "SIGNATURE_INVALID", f"the Id {body_id!r} occurs on two elements")


async def test_reference_to_a_header_block(shep, session_pki):
    ident = session_pki.identity(SIGN)
    env, security = crafted(session_pki)
    craft_signature(security, ident.key, ident.cert, env.find("soap:Header/{urn:hdr}Info", NSMAP), "#hdr-1")
    await refused(shep, env, "SIGNATURE_INVALID", f"points at {{urn:hdr}}Info inside {{{ns.SOAP11}}}Header")


async def test_reference_to_a_wrapper_holding_a_copy_of_the_body(shep, session_pki):
    ident = session_pki.identity(SIGN)
    env, security = crafted(session_pki, header_block=False)
    wrapper = etree.Element("{urn:evil}Wrapper", nsmap={"wsu": ns.WSU})
    env.find("soap:Header", NSMAP).insert(0, wrapper)
    wrapper.set(WSU_ID, "wrap-1")
    inner = copy.deepcopy(body_of(env))
    del inner.attrib[WSU_ID]
    wrapper.append(inner)
    iin_of(env).text = ATTORNEY
    craft_signature(security, ident.key, ident.cert, wrapper, "#wrap-1")
    await refused(shep, env, "SIGNATURE_INVALID", "points at {urn:evil}Wrapper")


async def test_crafted_signature_over_the_body_is_accepted(shep, session_pki):
    """The crafting helper makes valid signatures: over the Body it passes (the refusals are the verifier's)."""
    ident = session_pki.identity(SIGN)
    env, security = crafted(session_pki)
    craft_signature(security, ident.key, ident.cert, body_of(env), "#id-1")
    await expect_ok(shep, tobytes(env))


async def test_comment_injection_reads_the_signed_iin(shep, session_pki):
    """docs/dsig.md: a bare-name reference drops comments, so a comment splitting the signed IIN verifies; the
    gateway must then read the whole signed IIN (itertext), not the text before the comment."""
    env = signed(session_pki, SIGN)
    body = tobytes(env).replace(f"<iin>{APPLICANT}</iin>".encode(), b"<iin>9001<!---->01300017</iin>")
    assert b"<!---->" in body
    reply, resp = await expect_ok(shep, body)
    assert person_iins(resp) == [APPLICANT]
    assert b"9001<" not in reply.body
    message_id = parse(body).findtext(".//requestInfo/messageId")
    assert (await journal(shep, message_id)).verdicts["signature"]["wsse"]["iin"] == APPLICANT


async def test_comment_hiding_signed_text_is_a_change(shep, session_pki):
    env = signed(session_pki, SIGN)
    body = tobytes(env).replace(f"<iin>{APPLICANT}</iin>".encode(), b"<iin>9001<!--01300017-->02143000</iin>")
    await expect_fault(shep, body, "SIGNATURE_INVALID", CHANGED)


async def test_stripped_security_header_is_missing(shep, session_pki):
    env = signed(session_pki, SIGN)
    del body_of(env).attrib[WSU_ID]
    env.find("soap:Header", NSMAP).remove(security_of(env))
    await refused(shep, env, "SIGNATURE_MISSING", "this endpoint requires a WS-Security signature")


async def test_stripped_signature_inside_security_is_missing(shep, session_pki):
    env = signed(session_pki, SIGN)
    security = security_of(env)
    security.remove(security[0])
    await refused(shep, env, "SIGNATURE_MISSING", "the wsse:Security header holds no ds:Signature")


async def test_key_identifier_with_another_certificate(shep, session_pki):
    env = signed(session_pki, SIGN)
    other = session_pki.identity(f"person/{ATTORNEY}/sign").cert
    env.find(".//wsse:KeyIdentifier", NSMAP).text = etree.fromstring(key_identifier(other))[0].text
    f = await refused(shep, env, "SIGNATURE_INVALID", "does not verify with the public key of the certificate")
    assert f"IIN{ATTORNEY}" in f.error.error_message


async def test_sha1_is_unsupported(shep, session_pki):
    ident = session_pki.identity(SIGN)
    env, security = crafted(session_pki)
    craft_signature(security, ident.key, ident.cert, body_of(env), "#id-1", method_uri=alg.RSA_SHA1,
                    digest_uri=alg.SHA1)  # fmt: skip
    await refused(shep, env, "UNSUPPORTED_ALGORITHM", "uses SHA-1, which is refused")


async def test_sha1_is_accepted_when_allowed(settings, session_pki):
    settings.pki.allow_sha1 = True
    ident = session_pki.identity(SIGN)
    env, security = crafted(session_pki)
    craft_signature(security, ident.key, ident.cert, body_of(env), "#id-1", method_uri=alg.RSA_SHA1,
                    digest_uri=alg.SHA1)  # fmt: skip
    async with own_gateway(settings, session_pki) as shep:
        await expect_ok(shep, tobytes(env))
        message_id = env.findtext(".//requestInfo/messageId")
        assert (await journal(shep, message_id)).verdicts["signature"]["wsse"]["algorithm"] == "rsa-sha1"


@pytest.mark.parametrize("uri", [alg.GOST_2015_256_SIGNATURE, alg.GOST_2004_SIGNATURE])
async def test_gost_signature_method_is_unsupported(shep, session_pki, uri):
    env = signed(session_pki, SIGN)
    env.find(".//ds:SignedInfo/ds:SignatureMethod", NSMAP).set("Algorithm", uri)
    f = await refused(shep, env, "UNSUPPORTED_ALGORITHM", "is recognised but not verifiable here")
    assert uri in f.error.error_message
