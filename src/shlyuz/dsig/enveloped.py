"""The business-data signature: an enveloped XMLDSig as the last child of the payload's document element
(kz_egov.md §1.7b; what NCANode ``/xml/sign`` and Santuario produce).

"The document" is the payload root taken as a standalone document: for an escaped-string payload that is the parsed
root; for inline data it is the ``data`` element itself (or the document it wraps, see
:func:`shlyuz.shep.reader.payload_root`) cut out of the SOAP envelope. Verification canonicalises a
``copy.deepcopy`` of it — lxml's copy keeps the element's own namespace declarations plus those of its ancestors
that the subtree uses in element or attribute names, and drops the rest (``soap:``, ``ns3:`` …) — so an inclusive
c14n signature made on the document before it was embedded still verifies. shlyuz signs with exclusive c14n (both
SignedInfo and the reference transform), which does not depend on ancestors at all.

The reference is ``URI=""`` with transforms exactly ``[enveloped-signature, one c14n]``; the certificate is in
``KeyInfo/X509Data/X509Certificate``. Per XMLDSig §4.3.3.3 ``URI=""`` drops comments before the transforms, so a
``#WithComments`` c14n transform still digests the document without comments (xmlsec1 agrees, tested; Santuario
implements the same rule of the specification, not tested here).
"""

from __future__ import annotations

import base64
import copy
import hmac
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from shlyuz.dsig import algorithms as alg
from shlyuz.dsig import xmldsig as xd
from shlyuz.errors import ErrorCode, ShlyuzError


@dataclass(frozen=True, slots=True)
class EnvelopedResult:
    """A verified data signature. ``signed_root`` is the element passed in (its content minus the Signature is what
    was signed)."""

    certificate: x509.Certificate
    signed_root: etree._Element = field(repr=False)
    algorithm: str  # "rsa-sha256" | "ecdsa-sha256" | "rsa-sha1"
    c14n: str  # the reference's c14n transform, e.g. "exc-c14n" or "c14n#WithComments"


def _label(el: etree._Element) -> str:
    return etree.QName(el).localname


def sign_enveloped(
    root: etree._Element, *, key: object, cert: x509.Certificate, cert_b64: str | None = None
) -> etree._Element:
    """Append an enveloped ``ds:Signature`` to ``root`` (exclusive c14n, SHA-256, RSA-SHA256 or ECDSA-SHA256,
    ``KeyInfo/X509Data/X509Certificate``) and return ``root``. ``cert_b64``: ``cert`` as base64 DER, when the
    caller keeps it."""
    if any(True for _ in root.iter(xd.SIGNATURE)):
        raise ValueError(f"<{_label(root)}> already holds a ds:Signature")
    method = alg.signature_method_for_key(key)
    exc = alg.C14N_METHODS[alg.EXC_C14N]
    digest_value = alg.digest(alg.canonicalize(root, exc), alg.DIGEST_METHODS[alg.SHA256])
    _, signed_info, value_el, key_info = xd.build_signature(
        root, method=method, uri="", transforms=(alg.ENVELOPED_SIGNATURE, alg.EXC_C14N), digest_value=digest_value
    )
    data = etree.SubElement(key_info, xd.X509_DATA)
    etree.SubElement(data, xd.X509_CERTIFICATE).text = cert_b64 or base64.b64encode(cert.public_bytes(Encoding.DER)).decode()
    xd.finish_signature(signed_info, value_el, key, method)
    return root


def _find_signature(root: etree._Element) -> etree._Element:
    everywhere = list(root.iter(xd.SIGNATURE))
    direct = [s for s in everywhere if s.getparent() is root]
    if not everywhere:
        raise ShlyuzError(ErrorCode.SIGNATURE_MISSING, f"the data document <{_label(root)}> has no ds:Signature")
    if len(direct) != 1 or len(everywhere) != 1:
        elsewhere = [s for s in everywhere if s.getparent() is not root]
        where = f"; {len(elsewhere)} more inside <{_label(elsewhere[0].getparent())}>" if elsewhere else ""
        raise xd.invalid(
            f"the data document <{_label(root)}> must hold exactly one ds:Signature, as a direct child of its "
            f"document element; found {len(direct)} there{where}"
        )
    return direct[0]


def _certificate(key_info: etree._Element | None, certs_cache: alg.CertCache | None = None) -> x509.Certificate:
    if key_info is None:
        raise xd.invalid("the data signature has no ds:KeyInfo; expected X509Data/X509Certificate")
    certs = [c for data in key_info.findall(xd.X509_DATA) for c in data.findall(xd.X509_CERTIFICATE)]
    if len(certs) != 1:
        raise xd.invalid(
            f"the data signature's KeyInfo holds {len(certs)} X509Data/X509Certificate elements; exactly one (the "
            "signer's certificate) is accepted"
        )
    return alg.load_certificate_b64(certs[0].text, "ds:X509Certificate", certs_cache)


def _remove_keeping_tail(el: etree._Element) -> None:
    """The enveloped-signature transform: drop the element, keep the text that followed it (its lxml ``tail``)."""
    parent = el.getparent()
    assert parent is not None
    if el.tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def verify_enveloped(
    root: etree._Element, *, allow_sha1: bool = False, certs_cache: alg.CertCache | None = None
) -> EnvelopedResult:
    """Verify the enveloped data signature of the document whose element is ``root``.

    Raises SIGNATURE_MISSING (no ds:Signature), SIGNATURE_INVALID or UNSUPPORTED_ALGORITHM. Trust in the certificate
    is not decided here: pass ``result.certificate`` to :func:`shlyuz.dsig.certcheck.check_certificate`.
    ``certs_cache`` parses the KeyInfo certificate once per distinct text (:class:`~shlyuz.dsig.algorithms.CertCache`).
    """
    sig = _find_signature(root)
    doc = copy.deepcopy(root)  # the standalone document; also lets the transform remove the Signature
    doc.tail = None
    doc_sig = doc[root.index(sig)]
    parsed = xd.parse_signature(doc_sig, allow_sha1=allow_sha1)
    if len(parsed.references) != 1:
        raise xd.invalid(
            f"the data signature has {len(parsed.references)} references; exactly one, URI=\"\" (the whole "
            "document), is accepted"
        )
    ref = parsed.references[0]
    if ref.uri != "":
        shown = "no URI" if ref.uri is None else f"URI={ref.uri[:60]!r}"
        raise xd.invalid(f'the data signature\'s Reference has {shown}; it must be URI="" (the whole document)')
    names = [t.uri for t in ref.transforms]
    if len(names) != 2 or names[0] != alg.ENVELOPED_SIGNATURE or ref.transforms[1].c14n is None:
        raise xd.invalid(
            f"the data signature's transforms are [{', '.join(names)}]; exactly [enveloped-signature, one c14n "
            "method] is accepted (no XPath or XSLT)"
        )
    cert = _certificate(parsed.key_info, certs_cache)
    who = alg.Named(cert)
    public_key = alg.public_key_of(cert, who)
    alg.check_key_fits(public_key, parsed.method, who)
    signed_info = alg.canonicalize(parsed.signed_info, parsed.c14n, parsed.c14n_prefixes)
    _remove_keeping_tail(doc_sig)
    transform = ref.transforms[1]
    assert transform.c14n is not None
    c14n = alg.C14N_METHODS[alg.EXC_C14N if transform.c14n.exclusive else alg.C14N]  # URI="" drops comments
    computed = alg.digest(alg.canonicalize(doc, c14n, transform.prefixes), ref.digest)
    if not hmac.compare_digest(computed, ref.digest_value):
        raise xd.invalid(
            f"the digest of the data document <{_label(root)}> does not match its DigestValue: the data was changed "
            "after it was signed"
        )
    alg.verify_bytes(public_key, parsed.method, parsed.signature_value, signed_info, who)
    return EnvelopedResult(cert, root, parsed.method.name, transform.c14n.name)
