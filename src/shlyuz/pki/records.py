"""The records of the test PKI: URLs, index entries, identities, what to issue; and small file helpers.

Split from :mod:`shlyuz.pki.store` (which re-exports everything here) to keep files short.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ObjectIdentifier

from shlyuz.pki import ca
from shlyuz.pki.profiles import Profile
from shlyuz.pki.subjects import SubjectInfo, parse_subject


@dataclass(frozen=True)
class PkiUrls:
    """Where certificates say their CRL, OCSP responder and issuer certificate are (routes of the gateway)."""

    base_url: str = "http://127.0.0.1:8080"

    def _u(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    crl_url = property(lambda self: self._u("/pki/crl/issuing.crl"))
    ocsp_url = property(lambda self: self._u("/pki/ocsp"))
    ca_issuers_url = property(lambda self: self._u("/pki/ca/issuing.cer"))
    root_crl_url = property(lambda self: self._u("/pki/crl/root.crl"))
    root_url = property(lambda self: self._u("/pki/ca/root.cer"))
    untrusted_url = property(lambda self: self._u("/pki/ca/untrusted.cer"))


@dataclass(frozen=True)
class IdentityRecord:
    """One line of ``index.json``."""

    name: str
    serial: int
    subject: str
    profile: str
    key_kind: str
    issuer: str
    not_before: datetime
    not_after: datetime
    tags: tuple[str, ...] = ()
    revoked_at: datetime | None = None
    revocation_reason: str | None = None

    def to_json(self) -> dict:
        d = {"serial": self.serial, "serial_hex": f"{self.serial:x}", "subject": self.subject, "profile": self.profile,
             "key_kind": self.key_kind, "issuer": self.issuer, "not_before": self.not_before.isoformat(),
             "not_after": self.not_after.isoformat(), "tags": list(self.tags)}  # fmt: skip
        if self.revoked_at:
            d["revoked"] = {"at": self.revoked_at.isoformat(), "reason": self.revocation_reason}
        return d

    @classmethod
    def from_json(cls, name: str, d: dict) -> "IdentityRecord":
        rev = d.get("revoked") or {}
        return cls(name, int(d["serial"]), d["subject"], d["profile"], d.get("key_kind", "?"), d.get("issuer", "issuing"),
                   datetime.fromisoformat(d["not_before"]), datetime.fromisoformat(d["not_after"]), tuple(d.get("tags", ())),
                   datetime.fromisoformat(rev["at"]) if rev else None, rev.get("reason"))  # fmt: skip


@dataclass(frozen=True)
class Identity:
    """A certificate with its TEST private key and chain (issuing CA, root; or the untrusted CA)."""

    name: str
    cert: x509.Certificate
    key: ca.PrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...]
    cert_path: Path
    key_path: Path
    record: IdentityRecord

    @property
    def serial(self) -> int:
        return self.cert.serial_number

    @property
    def subject_info(self) -> SubjectInfo:
        return parse_subject(self.cert)

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.cert, *self.chain))


@dataclass(frozen=True)
class IdentitySpec:
    """What to issue: :meth:`Pki.issue_many` takes a list of these (``key`` may be pre-generated)."""

    name: str
    subject: x509.Name
    profile: Profile
    key_kind: str = "rsa2048"
    not_before: datetime | None = None
    not_after: datetime | None = None
    tags: tuple[str, ...] = ()
    omit_eku: bool = False
    issuer: str = "issuing"
    extra_eku: tuple[ObjectIdentifier, ...] = ()
    san: tuple[x509.GeneralName, ...] = ()
    revoke: tuple[x509.ReasonFlags, datetime] | None = None  # revoke right after issuing (bad/revoked)
    key: ca.PrivateKey | None = field(default=None, repr=False)


def _utc(t: datetime) -> datetime:
    return t.astimezone(timezone.utc).replace(microsecond=0)


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ca.PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _load_key(path: Path) -> ca.PrivateKey:
    """A key this PKI wrote itself: OpenSSL 3's RSA consistency check (~35 ms a key) is skipped."""
    return serialization.load_pem_private_key(path.read_bytes(), None, unsafe_skip_rsa_key_validation=True)  # type: ignore[return-value]


def parse_reason(reason: str | x509.ReasonFlags | None) -> x509.ReasonFlags:
    if reason is None:
        return x509.ReasonFlags.unspecified
    if isinstance(reason, x509.ReasonFlags):
        return reason
    for flag in x509.ReasonFlags:
        if reason in (flag.value, flag.name):
            return flag
    raise ValueError(f"unknown revocation reason {reason!r}: expected one of {', '.join(f.value for f in x509.ReasonFlags)}")
