"""Certificate policy checks for a signer's certificate: pure, no I/O, no clock (``at`` is a parameter); revocation
is an input (:class:`RevocationStatus`) that the caller got from OCSP, a CRL or its cache.

:func:`check_certificate` raises, in this order: CERT_UNTRUSTED (no path leaf → intermediates → an anchor, each
signature verified, each issuer a CA), CERT_NOT_YET_VALID / CERT_EXPIRED (leaf, then every CA of the path),
CERT_KEY_USAGE, CERT_REVOKED / REVOCATION_UNAVAILABLE, IIN_MISMATCH — each message naming the certificate and the
reason. A certificate with no ExtendedKeyUsage extension is refused with CERT_KEY_USAGE when ``require_eku`` is set
(the gateway's default, ``pki.require_eku``: NCA certificates always carry the EKU of their profile), and otherwise
accepted on its KeyUsage alone (RFC 5280 §4.2.1.12: absent EKU means no restriction; bank and state-body CAs issue
such certificates, NCANode issue #161) with ``"eku": "absent"`` in the verdict.

The path is built by hand with ``Certificate.verify_directly_issued_by`` rather than ``cryptography.x509.verification``
(docs/dsig.md, "Certificate checks"): that verifier folds expiry into path building (one "candidates exhausted" error
for untrusted and expired alike) and applies Web-PKI profile rules (EKU for client certificates, AKI, critical
basicConstraints on CAs …) that NCA-style certificates need not meet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shlyuz.dsig.algorithms import describe
from shlyuz.errors import ErrorCode, ShlyuzError

Purpose = Literal["sign", "auth"]
MAX_CHAIN = 8
ANY_EKU = x509.ObjectIdentifier("2.5.29.37.0")
_IIN = re.compile(r"(?:IIN)?(\d{12})")
_BIN = re.compile(r"BIN(\d{12})")
_KU_NAMES = (
    ("digital_signature", "digitalSignature"), ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"), ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"), ("key_cert_sign", "keyCertSign"), ("crl_sign", "cRLSign"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class RevocationStatus:
    """What OCSP, a CRL or a cache said about the certificate."""

    status: Literal["good", "revoked", "unknown"]
    source: Literal["ocsp", "crl", "cache"]
    revoked_at: datetime | None = None
    reason: str | None = None  # e.g. "keyCompromise" (RFC 5280 CRLReason)


@dataclass(frozen=True, slots=True)
class CertVerdict:
    subject: str
    iin: str | None
    bin: str | None
    serial: str  # hex, upper case (as NCANode v3 prints it)
    issuer: str
    chain: tuple[str, ...]  # subjects, leaf first, ending with the trust anchor
    purpose: Purpose
    key_usage: tuple[str, ...]
    eku: tuple[str, ...] | None  # dotted OIDs; None when the certificate has no EKU extension
    revocation: str | None  # the source ("ocsp" | "crl" | "cache"), None when not checked
    not_after: datetime = field(repr=False)
    path: tuple[x509.Certificate, ...] = field(default=(), repr=False, compare=False)  # leaf … anchor

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for the journal's verdicts."""
        return {
            "subject": self.subject, "iin": self.iin, "bin": self.bin, "serial": self.serial,
            "issuer": self.issuer, "chain": list(self.chain), "purpose": self.purpose,
            "keyUsage": list(self.key_usage), "eku": list(self.eku) if self.eku is not None else "absent",
            "revocation": self.revocation or "not checked", "notAfter": _z(self.not_after),
        }  # fmt: skip


def _z(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ext(cert: x509.Certificate, kind: type) -> Any:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except (ValueError, x509.DuplicateExtension) as exc:  # duplicate or undecodable extensions
        raise ShlyuzError(
            ErrorCode.SIGNATURE_INVALID, f"certificate {describe(cert)} has malformed extensions: {exc}"
        ) from None


# NCA subjects use attributes RFC 4514 has no short names for; name them as NCANode and openssl do
_DN_NAMES = {
    NameOID.SERIAL_NUMBER: "SERIALNUMBER",
    NameOID.SURNAME: "SURNAME",
    NameOID.GIVEN_NAME: "G",
    NameOID.EMAIL_ADDRESS: "E",
}


def _name_of(cert: x509.Certificate, which: str) -> str:
    """The certificate's subject or issuer as a string, even when cryptography cannot decode the name."""
    try:
        return _dn(getattr(cert, which))
    except (ValueError, TypeError):
        return f"<malformed {which} of certificate {cert.serial_number:X}>"


def _dn(name: x509.Name) -> str:
    try:
        return name.rfc4514_string(_DN_NAMES)
    except ValueError:
        return repr(name)


def identifiers(cert: x509.Certificate) -> tuple[str | None, str | None]:
    """(IIN, BIN) from the subject the way NCANode reads it: SERIALNUMBER ``IIN…`` (or 12 bare digits) → IIN,
    SERIALNUMBER ``BIN…`` or OU ``BIN…`` → BIN."""
    iin = bin_ = None
    try:
        subject = cert.subject
    except (ValueError, TypeError):  # a malformed subject carries no identifiers
        return None, None
    for attr in subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER):
        value = str(attr.value).strip()
        if m := _BIN.fullmatch(value):
            bin_ = m.group(1)
        elif m := _IIN.fullmatch(value):
            iin = m.group(1)
    for attr in subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME):
        if m := _BIN.fullmatch(str(attr.value).strip()):
            bin_ = bin_ or m.group(1)
    return iin, bin_


def _untrusted(who: str, why: str) -> ShlyuzError:
    return ShlyuzError(ErrorCode.CERT_UNTRUSTED, f"certificate {who} does not chain to a trusted CA: {why}")


def _is_ca(cert: x509.Certificate) -> str | None:
    """None when ``cert`` may issue certificates, else why not."""
    bc = _ext(cert, x509.BasicConstraints)
    if bc is None or not bc.ca:
        return f"{describe(cert)} is not a CA (BasicConstraints cA is {'absent' if bc is None else 'false'})"
    ku = _ext(cert, x509.KeyUsage)
    if ku is not None and not ku.key_cert_sign:
        return f"{describe(cert)} is a CA whose KeyUsage lacks keyCertSign"
    return None


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> str | None:
    try:
        cert.verify_directly_issued_by(issuer)
    except InvalidSignature:
        return f"{describe(issuer)} is named as the issuer of {describe(cert)}, but its key did not sign it"
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return f"the signature of {describe(cert)} cannot be checked against {describe(issuer)} ({exc})"
    return None


def build_path(
    cert: x509.Certificate, anchors: list[x509.Certificate], intermediates: list[x509.Certificate]
) -> list[x509.Certificate]:
    """leaf → … → anchor, each link's signature verified and each issuer a CA; CERT_UNTRUSTED naming the gap."""
    who = describe(cert)
    if not anchors:
        raise _untrusted(who, "no trust anchors are configured")
    anchor_set = set(anchors)
    pool = list(dict.fromkeys([*anchors, *intermediates]))
    reasons: list[str] = []

    def extend(path: list[x509.Certificate]) -> list[x509.Certificate] | None:
        try:
            return _extend(path)
        except (ValueError, TypeError) as exc:  # a name cryptography cannot decode
            reasons.append(f"a certificate's issuer or subject name is malformed ({exc or type(exc).__name__})")
            return None

    def _extend(path: list[x509.Certificate]) -> list[x509.Certificate] | None:
        last = path[-1]
        if last in anchor_set:
            return path
        if len(path) >= MAX_CHAIN:
            reasons.append(f"the chain is longer than {MAX_CHAIN} certificates")
            return None
        named = [c for c in pool if c.subject == last.issuer and c not in path]
        if not named and last is cert:
            reasons.append(f"its issuer {_name_of(last, 'issuer')} is neither a trusted CA nor a known intermediate")
        elif not named:
            reasons.append(f"the intermediate {describe(last)} is issued by {_name_of(last, 'issuer')}, which is not trusted")
        for cand in named:
            why = _signed_by(last, cand) or _is_ca(cand)
            if why is not None:
                reasons.append(why)
                continue
            found = extend([*path, cand])
            if found is not None:
                return found
        return None

    path = extend([cert])
    if path is None:
        raise _untrusted(who, reasons[0] if reasons else "no path was found")
    for i, ca in enumerate(path[1:], start=1):  # pathLenConstraint: CAs below ca, not counting the leaf
        bc = _ext(ca, x509.BasicConstraints)
        below = i - 1
        if bc is not None and bc.path_length is not None and below > bc.path_length:
            raise _untrusted(who, f"{describe(ca)} allows {bc.path_length} CA(s) below it, the path has {below}")
    return path


def _check_validity(path: list[x509.Certificate], at: datetime) -> None:
    leaf = describe(path[0])
    for i, c in enumerate(path):
        what = f"certificate {leaf}" if i == 0 else f"CA certificate {describe(c)} (in the chain of {leaf})"
        if at < c.not_valid_before_utc:
            raise ShlyuzError(
                ErrorCode.CERT_NOT_YET_VALID,
                f"{what} is not valid before {_z(c.not_valid_before_utc)}; the gateway clock says {at.isoformat()}",
            )
        if at > c.not_valid_after_utc:
            raise ShlyuzError(
                ErrorCode.CERT_EXPIRED,
                f"{what} expired on {_z(c.not_valid_after_utc)}; the gateway clock says {at.isoformat()}",
            )


def _key_usage(
    cert: x509.Certificate, purpose: Purpose, require_eku: bool = False
) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    who = describe(cert)
    ku = _ext(cert, x509.KeyUsage)
    need = ("digital_signature", "content_commitment") if purpose == "sign" else ("digital_signature",)
    need_names = " and ".join(n for k, n in _KU_NAMES if k in need)
    label = "a signing (SIGN)" if purpose == "sign" else "an authentication (AUTH)"
    if ku is None:
        raise ShlyuzError(
            ErrorCode.CERT_KEY_USAGE,
            f"certificate {who} has no KeyUsage extension; {label} certificate needs {need_names}",
        )
    have = tuple(n for k, n in _KU_NAMES if getattr(ku, k))
    if not all(getattr(ku, k) for k in need):
        raise ShlyuzError(
            ErrorCode.CERT_KEY_USAGE,
            f"certificate {who} is not {label} certificate: its KeyUsage is {', '.join(have) or 'empty'}; "
            f"{purpose.upper()} needs {need_names}",
        )
    eku = _ext(cert, x509.ExtendedKeyUsage)
    if eku is None:
        if require_eku:
            want_name = "emailProtection" if purpose == "sign" else "clientAuth"
            raise ShlyuzError(
                ErrorCode.CERT_KEY_USAGE,
                f"certificate {who} has no ExtendedKeyUsage; {purpose.upper()} needs {want_name} "
                "(set pki.require_eku = false to accept certificates without EKU, as NCANode does)",
            )
        return have, None
    oids = tuple(o.dotted_string for o in eku)
    want = ExtendedKeyUsageOID.EMAIL_PROTECTION if purpose == "sign" else ExtendedKeyUsageOID.CLIENT_AUTH
    if want not in eku and ANY_EKU not in eku:
        want_name = "emailProtection" if purpose == "sign" else "clientAuth"
        raise ShlyuzError(
            ErrorCode.CERT_KEY_USAGE,
            f"certificate {who} is not {label} certificate: its ExtendedKeyUsage ({', '.join(oids)}) lacks "
            f"{want_name} ({want.dotted_string})",
        )
    return have, oids


def _check_revocation(cert: x509.Certificate, revocation: RevocationStatus | None) -> None:
    if revocation is None or revocation.status == "good":
        return
    who, source = describe(cert), revocation.source.upper() if revocation.source != "cache" else "the cached status"
    if revocation.status == "revoked":
        when = f" on {_z(revocation.revoked_at)}" if revocation.revoked_at else ""
        why = f" (reason: {revocation.reason})" if revocation.reason else ""
        raise ShlyuzError(ErrorCode.CERT_REVOKED, f"certificate {who} was revoked{when}{why} according to {source}")
    raise ShlyuzError(
        ErrorCode.REVOCATION_UNAVAILABLE,
        f"the revocation status of certificate {who} is unknown according to {source}",
    )


def check_certificate(
    cert: x509.Certificate,
    *,
    anchors: list[x509.Certificate],
    intermediates: list[x509.Certificate],
    at: datetime,
    purpose: Purpose,
    expected_iin: str | None = None,
    expected_bin: str | None = None,
    revocation: RevocationStatus | None = None,
    require_eku: bool = False,
) -> CertVerdict:
    """Check ``cert`` for ``purpose`` at time ``at`` (timezone-aware); see the module docstring for the order.
    ``require_eku`` refuses a certificate without an ExtendedKeyUsage extension (the gateway's default)."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    if purpose not in ("sign", "auth"):
        raise ValueError(f"purpose must be 'sign' or 'auth', not {purpose!r}")
    try:
        cert.subject
    except (ValueError, TypeError) as exc:
        raise ShlyuzError(
            ErrorCode.SIGNATURE_INVALID,
            f"certificate {describe(cert)} has a subject that cannot be decoded ({exc or type(exc).__name__})",
        ) from None
    path = build_path(cert, anchors, intermediates)
    _check_validity(path, at)
    ku, eku = _key_usage(cert, purpose, require_eku)
    _check_revocation(cert, revocation)
    iin, bin_ = identifiers(cert)
    who = describe(cert)
    if expected_iin is not None and iin != expected_iin:
        raise ShlyuzError(
            ErrorCode.IIN_MISMATCH,
            f"the request names IIN {expected_iin} but the signer's certificate {who} "
            + (f"belongs to IIN {iin}" if iin else "carries no IIN"),
        )
    if expected_bin is not None and bin_ != expected_bin:
        raise ShlyuzError(
            ErrorCode.IIN_MISMATCH,
            f"the request names BIN {expected_bin} but the signer's certificate {who} "
            + (f"belongs to BIN {bin_}" if bin_ else "carries no BIN (OU=BIN… or SERIALNUMBER=BIN…)"),
        )
    return CertVerdict(
        subject=_name_of(cert, 'subject'),
        iin=iin,
        bin=bin_,
        serial=f"{cert.serial_number:X}",
        issuer=_name_of(cert, 'issuer'),
        chain=tuple(_name_of(c, 'subject') for c in path),
        purpose=purpose,
        key_usage=ku,
        eku=eku,
        revocation=revocation.source if revocation is not None else None,
        not_after=cert.not_valid_after_utc,
        path=tuple(path),
    )
