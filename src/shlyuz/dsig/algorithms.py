"""XMLDSig algorithm identifiers: which ones shlyuz verifies, which it recognises but cannot verify (GOST), and the
primitive operations over them (canonicalisation, digest, signature value).

Every lookup raises :class:`ShlyuzError` with ``UNSUPPORTED_ALGORITHM`` and a message naming the URI. SHA-1 based
methods are known but refused unless the caller passes ``allow_sha1=True``. GOST URIs (kz_egov.md §3.2) are recognised
and refused with a message that says why (docs/dsig.md, "GOST").

The tables are immutable (``MappingProxyType``); nothing here keeps state between calls.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from types import MappingProxyType

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID
from lxml import etree

from shlyuz.errors import ErrorCode, ShlyuzError

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"  # namespace of ec:InclusiveNamespaces

# -- canonicalisation ---------------------------------------------------------------------------------------------
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
ENVELOPED_SIGNATURE = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

# -- digests -------------------------------------------------------------------------------------------------------
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
SHA1_KALKAN = "http://www.w3.org/2001/04/xmldsig-more#sha1"  # non-standard alias emitted by KalkanUtil (§3.2)

# -- signature methods ---------------------------------------------------------------------------------------------
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
RSA_SHA1_MORE = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha1"  # alias seen in KalkanUtil (§3.2)
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"

# -- GOST (recognised, not verifiable) -----------------------------------------------------------------------------
GOST_2004_SIGNATURE = "http://www.w3.org/2001/04/xmldsig-more#gost34310-gost34311"
GOST_2004_DIGEST = "http://www.w3.org/2001/04/xmldsig-more#gost34311"
_PKIGOVKZ = "urn:ietf:params:xml:ns:pkigovkz:xmlsec:algorithms:"
GOST_2015_256_SIGNATURE = _PKIGOVKZ + "gostr34102015-gostr34112015-256"
GOST_2015_512_SIGNATURE = _PKIGOVKZ + "gostr34102015-gostr34112015-512"
GOST_2015_256_DIGEST = _PKIGOVKZ + "gostr34112015-256"
GOST_2015_512_DIGEST = _PKIGOVKZ + "gostr34112015-512"

GOST_URIS = MappingProxyType(
    {
        GOST_2004_SIGNATURE: "GOST 34.310-2004 signature with GOST 34.311-95 digest",
        GOST_2004_DIGEST: "GOST 34.311-95 digest",
        GOST_2015_256_SIGNATURE: "GOST 34.10-2015 (256-bit) signature with GOST 34.11-2015 digest",
        GOST_2015_512_SIGNATURE: "GOST 34.10-2015 (512-bit) signature with GOST 34.11-2015 digest",
        GOST_2015_256_DIGEST: "GOST 34.11-2015 (256-bit) digest",
        GOST_2015_512_DIGEST: "GOST 34.11-2015 (512-bit) digest",
    }
)


@dataclass(frozen=True, slots=True)
class C14nAlg:
    uri: str
    name: str
    exclusive: bool
    with_comments: bool


@dataclass(frozen=True, slots=True)
class DigestAlg:
    uri: str
    name: str
    hash: type[hashes.HashAlgorithm]
    sha1: bool = False


@dataclass(frozen=True, slots=True)
class SignatureAlg:
    uri: str
    name: str
    key_type: str  # "rsa" | "ec"
    hash: type[hashes.HashAlgorithm]
    sha1: bool = False


C14N_METHODS = MappingProxyType(
    {
        EXC_C14N: C14nAlg(EXC_C14N, "exc-c14n", exclusive=True, with_comments=False),
        EXC_C14N_COMMENTS: C14nAlg(EXC_C14N_COMMENTS, "exc-c14n#WithComments", exclusive=True, with_comments=True),
        C14N: C14nAlg(C14N, "c14n", exclusive=False, with_comments=False),
        C14N_COMMENTS: C14nAlg(C14N_COMMENTS, "c14n#WithComments", exclusive=False, with_comments=True),
    }
)
DIGEST_METHODS = MappingProxyType(
    {
        SHA256: DigestAlg(SHA256, "sha256", hashes.SHA256),
        SHA1: DigestAlg(SHA1, "sha1", hashes.SHA1, sha1=True),
        SHA1_KALKAN: DigestAlg(SHA1_KALKAN, "sha1", hashes.SHA1, sha1=True),
    }
)
SIGNATURE_METHODS = MappingProxyType(
    {
        RSA_SHA256: SignatureAlg(RSA_SHA256, "rsa-sha256", "rsa", hashes.SHA256),
        ECDSA_SHA256: SignatureAlg(ECDSA_SHA256, "ecdsa-sha256", "ec", hashes.SHA256),
        RSA_SHA1: SignatureAlg(RSA_SHA1, "rsa-sha1", "rsa", hashes.SHA1, sha1=True),
        RSA_SHA1_MORE: SignatureAlg(RSA_SHA1_MORE, "rsa-sha1", "rsa", hashes.SHA1, sha1=True),
    }
)


def unsupported(uri: str | None, role: str) -> ShlyuzError:
    """The error for an algorithm URI shlyuz does not verify; GOST URIs get their own explanation."""
    if uri is None:
        return ShlyuzError(ErrorCode.SIGNATURE_INVALID, f"the {role} has no Algorithm attribute")
    if uri in GOST_URIS or "gost" in uri.lower():
        what = GOST_URIS.get(uri, "a GOST algorithm")
        return ShlyuzError(
            ErrorCode.UNSUPPORTED_ALGORITHM,
            f"GOST {role} {uri} ({what}) is recognised but not verifiable here: no maintained Python library "
            "implements Kazakhstan's GOST 34.310-2004 / 34.10-2015 with the NCA's curve and hash parameters "
            "(docs/dsig.md#gost); verify GOST signatures with KalkanCrypt or NCANode",
        )
    return ShlyuzError(ErrorCode.UNSUPPORTED_ALGORITHM, f"{role} {uri!r} is not one shlyuz verifies")


def _sha1_refused(uri: str, role: str) -> ShlyuzError:
    return ShlyuzError(
        ErrorCode.UNSUPPORTED_ALGORITHM,
        f"{role} {uri} uses SHA-1, which is refused unless SHA-1 is explicitly allowed (allow_sha1)",
    )


def c14n_method(uri: str | None, role: str = "CanonicalizationMethod") -> C14nAlg:
    alg = C14N_METHODS.get(uri) if uri is not None else None
    if alg is None:
        raise unsupported(uri, role)
    return alg


def digest_method(uri: str | None, *, allow_sha1: bool = False) -> DigestAlg:
    alg = DIGEST_METHODS.get(uri) if uri is not None else None
    if alg is None:
        raise unsupported(uri, "DigestMethod")
    if alg.sha1 and not allow_sha1:
        raise _sha1_refused(alg.uri, "DigestMethod")
    return alg


def signature_method(uri: str | None, *, allow_sha1: bool = False) -> SignatureAlg:
    alg = SIGNATURE_METHODS.get(uri) if uri is not None else None
    if alg is None:
        raise unsupported(uri, "SignatureMethod")
    if alg.sha1 and not allow_sha1:
        raise _sha1_refused(alg.uri, "SignatureMethod")
    return alg


def signature_method_for_key(key: object) -> SignatureAlg:
    """The SignatureMethod shlyuz signs with for a private or public key: RSA → rsa-sha256, EC → ecdsa-sha256."""
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return SIGNATURE_METHODS[RSA_SHA256]
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return SIGNATURE_METHODS[ECDSA_SHA256]
    raise TypeError(f"cannot sign with a {type(key).__name__}: RSA or EC keys only")


# -- primitives ----------------------------------------------------------------------------------------------------


def canonicalize(el: etree._Element, alg: C14nAlg, prefixes: tuple[str, ...] | None = None) -> bytes:
    """C14N of ``el`` and its subtree (lxml/libxml2). Ancestors' namespace declarations count for inclusive c14n."""
    return etree.tostring(
        el,
        method="c14n",
        exclusive=alg.exclusive,
        with_comments=alg.with_comments,
        inclusive_ns_prefixes=list(prefixes) if (prefixes and alg.exclusive) else None,
    )


def digest(data: bytes, alg: DigestAlg) -> bytes:
    h = hashes.Hash(alg.hash())
    h.update(data)
    return h.finalize()


def _ec_size(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> int:
    return (key.curve.key_size + 7) // 8


def sign_bytes(private_key: object, alg: SignatureAlg, data: bytes) -> bytes:
    """The XMLDSig SignatureValue bytes: PKCS#1 v1.5 for RSA, raw ``r || s`` (not DER) for ECDSA (RFC 4050 §3.3)."""
    if alg.key_type == "rsa" and isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(data, padding.PKCS1v15(), alg.hash())
    if alg.key_type == "ec" and isinstance(private_key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(alg.hash())))
        n = _ec_size(private_key)
        return r.to_bytes(n, "big") + s.to_bytes(n, "big")
    raise TypeError(f"a {type(private_key).__name__} cannot sign with {alg.name}")


def check_key_fits(public_key: object, alg: SignatureAlg, who: object) -> None:
    """SIGNATURE_INVALID when the certificate's key type does not match the SignatureMethod."""
    if alg.key_type == "rsa" and isinstance(public_key, rsa.RSAPublicKey):
        return
    if alg.key_type == "ec" and isinstance(public_key, ec.EllipticCurvePublicKey):
        return
    kind = "RSA" if isinstance(public_key, rsa.RSAPublicKey) else "EC" if isinstance(
        public_key, ec.EllipticCurvePublicKey) else type(public_key).__name__  # fmt: skip
    raise ShlyuzError(
        ErrorCode.SIGNATURE_INVALID,
        f"SignatureMethod {alg.name} does not fit the {kind} key of the certificate {who}",
    )


def verify_bytes(public_key: object, alg: SignatureAlg, signature: bytes, data: bytes, who: object) -> None:
    """Check a SignatureValue over ``data``; SIGNATURE_INVALID naming the certificate when it does not verify."""
    check_key_fits(public_key, alg, who)
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), alg.hash())
        else:
            assert isinstance(public_key, ec.EllipticCurvePublicKey)
            n = _ec_size(public_key)
            if len(signature) != 2 * n:
                raise ShlyuzError(
                    ErrorCode.SIGNATURE_INVALID,
                    f"the ECDSA SignatureValue is {len(signature)} bytes; XMLDSig wants raw r||s of {2 * n} bytes "
                    f"for {public_key.curve.name} (a DER-encoded value is not accepted)",
                )
            der = encode_dss_signature(int.from_bytes(signature[:n], "big"), int.from_bytes(signature[n:], "big"))
            public_key.verify(der, data, ec.ECDSA(alg.hash()))
    except InvalidSignature:
        raise ShlyuzError(
            ErrorCode.SIGNATURE_INVALID,
            f"the SignatureValue does not verify with the public key of the certificate {who} "
            "(SignedInfo was altered, or another key signed it)",
        ) from None


_B64_WS = b" \t\r\n"


def b64decode(text: str | None, what: str) -> bytes:
    """Strict base64 (whitespace, including the CR/LF of Java's 76-column wrapping, is ignored)."""
    raw = (text or "").encode("ascii", "replace").translate(None, _B64_WS)
    if not raw:
        raise ShlyuzError(ErrorCode.SIGNATURE_INVALID, f"{what} is empty")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ShlyuzError(ErrorCode.SIGNATURE_INVALID, f"{what} is not valid base64") from None


class CertCache:
    """Certificates parsed from base64 text, by that exact text, at most ``size`` of them (the oldest go first).

    A signer sends the same certificate text with every message: parsing it again, and loading its public key, costs
    ~50-100 µs a message. Equal text is equal DER, so a cached certificate is the very one the message carries. One
    per verifier (per process); not shared between threads."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._certs: dict[str, x509.Certificate] = {}

    def load(self, text: str | None, where: str) -> x509.Certificate:
        cert = self._certs.get(text) if text else None
        if cert is None:
            cert = load_certificate_b64(text, where)
            assert text is not None  # load_certificate_b64 refuses an empty text
            if len(self._certs) >= self.size:
                del self._certs[next(iter(self._certs))]
            self._certs[text] = cert
        return cert

    def __len__(self) -> int:
        return len(self._certs)


def load_certificate_b64(text: str | None, where: str, cache: CertCache | None = None) -> x509.Certificate:
    """A DER certificate from base64 text; SIGNATURE_INVALID when it is not one. With ``cache``, through it."""
    if cache is not None:
        return cache.load(text, where)
    try:
        der = b64decode(text, where)
        return x509.load_der_x509_certificate(der)
    except (ShlyuzError, ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
        why = exc.message if isinstance(exc, ShlyuzError) else str(exc) or type(exc).__name__
        raise ShlyuzError(
            ErrorCode.SIGNATURE_INVALID, f"KeyInfo certificate is not a valid X.509 certificate ({where}: {why})"
        ) from None


def public_key_of(cert: x509.Certificate, who: object) -> object:
    """The certificate's public key; UNSUPPORTED_ALGORITHM for key types cryptography cannot load (GOST)."""
    try:
        return cert.public_key()
    except (UnsupportedAlgorithm, ValueError) as exc:
        raise ShlyuzError(
            ErrorCode.UNSUPPORTED_ALGORITHM,
            f"the public key of the certificate {who} cannot be used here ({exc}); GOST keys are recognised but "
            "not verifiable (docs/dsig.md#gost)",
        ) from None


class Named:
    """``describe(cert)`` made only when a message is written: a verification that succeeds writes none, and reading
    the subject costs ~10-50 µs a call."""

    __slots__ = ("cert",)

    def __init__(self, cert: x509.Certificate) -> None:
        self.cert = cert

    def __str__(self) -> str:
        return describe(self.cert)


def describe(cert: x509.Certificate) -> str:
    """A short, human name for a certificate: ``SERIALNUMBER=IIN…`` when it has one, else its CN, else its DN."""
    try:
        for oid, label in ((NameOID.SERIAL_NUMBER, "SERIALNUMBER"), (NameOID.COMMON_NAME, "CN")):
            attrs = cert.subject.get_attributes_for_oid(oid)
            if attrs:
                return f"{label}={attrs[0].value}"
        return cert.subject.rfc4514_string() or f"serial {cert.serial_number:X}"
    except (ValueError, TypeError):  # a malformed subject (an empty RDN, a bad string type): name it by serial
        return f"serial {cert.serial_number:X} (malformed subject)"
