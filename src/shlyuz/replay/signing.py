"""Signature facts of recorded messages, and the PKI identity to re-sign them with.

Sans-IO: facts are read from the message itself (the certificate in the WS-Security ``KeyIdentifier`` / ``X509Data``
or in the data signature's ``KeyInfo``), not verified: replay re-signs rather than trusting old signatures.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from lxml import etree

from shlyuz.errors import ShlyuzError
from shlyuz.replay.format import SignatureFact, Signatures
from shlyuz.shep import ns
from shlyuz.xml.safe import DEFAULT_LIMITS, XmlLimits, parse

DS_SIGNATURE = ns.q(ns.DS, "Signature")
WSSE_SECURITY = ns.q(ns.WSSE, "Security")
KEY_IDENTIFIER = ns.q(ns.WSSE, "KeyIdentifier")
X509_CERTIFICATE = ns.q(ns.DS, "X509Certificate")
X509_ISSUER_NAME = ns.q(ns.DS, "X509IssuerName")
X509_SERIAL = ns.q(ns.DS, "X509SerialNumber")
XSI_TYPE = ns.q(ns.XSI, "type")


def _cert(text: str | None) -> x509.Certificate | None:
    try:
        return x509.load_der_x509_certificate(base64.b64decode("".join((text or "").split()), validate=True))
    except (binascii.Error, ValueError, TypeError):
        return None


def cert_fact(cert: x509.Certificate, key_ref: str | None, identity: str | None = None) -> SignatureFact:
    from shlyuz.pki.subjects import dn_string

    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        purpose = "sign" if usage.content_commitment else "auth"
    except x509.ExtensionNotFound:
        purpose = None
    return SignatureFact(
        identity=identity, subject=dn_string(cert.subject), issuer=dn_string(cert.issuer),
        serial=f"{cert.serial_number:x}", purpose=purpose, keyRef=key_ref,
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )  # fmt: skip


def _signature_fact(signature: etree._Element) -> SignatureFact:
    key_id = signature.find(f".//{KEY_IDENTIFIER}")
    if key_id is not None and (cert := _cert(key_id.text)) is not None:
        return cert_fact(cert, "key-identifier")
    x509_cert = signature.find(f".//{X509_CERTIFICATE}")
    if x509_cert is not None and (cert := _cert(x509_cert.text)) is not None:
        return cert_fact(cert, "x509-certificate")
    serial = signature.findtext(f".//{X509_SERIAL}")
    issuer = signature.findtext(f".//{X509_ISSUER_NAME}")
    if serial and serial.strip().isdigit():
        return SignatureFact(issuer=issuer, serial=f"{int(serial.strip()):x}", keyRef="issuer-serial")
    return SignatureFact()


def _data_element(root: etree._Element) -> etree._Element | None:
    body = root.find(ns.q(ns.SOAP11, "Body"))
    if body is None:
        return None
    for el in body.iter("data"):
        return el
    return None


def data_document(data: etree._Element, limits: XmlLimits = DEFAULT_LIMITS) -> etree._Element | None:
    """The element a data signature sits in: ``data`` itself (inline), its single child (wrapped), or the parsed
    escaped string (a copy: re-signing it means writing it back)."""
    if any(c.tag == DS_SIGNATURE for c in data):
        return data
    kids = [c for c in data if isinstance(c.tag, str)]
    if len(kids) == 1 and any(c.tag == DS_SIGNATURE for c in kids[0]):
        return kids[0]
    if not kids and (data.text or "").lstrip().startswith("<"):
        try:
            inner = parse(data.text.encode("utf-8"), limits)
        except ShlyuzError:
            return None
        return inner if any(c.tag == DS_SIGNATURE for c in inner) else None
    return None


def message_facts(body: bytes, limits: XmlLimits = DEFAULT_LIMITS) -> tuple[SignatureFact | None, SignatureFact | None]:
    """(WS-Security fact, data-signature fact) of a SOAP message; ``None`` where it carries none or is not XML."""
    try:
        root = parse(body, limits)
    except ShlyuzError:
        return None, None
    wsse = None
    header = root.find(ns.q(ns.SOAP11, "Header"))
    security = header.find(WSSE_SECURITY) if header is not None else None
    if security is not None:
        sig = security.find(DS_SIGNATURE)
        wsse = _signature_fact(sig) if sig is not None else SignatureFact()
    data = _data_element(root)
    doc = data_document(data, limits) if data is not None else None
    sig = next((c for c in doc if c.tag == DS_SIGNATURE), None) if doc is not None else None
    return wsse, (_signature_fact(sig) if sig is not None else None)


def signatures_of(request: bytes, response: bytes, limits: XmlLimits = DEFAULT_LIMITS,
                  name_of: Callable[[SignatureFact], str | None] | None = None) -> Signatures:  # fmt: skip
    req_wsse, req_data = message_facts(request, limits)
    resp_wsse, resp_data = message_facts(response, limits)
    facts = Signatures(wsse=req_wsse, data=req_data, responseWsse=resp_wsse, responseData=resp_data)
    if name_of is not None:
        for fact in (facts.wsse, facts.data, facts.response_wsse, facts.response_data):
            if fact is not None and fact.identity is None:
                fact.identity = name_of(fact)
    return facts


@dataclass
class IdentityIndex:
    """Finds the PKI identity of a recorded signature: the same serial and subject first (the same PKI), else the
    same subject and purpose (the same fixture identity issued by another PKI)."""

    pki: Any  # shlyuz.pki.store.Pki

    def resolve(self, fact: SignatureFact) -> str | None:
        records = self.pki.records()
        if fact.serial is not None:  # the very certificate, revoked or expired ones included (bad/revoked …)
            serial = int(fact.serial, 16)
            for r in records:
                if r.serial == serial and (fact.subject is None or r.subject == fact.subject):
                    return r.name
        if fact.subject is None:
            return None
        records = [r for r in records if r.revoked_at is None]
        same = [r for r in records if r.subject == fact.subject]
        if fact.purpose is not None:
            preferred = [r for r in same if r.name.endswith("/" + fact.purpose)]
            same = preferred or same
        return same[0].name if len(same) >= 1 else None


def strip_wsse(root: etree._Element) -> bool:
    header = root.find(ns.q(ns.SOAP11, "Header"))
    if header is None:
        return False
    found = False
    for block in header.findall(WSSE_SECURITY):
        header.remove(block)
        found = True
    return found


def resign_data(root: etree._Element, signer: Any, limits: XmlLimits = DEFAULT_LIMITS) -> bool:
    """Replace the enveloped data signature by a new one from ``signer``; False when there is none."""
    data = _data_element(root)
    if data is None:
        return False
    doc = data_document(data, limits)
    if doc is None:
        return False
    for sig in [c for c in doc if c.tag == DS_SIGNATURE]:
        _remove_keeping_tail(sig)
    signer.data(doc)
    if doc is not data and doc.getparent() is None:  # the escaped string: write it back
        data.text = etree.tostring(doc, encoding="unicode")
    return True


def _remove_keeping_tail(el: etree._Element) -> None:
    parent = el.getparent()
    if el.tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)
