"""The transport signature: WS-Security over ``soap:Body``, the way SHEP and its clients place it (kz_egov.md §1.7a).

``wsu:Id="id-<uuid>"`` on the Body; ``wsse:Security`` (``soap:mustUnderstand="1"``) in the Header holding one
``ds:Signature``: exclusive c14n, RSA-SHA256 or ECDSA-SHA256, one ``Reference URI="#id-…"`` with the single exc-c14n
transform and a SHA-256 digest; the certificate in ``KeyInfo/wsse:SecurityTokenReference/wsse:KeyIdentifier``
(ValueType X509v3, the whole DER certificate in base64) or, as SHEP itself answers, an ``X509IssuerSerial`` that the
caller resolves from its certificate store.

:func:`verify_envelope` refuses everything outside that profile with a message naming the reason; the defences are
listed in docs/dsig.md. It works on the tree the reader already parsed and never re-parses or copies the envelope.
"""

from __future__ import annotations

import base64
import hmac
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from shlyuz.dsig import algorithms as alg
from shlyuz.dsig import xmldsig as xd
from shlyuz.dsig.dn import parse_dn
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.shep import ns

KeyRef = Literal["key-identifier", "issuer-serial", "x509-certificate"]
CertLookup = Callable[[str, int], "x509.Certificate | None"]

ENVELOPE = ns.q(ns.SOAP11, "Envelope")
HEADER = ns.q(ns.SOAP11, "Header")
BODY = ns.q(ns.SOAP11, "Body")
MUST_UNDERSTAND = ns.q(ns.SOAP11, "mustUnderstand")
SECURITY = ns.q(ns.WSSE, "Security")
STR = ns.q(ns.WSSE, "SecurityTokenReference")
KEY_IDENTIFIER = ns.q(ns.WSSE, "KeyIdentifier")
WSSE_REFERENCE = ns.q(ns.WSSE, "Reference")
WSU_ID = ns.q(ns.WSU, "Id")
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64_BINARY = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
XML_NS = "http://www.w3.org/XML/1998/namespace"
# Attributes that can make an element the target of "#id" (wsu:Id, plain Id/ID, wsse:Id, xml:id): all are indexed
# and a value used twice anywhere in the document is refused.
ID_ATTRIBUTES = frozenset({WSU_ID, "Id", "ID", ns.q(ns.WSSE, "Id"), f"{{{XML_NS}}}id"})
_XPATH_LIKE = ("xpath", "xslt", "xmldsig-filter2")


@dataclass(frozen=True, slots=True)
class WsseResult:
    """A verified transport signature. ``signed_body`` is the Envelope's own Body (the element routing reads)."""

    certificate: x509.Certificate
    signed_body: etree._Element = field(repr=False)
    algorithm: str  # "rsa-sha256" | "ecdsa-sha256" | "rsa-sha1"
    key_ref: KeyRef
    body_id: str


# -- signing -------------------------------------------------------------------------------------------------------


def _own_nsmap(el: etree._Element) -> dict[str | None, str]:
    parent = el.getparent()
    inherited = parent.nsmap if parent is not None else {}
    return {p: u for p, u in el.nsmap.items() if inherited.get(p) != u}


def _body_with_wsu(body: etree._Element) -> etree._Element:
    """The Body, with a ``wsu`` prefix in scope. lxml cannot add a namespace declaration to an existing element, so
    when none is in scope the Body is replaced by an equal element that declares ``xmlns:wsu`` (same attributes,
    text and children, moved not copied)."""
    if ns.WSU in body.nsmap.values():
        return body
    nsmap = _own_nsmap(body)
    prefix, n = "wsu", 0
    while prefix in body.nsmap:
        n += 1
        prefix = f"wsu{n}"
    nsmap[prefix] = ns.WSU
    new = etree.Element(body.tag, attrib=dict(body.attrib), nsmap=nsmap)
    new.text, new.tail = body.text, body.tail
    for child in list(body):
        new.append(child)
    parent = body.getparent()
    assert parent is not None
    parent.replace(body, new)
    return new


def _envelope_parts(envelope: etree._Element) -> tuple[etree._Element | None, etree._Element]:
    if envelope.tag != ENVELOPE:
        raise xd.invalid(f"the document element is {etree.QName(envelope).text}, not a SOAP 1.1 Envelope")
    headers = [c for c in envelope if c.tag == HEADER]
    bodies = [c for c in envelope if c.tag == BODY]
    if len(bodies) != 1 or len(headers) > 1:
        raise xd.invalid(
            f"the Envelope has {len(headers)} Header and {len(bodies)} Body elements; one optional Header and "
            "exactly one Body are accepted"
        )
    return (headers[0] if headers else None), bodies[0]


def sign_envelope(
    envelope: etree._Element,
    *,
    key: object,
    cert: x509.Certificate,
    key_ref: Literal["key-identifier", "issuer-serial"] = "key-identifier",
    body_id: str | None = None,
    cert_b64: str | None = None,
) -> etree._Element:
    """Sign ``envelope`` in place the way SHEP does (see the module docstring) and return it.

    ``key`` is the private key of ``cert`` (RSA → rsa-sha256, EC → ecdsa-sha256). The Header is created as the first
    child when absent. The Body gets ``wsu:Id=body_id`` (default ``id-<uuid4>``); if no ``wsu`` prefix is in scope
    the Body element object is replaced (see :func:`_body_with_wsu`), so look it up again after signing.
    ``cert_b64``: ``cert`` as base64 DER, when the caller keeps it (:class:`~shlyuz.dsig.signer.Signer` does).
    """
    header, body = _envelope_parts(envelope)
    if header is not None and header.find(SECURITY) is not None:
        raise ValueError("the envelope already has a wsse:Security header")
    method = alg.signature_method_for_key(key)
    body = _body_with_wsu(body)
    body_id = body_id or f"id-{uuid.uuid4()}"
    body.set(WSU_ID, body_id)
    if header is None:
        header = etree.Element(HEADER)
        envelope.insert(0, header)
    security = etree.SubElement(header, SECURITY, nsmap={"wsse": ns.WSSE})
    security.set(MUST_UNDERSTAND, "1")
    exc = alg.C14N_METHODS[alg.EXC_C14N]
    digest_value = alg.digest(alg.canonicalize(body, exc), alg.DIGEST_METHODS[alg.SHA256])
    _, signed_info, value_el, key_info = xd.build_signature(
        security, method=method, uri=f"#{body_id}", transforms=(alg.EXC_C14N,), digest_value=digest_value
    )
    token = etree.SubElement(key_info, STR)
    if key_ref == "key-identifier":
        ki = etree.SubElement(token, KEY_IDENTIFIER, EncodingType=BASE64_BINARY, ValueType=X509V3)
        ki.text = cert_b64 or base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii")
    elif key_ref == "issuer-serial":
        data = etree.SubElement(token, xd.X509_DATA)
        serial = etree.SubElement(data, xd.X509_ISSUER_SERIAL)
        etree.SubElement(serial, xd.X509_ISSUER_NAME).text = cert.issuer.rfc4514_string()
        etree.SubElement(serial, xd.X509_SERIAL_NUMBER).text = str(cert.serial_number)
    else:
        raise ValueError(f"key_ref must be 'key-identifier' or 'issuer-serial', not {key_ref!r}")
    xd.finish_signature(signed_info, value_el, key, method)
    return envelope


# -- verifying -----------------------------------------------------------------------------------------------------


def _label(el: etree._Element) -> str:
    q = etree.QName(el)
    return f"{{{q.namespace}}}{q.localname}" if q.namespace else q.localname


def _index_ids(envelope: etree._Element) -> dict[str, etree._Element]:
    """Every Id-like attribute value in the document → its element; the same value on two elements is refused."""
    ids: dict[str, etree._Element] = {}
    for el in envelope.iter(etree.Element):
        attrib = el.attrib
        if not attrib:
            continue
        for name, value in attrib.items():
            if name in ID_ATTRIBUTES:
                other = ids.get(value)
                if other is not None and other is not el:
                    raise xd.invalid(
                        f"the Id {value!r} occurs on two elements ({_label(other)} and {_label(el)}): duplicate "
                        "Ids are refused, a reference to them is ambiguous (signature wrapping)"
                    )
                ids[value] = el
    return ids


def _check_reference(ref: xd.Reference, body: etree._Element, ids: dict[str, etree._Element]) -> str:
    uri = ref.uri
    if uri is None:
        raise xd.invalid("the ds:Reference has no URI; it must be #<wsu:Id of soap:Body>")
    if uri == "":
        raise xd.invalid('Reference URI="" (the whole document) is not accepted; it must be #<wsu:Id of soap:Body>')
    if uri.startswith("#xpointer("):
        raise xd.invalid(f"XPointer reference {uri[:60]!r} is not accepted; it must be #<wsu:Id of soap:Body>")
    if not uri.startswith("#"):
        raise xd.invalid(f"external reference {uri[:60]!r} is not accepted; it must be #<wsu:Id of soap:Body>")
    names = [t.uri for t in ref.transforms]
    if len(ref.transforms) != 1 or ref.transforms[0].c14n is None or not ref.transforms[0].c14n.exclusive:
        bad = next((u for u in names if any(x in u.lower() for x in _XPATH_LIKE)), None)
        why = f"the {bad} transform is refused; " if bad else ""
        raise xd.invalid(
            f"{why}the Reference's transforms are [{', '.join(names)}]; SHEP's WS-Security profile allows exactly "
            "one, exclusive c14n (no XPath, XSLT, enveloped-signature or inclusive c14n)"
        )
    target = ids.get(uri[1:])
    if target is None:
        raise xd.invalid(f"Reference URI {uri!r} matches no element with that wsu:Id/Id/ID")
    if target is not body:
        parent = target.getparent()
        where = f" inside {_label(parent)}" if parent is not None else ""
        raise xd.invalid(
            f"Reference URI {uri!r} points at {_label(target)}{where}, not at the soap:Body that is the "
            "Envelope's child: only that Body may be signed (signature wrapping)"
        )
    return uri[1:]


def _issuer_serial(el: etree._Element, cert_lookup: CertLookup | None) -> x509.Certificate:
    name_el, serial_el = el.find(xd.X509_ISSUER_NAME), el.find(xd.X509_SERIAL_NUMBER)
    if name_el is None or serial_el is None:
        raise xd.invalid("ds:X509IssuerSerial needs ds:X509IssuerName and ds:X509SerialNumber")
    name_text, serial_text = (name_el.text or "").strip(), (serial_el.text or "").strip()
    try:
        issuer = parse_dn(name_text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise xd.invalid(f"X509IssuerName {name_text[:80]!r} is not a distinguished name ({exc})") from None
    if not re.fullmatch(r"-?\d{1,60}", serial_text):
        raise xd.invalid(f"X509SerialNumber {serial_text[:60]!r} is not a decimal integer")
    serial, issuer_str = int(serial_text), issuer.rfc4514_string()
    cert = cert_lookup(issuer_str, serial) if cert_lookup is not None else None
    if cert is None:
        raise xd.invalid(
            f"the certificate with serial {serial} issued by {issuer_str} (X509IssuerSerial) is not in the "
            "certificate store"
        )
    if cert.serial_number != serial or cert.issuer != issuer:
        raise xd.invalid(f"the certificate store answered a certificate that is not serial {serial} of {issuer_str}")
    return cert


def _x509_data(
    data: etree._Element, cert_lookup: CertLookup | None, certs_cache: alg.CertCache | None = None
) -> tuple[x509.Certificate, KeyRef]:
    certs = data.findall(xd.X509_CERTIFICATE)
    serials = data.findall(xd.X509_ISSUER_SERIAL)
    if len(certs) > 1:
        raise xd.invalid(f"ds:X509Data holds {len(certs)} certificates; exactly one (the signer's) is accepted")
    if certs:
        return alg.load_certificate_b64(certs[0].text, "ds:X509Certificate", certs_cache), "x509-certificate"
    if len(serials) == 1:
        return _issuer_serial(serials[0], cert_lookup), "issuer-serial"
    raise xd.invalid("ds:X509Data holds neither one ds:X509Certificate nor one ds:X509IssuerSerial")


def _key_info(
    key_info: etree._Element | None, cert_lookup: CertLookup | None, certs_cache: alg.CertCache | None = None
) -> tuple[x509.Certificate, KeyRef]:
    if key_info is None:
        raise xd.invalid("the ds:Signature has no ds:KeyInfo; SHEP sends the certificate in wsse:KeyIdentifier")
    children = [c for c in key_info if isinstance(c.tag, str)]
    if len(children) != 1:
        raise xd.invalid(f"ds:KeyInfo holds {len(children)} elements; exactly one is accepted")
    child = children[0]
    if child.tag == xd.X509_DATA:
        return _x509_data(child, cert_lookup, certs_cache)
    if child.tag != STR:
        raise xd.invalid(f"ds:KeyInfo holds {_label(child)}; expected wsse:SecurityTokenReference or ds:X509Data")
    inner = [c for c in child if isinstance(c.tag, str)]
    if len(inner) != 1:
        raise xd.invalid(f"wsse:SecurityTokenReference holds {len(inner)} elements; exactly one is accepted")
    token = inner[0]
    if token.tag == KEY_IDENTIFIER:
        value_type, encoding = token.get("ValueType"), token.get("EncodingType")
        if value_type != X509V3:
            raise xd.invalid(
                f"wsse:KeyIdentifier ValueType {value_type!r} is not supported; SHEP sends the whole certificate "
                f"(ValueType {X509V3})"
            )
        if encoding not in (None, BASE64_BINARY):
            raise xd.invalid(f"wsse:KeyIdentifier EncodingType {encoding!r} is not supported (Base64Binary only)")
        return alg.load_certificate_b64(token.text, "wsse:KeyIdentifier", certs_cache), "key-identifier"
    if token.tag == xd.X509_DATA:
        return _x509_data(token, cert_lookup, certs_cache)
    if token.tag == WSSE_REFERENCE:
        raise xd.invalid("wsse:Reference to a BinarySecurityToken is not supported; SHEP uses wsse:KeyIdentifier")
    raise xd.invalid(f"wsse:SecurityTokenReference holds {_label(token)}; expected wsse:KeyIdentifier or ds:X509Data")


def verify_envelope(
    envelope: etree._Element,
    *,
    cert_lookup: CertLookup | None = None,
    allow_sha1: bool = False,
    certs_cache: alg.CertCache | None = None,
) -> WsseResult:
    """Verify the WS-Security signature of a parsed SOAP 1.1 envelope.

    ``cert_lookup(issuer, serial)`` resolves an ``X509IssuerSerial`` KeyInfo: ``issuer`` is the issuer DN as
    ``x509.Name.rfc4514_string()`` prints it (key your store by ``cert.issuer.rfc4514_string()``), ``serial`` an int.
    Raises SIGNATURE_MISSING, SIGNATURE_INVALID or UNSUPPORTED_ALGORITHM. Trust in the certificate is not decided
    here: pass ``result.certificate`` to :func:`shlyuz.dsig.certcheck.check_certificate`.
    ``certs_cache``: see :class:`~shlyuz.dsig.algorithms.CertCache`.
    """
    header, body = _envelope_parts(envelope)
    blocks = [] if header is None else [c for c in header if c.tag == SECURITY]
    if not blocks:
        raise ShlyuzError(ErrorCode.SIGNATURE_MISSING, "the envelope has no wsse:Security header")
    if len(blocks) > 1:
        raise xd.invalid(f"the envelope has {len(blocks)} wsse:Security headers; exactly one is accepted")
    signatures = list(blocks[0].iter(xd.SIGNATURE))
    if not signatures:
        raise ShlyuzError(ErrorCode.SIGNATURE_MISSING, "the wsse:Security header holds no ds:Signature")
    if len(signatures) > 1:
        raise xd.invalid(f"the wsse:Security header holds {len(signatures)} ds:Signature elements; exactly one")
    if signatures[0].getparent() is not blocks[0]:
        raise xd.invalid("the ds:Signature must be a direct child of wsse:Security")
    parsed = xd.parse_signature(signatures[0], allow_sha1=allow_sha1)
    if len(parsed.references) != 1:
        raise xd.invalid(
            f"ds:SignedInfo has {len(parsed.references)} references; exactly one, to the soap:Body, is accepted"
        )
    ref = parsed.references[0]
    body_id = _check_reference(ref, body, _index_ids(envelope))
    cert, key_ref = _key_info(parsed.key_info, cert_lookup, certs_cache)
    who = alg.Named(cert)
    public_key = alg.public_key_of(cert, who)
    alg.check_key_fits(public_key, parsed.method, who)
    # A bare-name reference ("#id") drops comment nodes before the transforms (XMLDSig §4.3.3.3), so even an
    # exc-c14n#WithComments transform digests the Body without comments (xmlsec1 agrees: tested).
    transform = ref.transforms[0]
    c14n = alg.C14N_METHODS[alg.EXC_C14N]
    computed = alg.digest(alg.canonicalize(body, c14n, transform.prefixes), ref.digest)
    if not hmac.compare_digest(computed, ref.digest_value):
        raise xd.invalid(
            f"the digest of the soap:Body (Reference #{body_id}) does not match its DigestValue: the Body was "
            "changed after it was signed"
        )
    signed_info = alg.canonicalize(parsed.signed_info, parsed.c14n, parsed.c14n_prefixes)
    alg.verify_bytes(public_key, parsed.method, parsed.signature_value, signed_info, who)
    return WsseResult(cert, body, parsed.method.name, key_ref, body_id)
