"""The EDS stage of the pipeline, and the gateway's own signatures on what it sends.

Incoming: the WS-Security signature over ``soap:Body`` (required on ``/bip-sync-wss-gost/``, verified whenever
present) and the enveloped signature inside ``data`` (required per serviceId by config, verified whenever present);
for each, the certificate is checked — chain to a trust anchor, validity at the gateway clock's time, key usage for
the purpose, revocation (OCSP, CRL fallback, cached), and the IIN where the service says so. The verdict goes to the
journal with the exchange. The cryptography is sans-IO in :mod:`shlyuz.dsig`; only revocation does I/O.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

__all__ = ["SignatureVerifier", "Signer", "TrustStore"]

from cryptography import x509
from lxml import etree

from shlyuz.config import ConfigError, ServicePolicy
from shlyuz.dsig.algorithms import CertCache
from shlyuz.dsig.certcheck import CertVerdict, build_path, check_certificate
from shlyuz.dsig.enveloped import verify_enveloped
from shlyuz.dsig.signer import Signer
from shlyuz.dsig.wsse import verify_envelope
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.faults.model import RevocationFault
from shlyuz.gateway.revocation import RevocationChecker
from shlyuz.shep import ns
from shlyuz.shep.reader import payload_root
from shlyuz.pki.store import Pki

DS_SIGNATURE = ns.q(ns.DS, "Signature")
WSSE_SECURITY = ns.q(ns.WSSE, "Security")


@dataclass
class TrustStore:
    anchors: list[x509.Certificate]
    intermediates: list[x509.Certificate]
    pki: Pki | None = None
    _by_issuer_serial: dict[tuple[str, int], x509.Certificate] = field(default_factory=dict)

    @classmethod
    def build(cls, pki: Pki | None, extra_ca_files: list[Path]) -> "TrustStore":
        anchors: list[x509.Certificate] = list(pki.trust_anchors()) if pki else []
        intermediates: list[x509.Certificate] = [pki.issuing_cert] if pki else []
        for path in extra_ca_files:
            try:
                certs = x509.load_pem_x509_certificates(Path(path).read_bytes())
            except (OSError, ValueError) as exc:
                raise ConfigError(f"pki.trust_ca {path}: not a readable PEM certificate file ({exc})") from None
            # A CA named with --trust-ca is trusted as such, a root or an issuing CA alike; when its issuer is in the
            # same file, the path goes on up to that issuer (so a root + issuing bundle shows the whole chain).
            subjects = {c.subject for c in certs}
            for cert in certs:
                top = cert.issuer == cert.subject or cert.issuer not in subjects
                (anchors if top else intermediates).append(cert)
        store = cls(anchors, intermediates, pki)
        for cert in anchors + intermediates:
            store._by_issuer_serial[(cert.issuer.rfc4514_string(), cert.serial_number)] = cert
        return store

    def lookup(self, issuer: str, serial: int) -> x509.Certificate | None:
        """Resolve ``X509IssuerSerial``: the CA certificates, then shlyuz's issued identities."""
        found = self._by_issuer_serial.get((issuer, serial))
        if found is None and self.pki is not None and issuer == self.pki.issuing_cert.subject.rfc4514_string():
            found = self.pki.certificate_by_serial(serial)
            if found is not None:
                self._by_issuer_serial[(issuer, serial)] = found
        return found


Purpose = Literal["sign", "auth"]


@dataclass
class SignatureVerifier:
    trust: TrustStore
    revocation: RevocationChecker
    now: Callable[[], datetime]
    policies: Mapping[str, ServicePolicy]
    allow_sha1: bool = False
    require_eku: bool = True
    wsse_purposes: tuple[Purpose, ...] = ("sign", "auth")
    # (certificate, purposes, expected IIN) → (expires on the monotonic clock, path validity, verdict); per process
    _verdicts: dict[tuple[Any, ...], tuple[float, datetime, datetime, CertVerdict]] = field(default_factory=dict)
    _certs: CertCache = field(default_factory=CertCache)  # KeyInfo certificates parsed once per distinct text

    async def check(
        self, cert: x509.Certificate, purposes: tuple[Purpose, ...], expected_iin: str | None = None,
        revocation_fault: RevocationFault | None = None,
    ) -> CertVerdict:
        """``revocation_fault`` (fault injection): what OCSP and the CRL do for this check; neither cache is read or
        written while one is in force, so it always reaches the revocation check and never outlives its request."""
        at = self.now()
        # the certificate itself: it hashes and compares as its whole DER (cheaper than a fingerprint, as exact)
        key = (cert, purposes, expected_iin)
        hit = self._verdicts.get(key) if revocation_fault is None else None
        if hit is not None:
            expires, valid_from, valid_to, verdict = hit
            if time.monotonic() < expires and valid_from <= at <= valid_to:
                self.revocation.stats.cache_hits += 1  # the revocation answer is reused with the verdict
                return verdict  # same certificate, same question, revocation answer still fresh
        path = build_path(cert, self.trust.anchors, self.trust.intermediates)  # CERT_UNTRUSTED before any I/O
        # everything but revocation first, so an expired or misused certificate costs no OCSP round trip
        verdict = self._check_purposes(cert, purposes, at, expected_iin, None)
        status = await self.revocation.status(cert, path[1], fault=revocation_fault) if len(path) > 1 else None
        if status is not None:
            verdict = self._check_purposes(cert, (verdict.purpose,), at, expected_iin, status)  # type: ignore[arg-type]
        if self.revocation.ttl > 0 and revocation_fault is None:
            valid_from = max(c.not_valid_before_utc for c in path)
            valid_to = min(c.not_valid_after_utc for c in path)
            cached = dataclasses.replace(verdict, revocation="cache")
            self._verdicts[key] = (time.monotonic() + self.revocation.ttl, valid_from, valid_to, cached)
        return verdict

    def _check_purposes(self, cert, purposes, at, expected_iin, status) -> CertVerdict:
        error: ShlyuzError | None = None
        for purpose in purposes:
            try:
                return check_certificate(
                    cert, anchors=self.trust.anchors, intermediates=self.trust.intermediates, at=at,
                    purpose=purpose, expected_iin=expected_iin, revocation=status, require_eku=self.require_eku,
                )
            except ShlyuzError as exc:
                if exc.code is not ErrorCode.CERT_KEY_USAGE:
                    raise
                error = error or exc
        assert error is not None
        raise error

    async def verify_request(
        self, request, *, require_wsse: bool, revocation_fault: RevocationFault | None = None
    ) -> dict[str, Any]:
        """Verify what the request carries; return the verdict for the journal or raise the first failure."""
        verdict: dict[str, Any] = {}
        has_wsse = any(h.tag == WSSE_SECURITY for h in request.headers)
        if require_wsse and not has_wsse:
            raise ShlyuzError(
                ErrorCode.SIGNATURE_MISSING,
                "this endpoint requires a WS-Security signature over soap:Body (wsse:Security in soap:Header)",
            )
        if has_wsse:
            result = verify_envelope(
                request.envelope, cert_lookup=self.trust.lookup, allow_sha1=self.allow_sha1, certs_cache=self._certs
            )
            cv = await self.check(result.certificate, self.wsse_purposes, revocation_fault=revocation_fault)
            verdict["wsse"] = {"verified": True, "algorithm": result.algorithm, "keyRef": result.key_ref, **cv.as_dict()}
        else:
            verdict["wsse"] = "absent"
        policy = self.policies.get(request.info.service_id) or ServicePolicy()
        root = payload_root(request.payload)
        signed = root is not None and any(child.tag == DS_SIGNATURE for child in root)
        if policy.require_data_signature and not signed:
            raise ShlyuzError(
                ErrorCode.SIGNATURE_MISSING,
                f"serviceId {request.info.service_id!r} requires the data payload to carry an enveloped ds:Signature",
            )
        if signed:
            assert root is not None
            result = verify_enveloped(root, allow_sha1=self.allow_sha1, certs_cache=self._certs)
            expected = _field(result.signed_root, policy.match_iin_field) if policy.match_iin_field else None
            if policy.match_iin_field and not expected:
                raise ShlyuzError(
                    ErrorCode.IIN_MISMATCH,
                    f"the payload has no {policy.match_iin_field!r} to compare with the signer's IIN",
                )
            cv = await self.check(result.certificate, ("sign",), expected_iin=expected, revocation_fault=revocation_fault)
            verdict["data"] = {"verified": True, "algorithm": result.algorithm, **cv.as_dict()}
        else:
            verdict["data"] = "absent"
        return verdict


def _field(root: etree._Element, name: str) -> str | None:
    """The first descendant element with this local name, its whole text (``itertext``: comments cannot split it)."""
    for el in root.iter():
        if isinstance(el.tag, str) and etree.QName(el).localname == name:
            return "".join(el.itertext()).strip()
    return None
