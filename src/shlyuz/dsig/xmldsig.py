"""The ``ds:Signature`` element, shared by both signature layers: a strict reader and a builder.

The reader checks the XMLDSig schema's shape (element order and cardinality) with precise messages and resolves the
algorithms (:mod:`shlyuz.dsig.algorithms`); what the references may point at, and which transforms are allowed, is
each layer's business (:mod:`shlyuz.dsig.wsse`, :mod:`shlyuz.dsig.enveloped`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from lxml import etree

from shlyuz.dsig import algorithms as alg
from shlyuz.dsig.algorithms import DS, EXC_C14N_NS
from shlyuz.errors import ErrorCode, ShlyuzError

SIGNATURE = f"{{{DS}}}Signature"
SIGNED_INFO = f"{{{DS}}}SignedInfo"
C14N_METHOD = f"{{{DS}}}CanonicalizationMethod"
SIGNATURE_METHOD = f"{{{DS}}}SignatureMethod"
REFERENCE = f"{{{DS}}}Reference"
TRANSFORMS = f"{{{DS}}}Transforms"
TRANSFORM = f"{{{DS}}}Transform"
DIGEST_METHOD = f"{{{DS}}}DigestMethod"
DIGEST_VALUE = f"{{{DS}}}DigestValue"
SIGNATURE_VALUE = f"{{{DS}}}SignatureValue"
KEY_INFO = f"{{{DS}}}KeyInfo"
X509_DATA = f"{{{DS}}}X509Data"
X509_CERTIFICATE = f"{{{DS}}}X509Certificate"
X509_ISSUER_SERIAL = f"{{{DS}}}X509IssuerSerial"
X509_ISSUER_NAME = f"{{{DS}}}X509IssuerName"
X509_SERIAL_NUMBER = f"{{{DS}}}X509SerialNumber"
INCLUSIVE_NAMESPACES = f"{{{EXC_C14N_NS}}}InclusiveNamespaces"


def invalid(message: str) -> ShlyuzError:
    return ShlyuzError(ErrorCode.SIGNATURE_INVALID, message)


@dataclass(frozen=True, slots=True)
class Transform:
    uri: str
    c14n: alg.C14nAlg | None  # set when the transform is a canonicalisation
    prefixes: tuple[str, ...] | None  # ec:InclusiveNamespaces/@PrefixList, for exclusive c14n


@dataclass(frozen=True, slots=True)
class Reference:
    uri: str | None
    transforms: tuple[Transform, ...]
    digest: alg.DigestAlg
    digest_value: bytes


@dataclass(frozen=True, slots=True)
class ParsedSignature:
    element: etree._Element
    signed_info: etree._Element
    c14n: alg.C14nAlg
    c14n_prefixes: tuple[str, ...] | None
    method: alg.SignatureAlg
    references: tuple[Reference, ...]
    signature_value: bytes
    key_info: etree._Element | None


def _elements(el: etree._Element) -> list[etree._Element]:
    """Element children (comments and PIs skipped); text other than whitespace between them is an error."""
    if el.text and el.text.strip():
        raise invalid(f"ds:{etree.QName(el).localname} holds unexpected text {el.text.strip()[:40]!r}")
    out = []
    for child in el:
        if isinstance(child.tag, str):
            out.append(child)
        if child.tail and child.tail.strip():
            raise invalid(f"ds:{etree.QName(el).localname} holds unexpected text {child.tail.strip()[:40]!r}")
    return out


def _name(el: etree._Element) -> str:
    q = etree.QName(el)
    return f"ds:{q.localname}" if q.namespace == DS else q.text


def _expect(children: list[etree._Element], i: int, tag: str, where: str) -> etree._Element:
    if i >= len(children):
        raise invalid(f"{where} has no ds:{etree.QName(tag).localname}")
    if children[i].tag != tag:
        raise invalid(f"{where}: expected ds:{etree.QName(tag).localname}, found {_name(children[i])}")
    return children[i]


def _prefix_list(method_el: etree._Element, role: str) -> tuple[str, ...] | None:
    """``ec:InclusiveNamespaces/@PrefixList`` under a c14n method element; anything else inside is an error."""
    prefixes: tuple[str, ...] | None = None
    for child in _elements(method_el):
        if child.tag != INCLUSIVE_NAMESPACES or prefixes is not None:
            raise invalid(f"{role} holds an unexpected {_name(child)}")
        prefixes = tuple((child.get("PrefixList") or "").split())
    return prefixes


def _transform(el: etree._Element) -> Transform:
    uri = el.get("Algorithm")
    if uri is None:
        raise invalid("a ds:Transform has no Algorithm attribute")
    c14n = alg.C14N_METHODS.get(uri)
    if c14n is not None:
        prefixes = _prefix_list(el, "ds:Transform")
        return Transform(uri, c14n, prefixes if c14n.exclusive else None)
    if "gost" in uri.lower():
        raise alg.unsupported(uri, "transform")
    return Transform(uri, None, None)  # enveloped-signature, or one the layer will refuse


def _reference(el: etree._Element, allow_sha1: bool) -> Reference:
    children = _elements(el)
    i = 0
    transforms: tuple[Transform, ...] = ()
    if children and children[0].tag == TRANSFORMS:
        items = _elements(children[0])
        if not items:
            raise invalid("ds:Reference/ds:Transforms is empty")
        for t in items:
            if t.tag != TRANSFORM:
                raise invalid(f"ds:Transforms holds {_name(t)}; only ds:Transform is allowed")
        transforms = tuple(_transform(t) for t in items)
        i = 1
    dm = _expect(children, i, DIGEST_METHOD, "ds:Reference")
    dv = _expect(children, i + 1, DIGEST_VALUE, "ds:Reference")
    if len(children) > i + 2:
        raise invalid(f"ds:Reference holds an unexpected {_name(children[i + 2])}")
    if any(isinstance(c.tag, str) for c in dm):
        raise invalid("ds:DigestMethod holds unexpected elements")
    digest = alg.digest_method(dm.get("Algorithm"), allow_sha1=allow_sha1)
    value = alg.b64decode(dv.text, "ds:DigestValue")
    return Reference(el.get("URI"), transforms, digest, value)


def parse_signature(sig: etree._Element, *, allow_sha1: bool = False) -> ParsedSignature:
    """Read a ``ds:Signature``: ``SignedInfo(CanonicalizationMethod, SignatureMethod, Reference+), SignatureValue,
    KeyInfo?``. Algorithms are resolved (UNSUPPORTED_ALGORITHM); a malformed shape is SIGNATURE_INVALID."""
    children = _elements(sig)
    signed_info = _expect(children, 0, SIGNED_INFO, "ds:Signature")
    value_el = _expect(children, 1, SIGNATURE_VALUE, "ds:Signature")
    key_info = None
    rest = children[2:]
    if rest and rest[0].tag == KEY_INFO:
        key_info = rest.pop(0)
    if rest:
        raise invalid(f"ds:Signature holds an unexpected {_name(rest[0])} (ds:Object and Manifests are not accepted)")

    si = _elements(signed_info)
    cm = _expect(si, 0, C14N_METHOD, "ds:SignedInfo")
    sm = _expect(si, 1, SIGNATURE_METHOD, "ds:SignedInfo")
    c14n = alg.c14n_method(cm.get("Algorithm"), "SignedInfo CanonicalizationMethod")
    prefixes = _prefix_list(cm, "ds:CanonicalizationMethod") if c14n.exclusive else None
    method = alg.signature_method(sm.get("Algorithm"), allow_sha1=allow_sha1)
    if any(isinstance(c.tag, str) for c in sm):
        raise invalid("ds:SignatureMethod holds unexpected elements (HMACOutputLength is not accepted)")
    refs = si[2:]
    if not refs:
        raise invalid("ds:SignedInfo has no ds:Reference")
    for r in refs:
        if r.tag != REFERENCE:
            raise invalid(f"ds:SignedInfo holds an unexpected {_name(r)}")
    references = tuple(_reference(r, allow_sha1) for r in refs)
    value = alg.b64decode(value_el.text, "ds:SignatureValue")
    return ParsedSignature(sig, signed_info, c14n, prefixes, method, references, value, key_info)


# -- building ------------------------------------------------------------------------------------------------------


def build_signature(
    parent: etree._Element,
    *,
    method: alg.SignatureAlg,
    uri: str,
    transforms: tuple[str, ...],
    digest_value: bytes,
    index: int | None = None,
) -> tuple[etree._Element, etree._Element, etree._Element, etree._Element]:
    """Append (or insert at ``index``) an exc-c14n ``ds:Signature`` with one SHA-256 Reference; return
    ``(Signature, SignedInfo, SignatureValue, KeyInfo)`` with SignatureValue and KeyInfo still empty."""
    sig = etree.Element(SIGNATURE, nsmap={"ds": DS})
    if index is None:
        parent.append(sig)
    else:
        parent.insert(index, sig)
    si = etree.SubElement(sig, SIGNED_INFO)
    etree.SubElement(si, C14N_METHOD, Algorithm=alg.EXC_C14N)
    etree.SubElement(si, SIGNATURE_METHOD, Algorithm=method.uri)
    ref = etree.SubElement(si, REFERENCE, URI=uri)
    tr = etree.SubElement(ref, TRANSFORMS)
    for t in transforms:
        etree.SubElement(tr, TRANSFORM, Algorithm=t)
    etree.SubElement(ref, DIGEST_METHOD, Algorithm=alg.SHA256)
    etree.SubElement(ref, DIGEST_VALUE).text = base64.b64encode(digest_value).decode("ascii")
    value = etree.SubElement(sig, SIGNATURE_VALUE)
    key_info = etree.SubElement(sig, KEY_INFO)
    return sig, si, value, key_info


def finish_signature(
    signed_info: etree._Element, value_el: etree._Element, key: object, method: alg.SignatureAlg
) -> None:
    """Canonicalise SignedInfo where it now sits (exc-c14n) and fill in the SignatureValue."""
    data = alg.canonicalize(signed_info, alg.C14N_METHODS[alg.EXC_C14N])
    value_el.text = base64.b64encode(alg.sign_bytes(key, method, data)).decode("ascii")
