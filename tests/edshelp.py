"""Helpers for the gateway EDS tests (test helper, not a test module).

API::

    APPLICANT, ATTORNEY, GBDFL, WSS, SYNC, BODY_ID_ARGS, NSMAP, WSU_ID, VERIFICATION_TIME
    xmlsec1(*args) -> CompletedProcess              runs the Debian xmlsec1 (part of the test bed: fails if absent)
    gbdfl(iin) -> payload element                   a GBD FL Request by IIN
    message(iin=APPLICANT, **kw) -> SendMessage     GBDFL_UniversalServiceSync, message_id unique
    signed(pki, name, iin=APPLICANT, **kw) -> etree  a request WS-Security-signed by identity ``name``, parsed
    key_identifier(cert) -> str                      wsse:SecurityTokenReference/KeyIdentifier (X509v3) markup
    wsse_template(envelope_bytes, method, key_info, body_id) -> bytes   empty ds:Signature in wsse:Security
    craft_signature(security, key, cert, target, uri, method_uri=None, digest_uri=SHA256)
        a cryptographically valid ds:Signature over ``target`` (exc-c14n) with Reference URI ``uri``
    expect_fault(shep, body, code, fragment, path=WSS, faultcode="soap:Client") -> Fault
    expect_ok(shep, body, path=WSS) -> (Reply, SyncResponse)
    journal(shep, message_id) -> ExchangeRecord
    assert_chain(chain, certs)                       a verdict's chain (subject strings, leaf first) names ``certs``
    own_gateway(settings, pki, clock=None) -> async context manager yielding a conftest.Shep
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import subprocess
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from conftest import GATEWAY_NOW, Shep
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from lxml import etree

from shlyuz.client import SendMessage, payload
from shlyuz.clock import FixedClock
from shlyuz.dsig import algorithms as alg
from shlyuz.dsig import xmldsig as xd
from shlyuz.dsig.signer import signer_for
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.gateway.app import build_gateway, create_app
from shlyuz.shep import ns
from shlyuz.shep.events import SyncResponse
from shlyuz.shep.responses import Fault
from shlyuz.storage.base import JournalQuery

APPLICANT = DEMO_IINS["applicant"]
ATTORNEY = DEMO_IINS["attorney"]
GBDFL = "GBDFL_UniversalServiceSync"
WSS = "/bip-sync-wss-gost/"
SYNC = "/bip-sync/"
XMLSEC1 = shutil.which("xmlsec1")
BODY_ID_ARGS = ["--id-attr:Id", f"{ns.SOAP11}:Body"]  # xmlsec1 matches the attribute by local name: wsu:Id
NSMAP = {"ds": alg.DS, "wsse": ns.WSSE, "wsu": ns.WSU, "soap": ns.SOAP11}
WSU_ID = f"{{{ns.WSU}}}Id"
# xmlsec1 judges certificates by the real clock unless told otherwise; the test PKI lives at the gateway clock
VERIFICATION_TIME = ["--verification-time", GATEWAY_NOW.astimezone().strftime("%Y-%m-%d %H:%M:%S")]


def xmlsec1(*args: str | Path) -> subprocess.CompletedProcess:
    assert XMLSEC1 is not None, "xmlsec1 (Debian package xmlsec1) is part of the test bed"
    return subprocess.run([XMLSEC1, *map(str, args)], capture_output=True, text=True, timeout=60)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def gbdfl(iin: str) -> etree._Element:
    return payload(ns.GBDFL_MESSAGE, "Request", {"messageId": "1", "senderCode": "shlyuz-demo", "iin": iin})


def message(iin: str = APPLICANT, **kw) -> SendMessage:
    return SendMessage(GBDFL, gbdfl(iin), **kw)


def parse(body: bytes) -> etree._Element:
    return etree.fromstring(body)


def tobytes(env: etree._Element) -> bytes:
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def signed(pki, name: str, iin: str = APPLICANT, **kw) -> etree._Element:
    return parse(message(iin, wsse_signer=signer_for(pki, name), **kw).to_bytes())


def body_of(env: etree._Element) -> etree._Element:
    return env.find("soap:Body", NSMAP)


def security_of(env: etree._Element) -> etree._Element:
    return env.find("soap:Header/wsse:Security", NSMAP)


def key_identifier(cert: x509.Certificate) -> str:
    return (
        f'<wsse:SecurityTokenReference xmlns:wsse="{ns.WSSE}"><wsse:KeyIdentifier EncodingType="'
        'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary" '
        'ValueType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3">'
        f"{b64(cert.public_bytes(Encoding.DER))}</wsse:KeyIdentifier></wsse:SecurityTokenReference>"
    )


WSSE_TEMPLATE = """<ds:Signature xmlns:ds="{ds}"><ds:SignedInfo>
<ds:CanonicalizationMethod Algorithm="{exc}"/><ds:SignatureMethod Algorithm="{method}"/>
<ds:Reference URI="#{body_id}"><ds:Transforms><ds:Transform Algorithm="{exc}"/></ds:Transforms>
<ds:DigestMethod Algorithm="{sha256}"/><ds:DigestValue/></ds:Reference></ds:SignedInfo>
<ds:SignatureValue/><ds:KeyInfo>{key_info}</ds:KeyInfo></ds:Signature>"""


def wsse_template(envelope: bytes, *, method: str, key_info: str, body_id: str) -> bytes:
    """``envelope`` (with ``<soap:Header/>`` and ``<soap:Body>`` as shlyuz's client writes them) with an empty
    ds:Signature in wsse:Security referencing ``#body_id``, and ``wsu:Id=body_id`` on the Body."""
    assert b"<soap:Header/>" in envelope and b"<soap:Body>" in envelope
    signature = WSSE_TEMPLATE.format(
        ds=alg.DS, exc=alg.EXC_C14N, method=method, body_id=body_id, sha256=alg.SHA256, key_info=key_info
    )
    security = f'<wsse:Security xmlns:wsse="{ns.WSSE}" soap:mustUnderstand="1">{signature}</wsse:Security>'
    return envelope.replace(b"<soap:Header/>", f"<soap:Header>{security}</soap:Header>".encode()).replace(
        b"<soap:Body>", f'<soap:Body xmlns:wsu="{ns.WSU}" wsu:Id="{body_id}">'.encode()
    )


def craft_signature(
    security: etree._Element, key, cert: x509.Certificate, target: etree._Element, uri: str, *,
    method_uri: str | None = None, digest_uri: str = alg.SHA256,
) -> etree._Element:  # fmt: skip
    """Append to ``security`` a valid ds:Signature whose one Reference (``uri``, exc-c14n) digests ``target``."""
    method = alg.SIGNATURE_METHODS[method_uri] if method_uri else alg.signature_method_for_key(key)
    sig = etree.SubElement(security, xd.SIGNATURE, nsmap={"ds": alg.DS})
    si = etree.SubElement(sig, xd.SIGNED_INFO)
    etree.SubElement(si, xd.C14N_METHOD, Algorithm=alg.EXC_C14N)
    etree.SubElement(si, xd.SIGNATURE_METHOD, Algorithm=method.uri)
    ref = etree.SubElement(si, xd.REFERENCE, URI=uri)
    etree.SubElement(etree.SubElement(ref, xd.TRANSFORMS), xd.TRANSFORM, Algorithm=alg.EXC_C14N)
    etree.SubElement(ref, xd.DIGEST_METHOD, Algorithm=digest_uri)
    exc = alg.C14N_METHODS[alg.EXC_C14N]
    digest = alg.digest(alg.canonicalize(target, exc), alg.DIGEST_METHODS[digest_uri])
    etree.SubElement(ref, xd.DIGEST_VALUE).text = b64(digest)
    value = etree.SubElement(sig, xd.SIGNATURE_VALUE)
    key_info = etree.SubElement(sig, xd.KEY_INFO)
    key_info.append(etree.fromstring(key_identifier(cert)))
    value.text = b64(alg.sign_bytes(key, method, alg.canonicalize(si, exc)))
    return sig


async def expect_fault(
    shep, body: bytes, code: str, fragment: str = "", *, path: str = WSS, faultcode: str = "soap:Client"
) -> Fault:
    reply = await shep.post(body, path=path)
    assert reply.status == 500, reply.body
    parsed = reply.parsed
    assert isinstance(parsed, Fault), reply.body
    assert parsed.error is not None and parsed.error.error_code == code, parsed
    assert parsed.faultcode == faultcode, parsed
    assert fragment in parsed.error.error_message, parsed.error.error_message
    assert parsed.faultstring.startswith(f"{code}: ")
    assert b"Traceback" not in reply.body
    return parsed


async def expect_ok(shep, body: bytes, *, path: str = WSS):
    reply = await shep.post(body, path=path)
    assert reply.status == 200, reply.body
    parsed = reply.parsed
    assert isinstance(parsed, SyncResponse), parsed
    assert parsed.status.value == "SCSS001", (parsed.status, parsed.status_message)
    return reply, parsed


async def journal(shep, message_id: str):
    [record] = await shep.gateway.storage.query_exchanges(JournalQuery(message_id=message_id))
    return record


def assert_chain(chain: list[str], certs) -> None:
    """The verdict's chain names exactly ``certs`` (leaf first). Compared by CN and serial number attributes, so
    that the short names the journal uses for NCA attributes (SERIALNUMBER, G, …) do not matter."""
    assert len(chain) == len(certs), chain
    for entry, cert in zip(chain, certs, strict=True):
        for attr in cert.subject:
            if attr.oid in (NameOID.COMMON_NAME, NameOID.SERIAL_NUMBER, NameOID.COUNTRY_NAME):
                assert f"={attr.value}" in entry, (entry, cert.subject)


def person_iins(resp: SyncResponse) -> list[str]:
    assert resp.payload is not None
    out = []
    for el in resp.payload.iter():
        if isinstance(el.tag, str) and etree.QName(el).localname == "person":
            out += ["".join(c.itertext()) for c in el if isinstance(c.tag, str) and etree.QName(c).localname == "iin"]
    return out


@contextlib.asynccontextmanager
async def own_gateway(settings, pki, clock=None):
    """A gateway like the ``shep`` fixture's, for settings or a PKI of the test's own."""
    gateway = build_gateway(settings, clock=clock or FixedClock(GATEWAY_NOW), pki=pki)
    async with TestClient(TestServer(create_app(gateway), host="127.0.0.1")) as client:
        yield Shep(client, gateway)
