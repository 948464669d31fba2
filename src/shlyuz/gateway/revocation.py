"""Revocation status of certificates: OCSP first, the CRL as fallback, answers cached with a TTL.

The protocol work (building the OCSP request, checking the response's signature, nonce and times, reading the CRL)
is sans-IO in :mod:`shlyuz.pki.revocation`; this module only moves the bytes. For certificates of shlyuz's own CA
the bytes go straight to the local responder (the same function that answers ``POST /pki/ocsp``) instead of a
loop-back HTTP call; for any other CA (``--trust-ca``) they go over HTTP to the URLs in the certificate.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from shlyuz.dsig.certcheck import RevocationStatus
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.faults.model import RevocationFault
from shlyuz.pki.revocation import UNKNOWN, CrlError, build_ocsp_request, ocsp_error, read_crl, read_ocsp_response
from shlyuz.pki.store import CRL_VALIDITY, Pki

log = structlog.get_logger("shlyuz.revocation")


def _ocsp_url(cert: x509.Certificate) -> str | None:
    try:
        aia = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    except x509.ExtensionNotFound:
        return None
    for desc in aia:
        if desc.access_method == AuthorityInformationAccessOID.OCSP:
            return desc.access_location.value
    return None


def _crl_url(cert: x509.Certificate) -> str | None:
    try:
        cdp = cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    except x509.ExtensionNotFound:
        return None
    for point in cdp:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier):
                return name.value
    return None


def _reason(reason: x509.ReasonFlags | None) -> str | None:
    return reason.value if reason is not None else None  # RFC 5280 spelling, e.g. keyCompromise


@dataclass
class RevocationStats:
    ocsp_requests: int = 0
    crl_fetches: int = 0
    cache_hits: int = 0
    failures: int = 0


@dataclass
class RevocationChecker:
    """One per gateway process (never module-level). ``now`` is the gateway clock."""

    now: Callable[[], datetime]
    pki: Pki | None = None
    ttl: float = 300.0
    timeout: float = 5.0
    stats: RevocationStats = field(default_factory=RevocationStats)
    _cache: dict[tuple[bytes, int], tuple[float, RevocationStatus]] = field(default_factory=dict)
    _session: aiohttp.ClientSession | None = None

    def _own(self, issuer: x509.Certificate) -> bool:
        return self.pki is not None and issuer == self.pki.issuing_cert

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def status(
        self, cert: x509.Certificate, issuer: x509.Certificate, *, fault: RevocationFault | None = None
    ) -> RevocationStatus:
        """``fault`` (fault injection): OCSP unavailable / tryLater / unknown and the CRL fresh, stale or
        unavailable, for this one check — the cache is neither read nor written while one is in force."""
        key = (issuer.fingerprint(hashes.SHA256()), cert.serial_number)
        hit = self._cache.get(key) if fault is None else None
        if hit is not None and hit[0] > time.monotonic():
            self.stats.cache_hits += 1
            s = hit[1]
            return RevocationStatus(s.status, "cache", s.revoked_at, s.reason)
        problems: list[str] = []
        status = await self._ocsp(cert, issuer, problems, fault)
        if status is None:
            status = await self._crl(cert, issuer, problems, fault)
        if status is None:
            self.stats.failures += 1
            raise ShlyuzError(
                ErrorCode.REVOCATION_UNAVAILABLE,
                f"the revocation status of certificate {cert.serial_number:X} is unknown: " + "; ".join(problems),
            )
        if self.ttl > 0 and fault is None:
            self._cache[key] = (time.monotonic() + self.ttl, status)
        return status

    async def _ocsp(
        self, cert: x509.Certificate, issuer: x509.Certificate, problems: list[str], fault: RevocationFault | None = None
    ) -> RevocationStatus | None:
        url = _ocsp_url(cert)
        if url is None and not self._own(issuer):
            problems.append("the certificate names no OCSP responder")
            return None
        nonce = os.urandom(16)
        request = build_ocsp_request(cert, issuer, nonce)
        self.stats.ocsp_requests += 1
        try:
            if fault is not None:
                injected = self._ocsp_fault(fault, request, issuer, url, problems)
                if injected is None:
                    return None
                der = injected
            elif self._own(issuer):
                assert self.pki is not None
                der = self.pki.ocsp(request, self.now())
            else:
                async with self._http().post(
                    url, data=request, headers={"Content-Type": "application/ocsp-request"}
                ) as resp:
                    if resp.status != 200:
                        problems.append(f"OCSP responder {url} answered HTTP {resp.status}")
                        return None
                    der = await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            problems.append(f"OCSP responder {url} unreachable: {type(exc).__name__}")
            return None
        result = read_ocsp_response(der, issuer_cert=issuer, cert=cert, nonce=nonce, now=self.now())
        if result.status in ("good", "revoked"):
            return RevocationStatus(result.status, "ocsp", result.revoked_at, _reason(result.reason))
        problems.append(f"OCSP said {result.status}" + (f" ({result.error})" if result.error else ""))
        return None

    def _ocsp_fault(
        self, fault: RevocationFault, request: bytes, issuer: x509.Certificate, url: str | None, problems: list[str]
    ) -> bytes | None:
        """The responder's answer under an injected fault: none (unreachable), ``tryLater``, or a signed
        ``unknown`` from shlyuz's own responder (another CA's responder cannot be imitated: noted as said)."""
        where = url or "(local)"
        if fault.ocsp == "unavailable":
            problems.append(f"OCSP responder {where} unreachable: fault injected")
            return None
        if fault.ocsp == "tryLater":
            return ocsp_error("tryLater")
        if self._own(issuer):
            assert self.pki is not None
            return self.pki.ocsp(request, self.now(), status_of=lambda serial: UNKNOWN)
        problems.append(f"OCSP said unknown (fault injected at {where})")
        return None

    async def _crl(
        self, cert: x509.Certificate, issuer: x509.Certificate, problems: list[str], fault: RevocationFault | None = None
    ) -> RevocationStatus | None:
        url = _crl_url(cert)
        self.stats.crl_fetches += 1
        crl_fault = fault.crl if fault is not None else "ok"
        if crl_fault == "unavailable":
            problems.append(f"CRL {url or '(local)'} unreachable: fault injected")
            return None
        if crl_fault == "stale" and not self._own(issuer):
            problems.append(f"CRL {url} is stale (fault injected)")
            return None
        try:
            if self._own(issuer):
                assert self.pki is not None
                # a stale CRL: the one the CA issued a validity period and an hour ago, its nextUpdate long past
                at = self.now() - (CRL_VALIDITY + timedelta(hours=1) if crl_fault == "stale" else timedelta(0))
                der = self.pki.crl(at)
            elif url is None:
                problems.append("the certificate names no CRL")
                return None
            else:
                async with self._http().get(url) as resp:
                    if resp.status != 200:
                        problems.append(f"CRL {url} answered HTTP {resp.status}")
                        return None
                    der = await resp.read()
            crl = read_crl(der, issuer)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            problems.append(f"CRL {url} unreachable: {type(exc).__name__}")
            return None
        except CrlError as exc:
            problems.append(f"CRL {url}: {exc}")
            return None
        if crl.next_update is not None and crl.next_update < self.now():
            problems.append(f"CRL {url} is stale (nextUpdate {crl.next_update.isoformat()})")
            return None
        s = crl.status(cert.serial_number)
        return RevocationStatus(s.status, "crl", s.revoked_at, _reason(s.reason))

