"""What the console shows of one journal entry (sans-IO): pretty-printed XML and the signature verdict in words.

The pipeline journals the EDS stage as ``verdicts["signature"]`` (gateway/pipeline.py, gateway/signature.py):

* ``{"wsse": ..., "data": ...}`` when the stage passed, each part either ``"absent"``, a note such as
  ``"present, not verified (pki disabled)"``, or ``{"verified": true, "algorithm", "subject", "iin", "bin", "serial",
  "issuer", "chain", "purpose", "keyUsage", "eku", "revocation", "notAfter"}`` (dsig/certcheck.py CertVerdict);
* ``{"failed": <error code>, "reason": <message>}`` when a check failed: the code names the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree

from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.xml.safe import XmlLimits, parse

PRETTY_MAX_BYTES = 2 * 1024 * 1024  # larger bodies are shown as they are
PARTS = {"wsse": "WS-Security signature over soap:Body", "data": "enveloped signature inside data"}
# error code -> the check of the verification that failed
FAILED_CHECK = {
    "SIGNATURE_MISSING": "presence: the endpoint or the serviceId requires a signature",
    "SIGNATURE_INVALID": "signature value / digest: the signed content or the signature does not verify",
    "UNSUPPORTED_ALGORITHM": "algorithm: the signature or digest algorithm is not accepted",
    "CERT_UNTRUSTED": "chain: the certificate does not chain to a trusted CA",
    "CERT_EXPIRED": "validity: the certificate expired before the gateway clock's time",
    "CERT_NOT_YET_VALID": "validity: the certificate is not valid yet at the gateway clock's time",
    "CERT_REVOKED": "revocation: the certificate is revoked (OCSP, or the CRL as fallback)",
    "CERT_KEY_USAGE": "key usage: the certificate is not meant for this purpose (AUTH vs SIGN)",
    "IIN_MISMATCH": "IIN: the signer's IIN is not the one the payload names",
    "REVOCATION_UNAVAILABLE": "revocation: neither OCSP nor the CRL could answer",
}


def pretty_xml(raw: bytes | str | None) -> str | None:
    """``raw`` re-indented (safe parsing: no DTD, bounded), or None when it is not well-formed XML."""
    if raw is None:
        return None
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if not data.strip() or len(data) > PRETTY_MAX_BYTES:
        return None
    try:
        root = parse(data, XmlLimits(max_bytes=PRETTY_MAX_BYTES))
    except ShlyuzError:
        return None
    for el in root.iter():  # drop indentation-only text so that lxml indents afresh
        if len(el) and el.text is not None and not el.text.strip():
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def _meaning(code: str) -> str | None:
    try:
        return getattr(ErrorCode(code), "meaning", None)
    except ValueError:
        return None


def explain_signature(verdicts: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{"state": "valid" | "absent" | "failed" | "not checked", "summary", "parts": [...], "failed"?}``."""
    sig = (verdicts or {}).get("signature")
    if not isinstance(sig, Mapping):
        return {"state": "not checked", "summary": "the request did not reach the signature stage", "parts": []}
    if "failed" in sig:
        code = str(sig.get("failed"))
        return {
            "state": "failed",
            "summary": f"{code}: {sig.get('reason', '')}",
            "parts": [],
            "failed": {"code": code, "check": FAILED_CHECK.get(code, "see the code"), "meaning": _meaning(code),
                       "reason": str(sig.get("reason", ""))},
        }  # fmt: skip
    parts = []
    for key, title in PARTS.items():
        value = sig.get(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            chain = [str(c) for c in value.get("chain") or ()]
            parts.append({
                "part": key, "title": title, "state": "valid" if value.get("verified") else "unknown",
                "algorithm": value.get("algorithm"), "subject": value.get("subject"), "iin": value.get("iin"),
                "bin": value.get("bin"), "serial": value.get("serial"), "issuer": value.get("issuer"),
                "chain": chain, "purpose": value.get("purpose"), "keyUsage": list(value.get("keyUsage") or ()),
                "eku": value.get("eku"), "revocation": value.get("revocation"), "notAfter": value.get("notAfter"),
                "checks": [
                    f"signature value verified ({value.get('algorithm')})",
                    f"chain to a trust anchor: {' → '.join(chain) if chain else 'not shown'}",
                    f"valid at the gateway clock's time (not after {value.get('notAfter')})",
                    f"key usage fits the purpose {value.get('purpose')!s}: {', '.join(value.get('keyUsage') or ()) or '—'}",
                    f"revocation checked via {value.get('revocation')}",
                ],
            })  # fmt: skip
        else:
            parts.append({"part": key, "title": title, "state": "absent" if value == "absent" else str(value)})
    verified = [p for p in parts if p["state"] == "valid"]
    if verified:
        who = ", ".join(f"{p['part']}: {p.get('subject')}" for p in verified)
        return {"state": "valid", "summary": f"verified ({who})", "parts": parts}
    return {"state": "absent", "summary": "no signature on the request", "parts": parts}
