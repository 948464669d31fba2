"""Verifying the enveloped signature of an Application or a Decision with the gateway's own verifier.

The XML signature is checked by :func:`shlyuz.dsig.enveloped.verify_enveloped` and the signer's certificate (chain,
validity at the gateway clock's time, SIGN key usage, revocation) by :meth:`SignatureVerifier.check` — the same code
the sync pipeline's signature stage runs; nothing is re-implemented here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from lxml import etree

from shlyuz.dsig.enveloped import verify_enveloped
from shlyuz.gateway.signature import SignatureVerifier
from shlyuz.pki import profiles as P

_ROLES = {
    P.ROLE_INDIVIDUAL.dotted_string: "individual",
    P.ROLE_ORGANISATION.dotted_string: "organisation",
    P.ROLE_CEO.dotted_string: "ceo",
    P.ROLE_CAN_SIGN.dotted_string: "can-sign",
    P.ROLE_CAN_SIGN_FINANCIAL.dotted_string: "can-sign-financial",
    P.ROLE_HR.dotted_string: "hr",
    P.ROLE_EMPLOYEE.dotted_string: "employee",
}


@dataclass(frozen=True, slots=True)
class SignedBy:
    """Who signed a document, as their verified certificate says."""

    iin: str | None
    bin: str | None  # set for an organisation's employee or an information system
    roles: tuple[str, ...]  # "individual", "ceo", "employee", "can-sign", ... (from the EKU role OIDs)
    verdict: dict[str, Any]  # algorithm + the certificate verdict, JSON-ready (as the journal shows it)
    certificate: x509.Certificate = field(repr=False)


async def verify_document(root: etree._Element, verifier: SignatureVerifier) -> SignedBy:
    """Verify ``root``'s enveloped ds:Signature and the signer's SIGN certificate.

    Raises ``ShlyuzError`` with SIGNATURE_MISSING, SIGNATURE_INVALID, UNSUPPORTED_ALGORITHM, CERT_UNTRUSTED,
    CERT_EXPIRED, CERT_NOT_YET_VALID, CERT_REVOKED, CERT_KEY_USAGE or REVOCATION_UNAVAILABLE.
    """
    result = verify_enveloped(root, allow_sha1=verifier.allow_sha1)
    cv = await verifier.check(result.certificate, ("sign",))
    roles = tuple(_ROLES[oid] for oid in (cv.eku or ()) if oid in _ROLES)
    verdict = {"verified": True, "algorithm": result.algorithm, **cv.as_dict()}
    return SignedBy(iin=cv.iin, bin=cv.bin, roles=roles, verdict=verdict, certificate=result.certificate)
