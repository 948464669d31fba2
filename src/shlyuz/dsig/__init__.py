"""EDS (ЭЦП) verification and signing, sans-IO: the WS-Security transport signature over ``soap:Body``
(:mod:`.wsse`), the enveloped business-data signature (:mod:`.enveloped`), and certificate policy checks
(:mod:`.certcheck`). See docs/dsig.md.
"""

from shlyuz.dsig.certcheck import CertVerdict, RevocationStatus, check_certificate
from shlyuz.dsig.enveloped import EnvelopedResult, sign_enveloped, verify_enveloped
from shlyuz.dsig.wsse import WsseResult, sign_envelope, verify_envelope

__all__ = [
    "CertVerdict",
    "EnvelopedResult",
    "RevocationStatus",
    "WsseResult",
    "check_certificate",
    "sign_envelope",
    "sign_enveloped",
    "verify_envelope",
    "verify_enveloped",
]
