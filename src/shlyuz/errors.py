"""Stable error codes.

Every code is listed with its meaning in ``docs/errors.md`` (a test keeps the two in step). SHEP endpoints answer
them as SOAP 1.1 faults carrying ``ErrorInfo``; JSON APIs answer them as ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FaultKind(enum.Enum):
    """SOAP 1.1 faultcode families (SOAP 1.1 §4.4.1)."""

    CLIENT = "Client"
    SERVER = "Server"
    VERSION_MISMATCH = "VersionMismatch"
    MUST_UNDERSTAND = "MustUnderstand"


class ErrorCode(str, enum.Enum):
    """The gateway's own error codes. The value is what goes on the wire."""

    def __new__(cls, value: str, kind: FaultKind, meaning: str) -> "ErrorCode":
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.kind = kind  # type: ignore[attr-defined]
        obj.meaning = meaning  # type: ignore[attr-defined]
        return obj

    # transport
    EMPTY_BODY = ("EMPTY_BODY", FaultKind.CLIENT, "The HTTP request carried no body.")
    BODY_TOO_LARGE = ("BODY_TOO_LARGE", FaultKind.CLIENT, "The body exceeds the configured size cap (limits.max_body_bytes).")
    UNSUPPORTED_MEDIA_TYPE = (
        "UNSUPPORTED_MEDIA_TYPE",
        FaultKind.CLIENT,
        "Content-Type is neither text/xml nor application/soap+xml, or names a charset other than UTF-8.",
    )
    # XML
    MALFORMED_XML = ("MALFORMED_XML", FaultKind.CLIENT, "The body is not well-formed XML (the message gives line and column).")
    XML_DTD_FORBIDDEN = (
        "XML_DTD_FORBIDDEN",
        FaultKind.CLIENT,
        "The document has a DOCTYPE: DTDs, entity declarations and external entities are never processed.",
    )
    XML_TOO_DEEP = ("XML_TOO_DEEP", FaultKind.CLIENT, "Elements are nested deeper than limits.max_depth.")
    XML_TOO_LARGE = ("XML_TOO_LARGE", FaultKind.CLIENT, "The document has more elements than limits.max_elements.")
    # SOAP
    SOAP_VERSION_MISMATCH = (
        "SOAP_VERSION_MISMATCH",
        FaultKind.VERSION_MISMATCH,
        "The envelope is not SOAP 1.1 (for example SOAP 1.2): SHEP v10 binds SOAP 1.1 only.",
    )
    NOT_SOAP_ENVELOPE = ("NOT_SOAP_ENVELOPE", FaultKind.CLIENT, "The document element is not a SOAP Envelope.")
    SOAP_BODY_INVALID = (
        "SOAP_BODY_INVALID",
        FaultKind.CLIENT,
        "The Envelope has no Body, more than one Body or Header, children in the wrong order, or a Body without exactly one element.",
    )
    MUST_UNDERSTAND = (
        "MUST_UNDERSTAND",
        FaultKind.MUST_UNDERSTAND,
        "A SOAP header block marked mustUnderstand=\"1\" is not one the gateway processes.",
    )
    UNKNOWN_OPERATION = (
        "UNKNOWN_OPERATION",
        FaultKind.CLIENT,
        "The Body element is not an operation of this endpoint (SyncChannel: {http://bip.bee.kz/SyncChannel/v10/Types}SendMessage).",
    )
    SCHEMA_VALIDATION = (
        "SCHEMA_VALIDATION",
        FaultKind.CLIENT,
        "The request does not match the SHEP v10 schema: a required element is missing, out of order, repeated, unknown, or of the wrong type.",
    )
    # sender and routing
    SENDER_UNKNOWN = ("SENDER_UNKNOWN", FaultKind.CLIENT, "sender/senderId is not in the sender registry.")
    AUTH_FAILED = ("AUTH_FAILED", FaultKind.CLIENT, "sender/password is missing or does not match the registry.")
    SERVICE_NOT_FOUND = ("SERVICE_NOT_FOUND", FaultKind.CLIENT, "No information system is registered for requestInfo/serviceId.")
    SERVICE_NOT_ALLOWED = (
        "SERVICE_NOT_ALLOWED",
        FaultKind.CLIENT,
        "The sender is authenticated but not allowed to call this serviceId.",
    )
    # electronic digital signatures (EDS / ЭЦП)
    SIGNATURE_MISSING = (
        "SIGNATURE_MISSING",
        FaultKind.CLIENT,
        "A signature this endpoint or serviceId requires is absent (WS-Security on /bip-sync-wss-gost/, or the data signature).",
    )
    SIGNATURE_INVALID = (
        "SIGNATURE_INVALID",
        FaultKind.CLIENT,
        "A signature does not verify: digest or signature value mismatch, malformed Signature or KeyInfo, or references that do not cover exactly the Body / the data element (signature wrapping, duplicate Ids).",
    )
    UNSUPPORTED_ALGORITHM = (
        "UNSUPPORTED_ALGORITHM",
        FaultKind.CLIENT,
        "The signature, digest, canonicalisation or transform algorithm is not one shlyuz verifies (e.g. GOST 34.310-2004 / 34.10-2015, or RSA-SHA1 while it is off).",
    )
    CERT_UNTRUSTED = (
        "CERT_UNTRUSTED",
        FaultKind.CLIENT,
        "The signer's certificate does not chain to a trusted CA (shlyuz's test NCA or a CA added with --trust-ca).",
    )
    CERT_EXPIRED = ("CERT_EXPIRED", FaultKind.CLIENT, "The signer's certificate expired before the gateway clock's time.")
    CERT_NOT_YET_VALID = ("CERT_NOT_YET_VALID", FaultKind.CLIENT, "The signer's certificate is not valid yet at the gateway clock's time.")
    CERT_REVOKED = ("CERT_REVOKED", FaultKind.CLIENT, "The signer's certificate is revoked (OCSP, or the CRL as fallback).")
    CERT_KEY_USAGE = (
        "CERT_KEY_USAGE",
        FaultKind.CLIENT,
        "The certificate's key usage or extended key usage does not fit the purpose: SIGN (nonRepudiation, emailProtection) for documents, AUTH (clientAuth) for authentication.",
    )
    IIN_MISMATCH = (
        "IIN_MISMATCH",
        FaultKind.CLIENT,
        "The IIN/BIN in the signer's certificate differs from the IIN/BIN in the payload where the service requires them to match.",
    )
    REVOCATION_UNAVAILABLE = (
        "REVOCATION_UNAVAILABLE",
        FaultKind.SERVER,
        "Neither OCSP nor the CRL could tell the certificate's revocation status.",
    )
    # provider side
    PROVIDER_ERROR = ("PROVIDER_ERROR", FaultKind.SERVER, "The information system behind the serviceId failed to answer.")
    INTERNAL_ERROR = ("INTERNAL_ERROR", FaultKind.SERVER, "An unexpected gateway error; the journal and the log hold the details.")
    # JSON APIs
    INVALID_PARAMETER = ("INVALID_PARAMETER", FaultKind.CLIENT, "A JSON API query parameter or body field is invalid.")
    NOT_FOUND = ("NOT_FOUND", FaultKind.CLIENT, "No such resource or route.")
    METHOD_NOT_ALLOWED = ("METHOD_NOT_ALLOWED", FaultKind.CLIENT, "The HTTP method is not allowed on this route.")
    INVALID_JSON = ("INVALID_JSON", FaultKind.CLIENT, "A JSON API body is not JSON, not UTF-8, too large, or not an object.")
    UNAUTHENTICATED = ("UNAUTHENTICATED", FaultKind.CLIENT, "A JSON API call needs a valid login (bearer token) and had none.")
    FORBIDDEN = ("FORBIDDEN", FaultKind.CLIENT, "The logged-in user or operator may not do this.")
    CONFLICT = ("CONFLICT", FaultKind.CLIENT, "The resource is not in a state that allows this (e.g. already decided).")


@dataclass(eq=False)
class ShlyuzError(Exception):
    """An error with a stable code and a message that says what was wrong."""

    code: ErrorCode
    message: str
    data: str | None = None

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}"
