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
    # e-government documents (egov/documents.py: Application, Decision)
    DOCUMENT_INVALID = (
        "DOCUMENT_INVALID",
        FaultKind.CLIENT,
        "An Application or Decision document does not match its schema (schemas/egov): wrong root, unknown, missing, repeated or malformed element (the message names it).",
    )
    # portal (egov.kz) and the State Corporation workstation (АРМ ИИС ЦОН)
    PERSON_NOT_FOUND = (
        "PERSON_NOT_FOUND",
        FaultKind.CLIENT,
        "The IIN is not in GBD FL (the fixtures' persons): the portal cannot register it, the State Corporation cannot accept an application for it.",
    )
    ORGANISATION_NOT_FOUND = (
        "ORGANISATION_NOT_FOUND",
        FaultKind.CLIENT,
        "The BIN is not an organisation of the fixtures, or the person is not its head or employee.",
    )
    ACCOUNT_NOT_FOUND = (
        "ACCOUNT_NOT_FOUND",
        FaultKind.CLIENT,
        "Portal login by IIN (or IIN/BIN) + password for an IIN that has no portal account: register first.",
    )
    LOGIN_FAILED = (
        "LOGIN_FAILED",
        FaultKind.CLIENT,
        "The password does not match the account (portal user or State Corporation operator).",
    )
    TOKEN_EXPIRED = (
        "TOKEN_EXPIRED",
        FaultKind.CLIENT,
        "The bearer token was valid but has expired on the gateway clock: log in again.",
    )
    CHALLENGE_INVALID = (
        "CHALLENGE_INVALID",
        FaultKind.CLIENT,
        "EDS login: the nonce is unknown, already used or expired, or the signed document does not carry the nonce it was given.",
    )
    POA_NOT_FOUND = (
        "POA_NOT_FOUND",
        FaultKind.CLIENT,
        "ENIS has no power of attorney with this number (or for these parties).",
    )
    POA_NOT_VALID = (
        "POA_NOT_VALID",
        FaultKind.CLIENT,
        "ENIS found the power of attorney but it may not be used: expired, revoked, not yet valid, not notarised, other parties, or (for a PoA entered by the operator) out of its dates; the message carries ENIS's verdict.",
    )
    # pluggable systems: a serviceId forwarded to an external implementation (systems/external.py)
    UPSTREAM_UNAVAILABLE = (
        "UPSTREAM_UNAVAILABLE",
        FaultKind.SERVER,
        "An external system (systems.external) could not be reached: connection refused or reset, name not resolved, or it answered HTTP 502/503/504.",
    )
    UPSTREAM_TIMEOUT = (
        "UPSTREAM_TIMEOUT",
        FaultKind.SERVER,
        "An external system did not answer within its configured timeout (systems.external.*.timeout).",
    )
    UPSTREAM_BAD_RESPONSE = (
        "UPSTREAM_BAD_RESPONSE",
        FaultKind.SERVER,
        "An external system answered something that is not a SyncChannel reply: an HTTP status other than 200/500 (and 502-504), unsafe or malformed XML, not a SendMessageResponse or a fault, an unknown status code, or a fault with HTTP 200.",
    )
    UPSTREAM_RESPONSE_TOO_LARGE = (
        "UPSTREAM_RESPONSE_TOO_LARGE",
        FaultKind.SERVER,
        "An external system's reply exceeds its cap (systems.external.*.max_response_bytes).",
    )
    UPSTREAM_FAULT = (
        "UPSTREAM_FAULT",
        FaultKind.SERVER,
        "An external system answered a SOAP fault; the message names the upstream and quotes its fault, errorData holds its errorCode.",
    )
    UPSTREAM_SIGNATURE_MISSING = (
        "UPSTREAM_SIGNATURE_MISSING",
        FaultKind.SERVER,
        "An external system configured with require_signature answered without the signature: no enveloped signature in its data (or, for a reply without data, no WS-Security).",
    )
    UPSTREAM_SIGNATURE_INVALID = (
        "UPSTREAM_SIGNATURE_INVALID",
        FaultKind.SERVER,
        "An external system's reply signature failed verification (digest or value mismatch, untrusted, expired or revoked certificate, wrong key usage, unsupported algorithm); errorData holds the verifier's code, e.g. CERT_UNTRUSTED.",
    )
    # record and replay (docs/record-replay.md)
    REPLAY_NO_MATCH = (
        "REPLAY_NO_MATCH",
        FaultKind.CLIENT,
        "shlyuz replay --serve: no recorded exchange matches the request (endpoint, serviceId and masked body, nor serviceId and payload key fields); the message names the closest recorded ones.",
    )
    # async channel (/bip-async/, docs/async.md)
    ASYNC_CORRELATION_REQUIRED = (
        "ASYNC_CORRELATION_REQUIRED",
        FaultKind.CLIENT,
        "A RESPONSE, NOTIFICATION or UPDATE was sent without messageInfo/correlationId (the REQUEST's messageId).",
    )
    ASYNC_CORRELATION_NOT_ALLOWED = (
        "ASYNC_CORRELATION_NOT_ALLOWED",
        FaultKind.CLIENT,
        "A REQUEST was sent with a correlationId: a REQUEST starts a chain, SHEP assigns its correlationId.",
    )
    ASYNC_CORRELATION_UNKNOWN = (
        "ASYNC_CORRELATION_UNKNOWN",
        FaultKind.CLIENT,
        "messageInfo/correlationId names no message the async channel has accepted.",
    )
    ASYNC_NOT_A_PARTY = (
        "ASYNC_NOT_A_PARTY",
        FaultKind.CLIENT,
        "The sender is not a party of the chain it answers: only the recipient of a REQUEST may send its RESPONSE, NOTIFICATION or UPDATE.",
    )
    ASYNC_MESSAGE_NOT_FOUND = (
        "ASYNC_MESSAGE_NOT_FOUND",
        FaultKind.CLIENT,
        "No accepted message has this messageId (and serviceId) among those the sender sent or receives.",
    )
    ASYNC_STATE_CONFLICT = (
        "ASYNC_STATE_CONFLICT",
        FaultKind.CLIENT,
        "The delivery notification does not fit the message's state (e.g. the message's delivery is already stopped).",
    )
    ASYNC_DUPLICATE_MESSAGE_ID = (
        "ASYNC_DUPLICATE_MESSAGE_ID",
        FaultKind.CLIENT,
        "The sender already sent a message with this messageInfo/messageId and other content (the same message again is accepted once and answered alike).",
    )
    ASYNC_INVALID_REQUEST = (
        "ASYNC_INVALID_REQUEST",
        FaultKind.CLIENT,
        "The request is valid against the schema but not acceptable: e.g. getMessages amount below 1, or sender missing where shlyuz needs it.",
    )


@dataclass(eq=False)
class ShlyuzError(Exception):
    """An error with a stable code and a message that says what was wrong."""

    code: ErrorCode
    message: str
    data: str | None = None

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}"
