"""CRLs and OCSP (RFC 5280, RFC 6960), sans-IO: bytes in, bytes out, the time always given.

Responder side: :func:`build_crl`, :func:`ocsp_respond` (never raises: a bad request gets an OCSP error response),
:func:`ocsp_error`. Client side: :func:`build_ocsp_request`, :func:`read_ocsp_response` (checks the responder's
authority, the signature, the nonce and, given ``now``, freshness), :func:`read_crl`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from shlyuz.pki import _der as der
from shlyuz.pki.ca import PrivateKey, verify_issued_by
from shlyuz.pki.ocsp_request import (  # re-exported
    _HASH_BY_NAME, _NONCE, CertId, OcspRequestInfo, _hash_name, issuer_hashes, parse_ocsp_request,
)  # fmt: skip

__all__ = [
    "GOOD", "UNKNOWN", "CertId", "CertStatus", "CrlError", "CrlResult", "OcspRequestInfo", "OcspResult", "Revocation",
    "build_crl", "build_ocsp_request", "issuer_hashes", "ocsp_error", "ocsp_respond", "parse_ocsp_request",
    "read_crl", "read_ocsp_response",
]  # fmt: skip

_REASON_CODES = {
    x509.ReasonFlags.unspecified: 0, x509.ReasonFlags.key_compromise: 1, x509.ReasonFlags.ca_compromise: 2,
    x509.ReasonFlags.affiliation_changed: 3, x509.ReasonFlags.superseded: 4,
    x509.ReasonFlags.cessation_of_operation: 5, x509.ReasonFlags.certificate_hold: 6,
    x509.ReasonFlags.remove_from_crl: 8, x509.ReasonFlags.privilege_withdrawn: 9, x509.ReasonFlags.aa_compromise: 10,
}  # fmt: skip
_BASIC = "1.3.6.1.5.5.7.48.1.1"  # id-pkix-ocsp-basic


@dataclass(frozen=True)
class CertStatus:
    """What the CA knows about one serial: ``good``, ``revoked`` (with time and reason) or ``unknown``."""

    status: Literal["good", "revoked", "unknown"]
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None

    @classmethod
    def revoked(cls, at: datetime, reason: x509.ReasonFlags | None = None) -> "CertStatus":
        return cls("revoked", at, reason)


GOOD = CertStatus("good")
UNKNOWN = CertStatus("unknown")


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return t.astimezone(timezone.utc).replace(microsecond=0)


# --- CRL ------------------------------------------------------------------------------------------------------


def build_crl(
    ca_key: PrivateKey, ca_cert: x509.Certificate, revoked: Iterable[tuple[int, datetime, x509.ReasonFlags | None]],
    *, this_update: datetime, next_update: datetime, number: int,
) -> bytes:
    """A DER CRL signed by ``ca_key``: CRLNumber, AKI, and a CRLReason entry extension unless the reason is
    unspecified (RFC 5280 §5.3.1)."""
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject).last_update(_utc(this_update)).next_update(_utc(next_update))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
    )  # fmt: skip
    for serial, when, reason in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(_utc(when))
        if reason is not None and reason is not x509.ReasonFlags.unspecified:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class Revocation:
    revoked_at: datetime
    reason: x509.ReasonFlags | None


@dataclass(frozen=True)
class CrlResult:
    revoked: dict[int, Revocation]
    this_update: datetime
    next_update: datetime | None
    number: int | None

    def status(self, serial: int) -> CertStatus:
        r = self.revoked.get(serial)
        return CertStatus.revoked(r.revoked_at, r.reason) if r else GOOD


class CrlError(ValueError):
    """The CRL cannot be used: unparsable, another issuer, or a bad signature."""


def read_crl(data: bytes, issuer_cert: x509.Certificate) -> CrlResult:
    """Parse a CRL (DER, or PEM) and check it is ``issuer_cert``'s; raises :class:`CrlError` otherwise."""
    try:
        return _read_crl(data, issuer_cert)
    except CrlError:
        raise
    except (ValueError, TypeError, x509.InvalidVersion, x509.DuplicateExtension) as exc:
        # cryptography decodes lazily: a malformed field surfaces wherever it is first read
        raise CrlError(f"malformed CRL: {exc or type(exc).__name__}") from None


def _read_crl(data: bytes, issuer_cert: x509.Certificate) -> CrlResult:
    try:
        crl = x509.load_pem_x509_crl(data) if data.lstrip().startswith(b"-----") else x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise CrlError(f"unparsable CRL: {exc}") from None
    try:
        issuer = crl.issuer
    except ValueError as exc:  # a malformed issuer name
        raise CrlError(f"unparsable CRL issuer: {exc}") from None
    if issuer != issuer_cert.subject:
        raise CrlError(f"CRL issued by {issuer.rfc4514_string()}, not {issuer_cert.subject.rfc4514_string()}")
    try:
        valid = crl.is_signature_valid(issuer_cert.public_key())  # type: ignore[arg-type]
    except Exception as exc:  # an unsupported key type
        raise CrlError(f"cannot check the CRL signature: {exc}") from None
    if not valid:
        raise CrlError("the CRL signature does not verify with the issuer's key")
    revoked = {}
    for r in crl:
        try:
            reason = r.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            reason = None
        revoked[r.serial_number] = Revocation(r.revocation_date_utc, reason)
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        number = None
    return CrlResult(revoked, crl.last_update_utc, crl.next_update_utc, number)


# --- OCSP: the responder --------------------------------------------------------------------------------------

_LABELS = {  # RFC 6960 OCSPResponseStatus names
    ocsp.OCSPResponseStatus.MALFORMED_REQUEST: "malformedRequest", ocsp.OCSPResponseStatus.INTERNAL_ERROR: "internalError",
    ocsp.OCSPResponseStatus.TRY_LATER: "tryLater", ocsp.OCSPResponseStatus.SIG_REQUIRED: "sigRequired",
    ocsp.OCSPResponseStatus.UNAUTHORIZED: "unauthorized",
}  # fmt: skip
_ERRORS = {label.lower(): status for status, label in _LABELS.items()}


def ocsp_error(status: ocsp.OCSPResponseStatus | str) -> bytes:
    """An unsuccessful OCSPResponse: ``malformedRequest``, ``internalError``, ``tryLater``, ``sigRequired`` or
    ``unauthorized`` (RFC 6960 §4.2.1; the names are case- and underscore-insensitive)."""
    if isinstance(status, str):
        key = status.lower().replace("_", "").replace("-", "")
        if key not in _ERRORS:
            raise ValueError(f"unknown OCSP error status {status!r}: expected one of {', '.join(_LABELS.values())}")
        status = _ERRORS[key]
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


def _sign(key: PrivateKey, data: bytes) -> tuple[bytes, bytes]:
    """(AlgorithmIdentifier DER, signature) with SHA-256."""
    if isinstance(key, rsa.RSAPrivateKey):
        return der.seq(der.oid("1.2.840.113549.1.1.11"), der.null()), key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return der.seq(der.oid("1.2.840.10045.4.3.2")), key.sign(data, ec.ECDSA(hashes.SHA256()))
    raise TypeError(f"unsupported responder key {type(key).__name__}")


def _single_response(cid: CertId, status: CertStatus, this_update: datetime, next_update: datetime | None) -> bytes:
    cert_id = der.seq(der.seq(der.oid(cid.hash_oid), der.null()), der.octets(cid.issuer_name_hash),
                      der.octets(cid.issuer_key_hash), der.integer(cid.serial))  # fmt: skip
    if status.status == "good":
        cert_status = b"\x80\x00"
    elif status.status == "revoked" and status.revoked_at is not None:
        info = der.generalized_time(status.revoked_at)
        if status.reason is not None:
            info += der.explicit(0, der.enumerated(_REASON_CODES[status.reason]))
        cert_status = der.tlv(0xA1, info)
    else:
        cert_status = b"\x82\x00"
    tail = der.explicit(0, der.generalized_time(next_update)) if next_update else b""
    return der.seq(cert_id, cert_status, der.generalized_time(this_update), tail)


def ocsp_respond(
    request_der: bytes, *, ca_key: PrivateKey, ca_cert: x509.Certificate, status_of: Callable[[int], CertStatus],
    now: datetime, validity: timedelta | None = timedelta(hours=1), responder_key: PrivateKey | None = None,
    responder_cert: x509.Certificate | None = None,
) -> bytes:
    """Answer an OCSP request for certificates issued by ``ca_cert``. Never raises.

    Each CertID whose issuer hashes are ``ca_cert``'s gets ``status_of(serial)``; others are ``unknown``.
    thisUpdate = producedAt = ``now``, nextUpdate = ``now + validity``; the nonce extension is echoed byte for
    byte. Signed by ``ca_key`` (responder = CA, responderID byKey) or by a delegated ``responder_key`` /
    ``responder_cert`` (an id-kp-OCSPSigning certificate issued by the CA), whose certificate is included.
    A malformed request gets ``malformedRequest``; a failure of ``status_of`` or signing gets ``internalError``.
    """
    try:
        request = parse_ocsp_request(request_der)
    except Exception:  # ValueError, and whatever a hostile body provokes in the parsers
        return ocsp_error(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    try:
        at = _utc(now)
        until = at + validity if validity else None
        singles = []
        for cid in request.cert_ids:
            own = issuer_hashes(ca_cert, cid.hash_oid)
            status = status_of(cid.serial) if own == (cid.issuer_name_hash, cid.issuer_key_hash) else UNKNOWN
            singles.append(_single_response(cid, status, at, until))
        signer_key, signer_cert = (responder_key, responder_cert) if responder_key and responder_cert else (ca_key, ca_cert)
        key_hash = x509.SubjectKeyIdentifier.from_public_key(signer_cert.public_key()).digest  # type: ignore[arg-type]
        extensions = b""
        if request.nonce_value is not None:
            extensions = der.explicit(1, der.seq(der.seq(der.oid(_NONCE), der.octets(request.nonce_value))))
        tbs = der.seq(der.explicit(2, der.octets(key_hash)), der.generalized_time(at), der.seq(*singles), extensions)
        algorithm, signature = _sign(signer_key, tbs)
        certs = der.explicit(0, der.seq(signer_cert.public_bytes(serialization.Encoding.DER)))
        basic = der.seq(tbs, algorithm, der.bit_string(signature), certs)
        return der.seq(der.enumerated(0), der.explicit(0, der.seq(der.oid(_BASIC), der.octets(basic))))
    except Exception:
        return ocsp_error(ocsp.OCSPResponseStatus.INTERNAL_ERROR)


# --- OCSP: the client -----------------------------------------------------------------------------------------


def build_ocsp_request(cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None = None, *,
                       algorithm: hashes.HashAlgorithm | None = None) -> bytes:  # fmt: skip
    """A DER OCSPRequest as NCANode builds it: CertID with SHA-256, the nonce double-wrapped (RFC 8954)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm or hashes.SHA256())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class OcspResult:
    status: Literal["good", "revoked", "unknown", "error"]
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None
    this_update: datetime | None = None
    next_update: datetime | None = None
    error: str | None = None
    response_status: str = "successful"  # or malformedRequest, internalError, tryLater, sigRequired, unauthorized
    produced_at: datetime | None = None
    responder: str | None = field(default=None)  # "issuer" or the delegated responder's subject


def _err(message: str, **kw: object) -> OcspResult:
    return OcspResult("error", error=message, **kw)  # type: ignore[arg-type]


def _signature_ok(signer: x509.Certificate, resp: ocsp.OCSPResponse) -> bool:
    key = signer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(), resp.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(resp.signature_hash_algorithm))
        else:
            return False
    except Exception:
        return False
    return True


def _matches_responder(cand: x509.Certificate, resp: ocsp.OCSPResponse) -> bool:
    if resp.responder_key_hash is not None:
        return x509.SubjectKeyIdentifier.from_public_key(cand.public_key()).digest == resp.responder_key_hash  # type: ignore[arg-type]
    return cand.subject == resp.responder_name


def read_ocsp_response(
    data: bytes, *, issuer_cert: x509.Certificate, cert: x509.Certificate, nonce: bytes | None = None,
    now: datetime | None = None, max_skew: timedelta = timedelta(minutes=5),
) -> OcspResult:
    """Check an OCSP response for ``cert`` and say what it tells; never raises.

    The signer must be ``issuer_cert`` or a certificate from the response with id-kp-OCSPSigning issued by it
    (valid at producedAt). With ``nonce`` the response must echo it; with ``now`` thisUpdate may not be later than
    ``now + max_skew`` and nextUpdate not earlier than ``now - max_skew``. Anything wrong gives ``status="error"``.
    """
    try:
        resp = ocsp.load_der_ocsp_response(data)
    except Exception as exc:
        return _err(f"malformed OCSP response: {exc}")
    if resp.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        label = _LABELS[resp.response_status]
        return _err(f"the responder answered {label}", response_status=label)
    try:
        produced = resp.produced_at_utc
        signer, who = None, None
        if _matches_responder(issuer_cert, resp):
            signer, who = issuer_cert, "issuer"
        else:
            for cand in resp.certificates:
                if not _matches_responder(cand, resp):
                    continue
                try:
                    ekus = list(cand.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
                except x509.ExtensionNotFound:
                    ekus = []
                if (ExtendedKeyUsageOID.OCSP_SIGNING in ekus and verify_issued_by(cand, issuer_cert)
                        and cand.not_valid_before_utc <= produced <= cand.not_valid_after_utc):  # fmt: skip
                    signer, who = cand, cand.subject.rfc4514_string()
                    break
        if signer is None:
            return _err("the response is signed neither by the issuer nor by a responder it authorised",
                        produced_at=produced)  # fmt: skip
        if not _signature_ok(signer, resp):
            return _err("the OCSP response signature does not verify", produced_at=produced)
        if nonce is not None:
            got = [e.value.nonce for e in resp.extensions if isinstance(e.value, x509.OCSPNonce)]
            if not got:
                return _err("the response carries no nonce", produced_at=produced)
            if got[0] != nonce:
                return _err("the response nonce differs from the request's", produced_at=produced)
        for single in resp.responses:
            hash_oid = _HASH_BY_NAME.get(_hash_name(single.hash_algorithm))
            own = issuer_hashes(issuer_cert, hash_oid) if hash_oid else None
            if single.serial_number == cert.serial_number and own == (single.issuer_name_hash, single.issuer_key_hash):
                break
        else:
            return _err("the response has no answer for this certificate", produced_at=produced)
        this_update, next_update = single.this_update_utc, single.next_update_utc
        kw = dict(this_update=this_update, next_update=next_update, produced_at=produced, responder=who)
        if now is not None:
            at = now.astimezone(timezone.utc)
            if this_update > at + max_skew:
                return _err("the response's thisUpdate is in the future", **kw)
            if next_update is not None and next_update < at - max_skew:
                return _err("the response is stale (nextUpdate has passed)", **kw)
        st = single.certificate_status
        if st is ocsp.OCSPCertStatus.GOOD:
            return OcspResult("good", **kw)  # type: ignore[arg-type]
        if st is ocsp.OCSPCertStatus.REVOKED:
            return OcspResult("revoked", single.revocation_time_utc, single.revocation_reason, **kw)  # type: ignore[arg-type]
        return OcspResult("unknown", **kw)  # type: ignore[arg-type]
    except Exception as exc:  # a response that parses at first but breaks on access
        return _err(f"unusable OCSP response: {exc}")
