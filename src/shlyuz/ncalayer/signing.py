"""The cryptography of the emulator, sans-IO: the XML signature NCALayer's ``signXml`` makes, CMS SignedData, and
``getKeyInfo`` read from the certificate.

**XML.** A real NCALayer answer to ``signXml`` (captured in sigex-kz/ncalayer-js-client ``test/test-data.json``)
is an enveloped signature appended to the document element: SignedInfo canonicalised with inclusive C14N 1.0,
``rsa-sha256``, one Reference ``URI=""`` with the transforms ``enveloped-signature`` and
``REC-xml-c14n-20010315#WithComments``, ``xmlenc#sha256``, and ``KeyInfo/X509Data/X509Certificate``; the document
comes back with the declaration ``<?xml version="1.0" encoding="UTF-8" standalone="no"?>``. That is what is made
here. (``URI=""`` drops comments before the transforms, XMLDSig §4.3.3.3, so the digest is over the document
without comments, as every verifier computes it.) EC test keys sign with ``ecdsa-sha256``.

**CMS.** ``cryptography``'s ``PKCS7SignatureBuilder`` makes SignedData with the signed attributes contentType,
signingTime (the real time: it cannot be set), messageDigest and SMIMECapabilities. It cannot add other signed
attributes, so the ESS ``signing-certificate-v2`` attribute that makes a CMS a CAdES-BES is **missing**: the
answers of ``createCAdESFromBase64`` and ``basics.sign`` format ``cms`` are CMS SignedData, not CAdES-BES. The
signer's certificate and its chain (issuing CA, root) are included.
"""

from __future__ import annotations

import base64
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from lxml import etree

from shlyuz.dsig import algorithms as alg
from shlyuz.dsig import xmldsig as xd
from shlyuz.errors import ShlyuzError
from shlyuz.pki.profiles import key_purpose
from shlyuz.pki.records import Identity
from shlyuz.pki.subjects import dn_string, parse_subject
from shlyuz.xml.safe import XmlLimits, parse

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>'
XML_LIMITS = XmlLimits(max_bytes=8 * 1024 * 1024)


class SigningError(Exception):
    """The data cannot be signed as asked (malformed XML, an XPath the emulator does not support, …)."""


def sign_xml(xml: str, identity: Identity, *, tbs_xpath: str = "", parent_xpath: str = "") -> str:
    """Sign ``xml`` as NCALayer's signXml does; return the signed document as text."""
    if tbs_xpath or parent_xpath:
        raise SigningError(
            "tbsElementXPath/signatureParentElementXPath are not supported by the emulator: give \"\" to sign the "
            "whole document with the signature as the last child of its document element"
        )
    try:
        root = parse(xml, XML_LIMITS)
    except ShlyuzError as exc:
        raise SigningError(f"{exc.code.value}: {exc.message}") from None
    method = alg.signature_method_for_key(identity.key)
    digest_value = alg.digest(alg.canonicalize(root, alg.C14N_METHODS[alg.C14N]), alg.DIGEST_METHODS[alg.SHA256])
    sig = etree.SubElement(root, xd.SIGNATURE, nsmap={"ds": alg.DS})
    si = etree.SubElement(sig, xd.SIGNED_INFO)
    etree.SubElement(si, xd.C14N_METHOD, Algorithm=alg.C14N)
    etree.SubElement(si, xd.SIGNATURE_METHOD, Algorithm=method.uri)
    ref = etree.SubElement(si, xd.REFERENCE, URI="")
    transforms = etree.SubElement(ref, xd.TRANSFORMS)
    etree.SubElement(transforms, xd.TRANSFORM, Algorithm=alg.ENVELOPED_SIGNATURE)
    etree.SubElement(transforms, xd.TRANSFORM, Algorithm=alg.C14N_COMMENTS)
    etree.SubElement(ref, xd.DIGEST_METHOD, Algorithm=alg.SHA256)
    etree.SubElement(ref, xd.DIGEST_VALUE).text = base64.b64encode(digest_value).decode("ascii")
    value = etree.SubElement(sig, xd.SIGNATURE_VALUE)
    key_info = etree.SubElement(sig, xd.KEY_INFO)
    data = etree.SubElement(key_info, xd.X509_DATA)
    etree.SubElement(data, xd.X509_CERTIFICATE).text = _b64(identity.cert.public_bytes(serialization.Encoding.DER))
    signed_info = alg.canonicalize(si, alg.C14N_METHODS[alg.C14N])  # in place: inherits the document's namespaces
    value.text = _b64(alg.sign_bytes(identity.key, method, signed_info))
    return (XML_DECLARATION + etree.tostring(root, encoding="utf-8")).decode("utf-8")


def sign_cms(data: bytes, identity: Identity, *, attach: bool) -> str:
    """CMS SignedData over ``data`` (SHA-256), detached unless ``attach``; base64 of the DER."""
    key = identity.key
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise SigningError(f"the key of {identity.name} is {type(key).__name__}; CMS signing needs RSA or EC")
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(identity.cert, key, hashes.SHA256())
    for ca_cert in identity.chain:
        builder = builder.add_certificate(ca_cert)
    options = [pkcs7.PKCS7Options.Binary] + ([] if attach else [pkcs7.PKCS7Options.DetachedSignature])
    return _b64(builder.sign(serialization.Encoding.DER, options))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _millis(when: datetime) -> str:
    return str(int(when.timestamp() * 1000))


def _common_name(name: x509.Name) -> str:
    cns = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    value = cns[0].value if cns else ""
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _key_id(cert: x509.Certificate, cls: type) -> str:
    try:
        ext = cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return ""
    raw = ext.key_identifier if isinstance(ext, x509.AuthorityKeyIdentifier) else ext.digest
    return raw.hex() if raw else ""


def key_info(identity: Identity) -> dict[str, str]:
    """``getKeyInfo``'s responseObject. The field names are those of NCALayer's Java ``KeyInfo`` (alias, keyId,
    algorithm, subjectCn, subjectDn, issuerCn, issuerDn, serialNumber, certNotAfter, certNotBefore,
    authorityKeyIdentifier, pem); ``iin``, ``bin`` and ``keyUsage`` are shlyuz's additions."""
    cert = identity.cert
    subject = parse_subject(cert)
    public = cert.public_key()
    algorithm = "RSA" if isinstance(public, rsa.RSAPublicKey) else "EC" if isinstance(public, ec.EllipticCurvePublicKey) else "UNKNOWN"
    return {
        "alias": _key_id(cert, x509.SubjectKeyIdentifier) or identity.name,
        "keyId": _key_id(cert, x509.SubjectKeyIdentifier),
        "algorithm": algorithm,
        "subjectCn": _common_name(cert.subject),
        "subjectDn": dn_string(cert.subject),
        "issuerCn": _common_name(cert.issuer),
        "issuerDn": dn_string(cert.issuer),
        "serialNumber": f"{cert.serial_number:x}",
        "certNotAfter": _millis(cert.not_valid_after_utc),
        "certNotBefore": _millis(cert.not_valid_before_utc),
        "authorityKeyIdentifier": _key_id(cert, x509.AuthorityKeyIdentifier),
        "pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        "iin": subject.iin or "",
        "bin": subject.bin or "",
        "keyUsage": key_purpose(cert),
    }


def certificate_b64(identity: Identity) -> str:
    return _b64(identity.cert.public_bytes(serialization.Encoding.DER))
