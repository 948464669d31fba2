"""Bytes → :class:`SyncRequest`. The SHEP v10 schema's rules, enforced with precise messages.

The reader checks exactly what ``SyncChannel/v10/Types/*.xsd`` and ``common/v10/Types/*.xsd`` require (element order,
cardinality, unqualified children, ``xsd:dateTime``, the ``guid`` pattern, ``Property`` lengths). The test suite
checks it against the official XSDs as an independent implementation (tests/test_reader_vs_xsd.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from lxml import etree

from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.shep import ns
from shlyuz.shep.events import DataKind, Property, RequestInfo, SenderInfo, SyncRequest
from shlyuz.xml.safe import DEFAULT_LIMITS, XmlLimits, parse

SOAP_CONTENT_TYPES = ("text/xml", "application/soap+xml")
GUID_RE = re.compile(r"\{[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}\}")
# xsd:dateTime: optional fraction, optional zone; year may have more digits or a sign.
_DATETIME_RE = re.compile(
    r"-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-](?:(?:0\d|1[0-3]):[0-5]\d|14:00))?"
)

SEND_MESSAGE = ns.q(ns.SYNC_TYPES, "SendMessage")
WSSE_SECURITY = ns.q(ns.WSSE, "Security")
UNDERSTOOD_HEADERS = frozenset({WSSE_SECURITY})


def _bad(msg: str) -> ShlyuzError:
    return ShlyuzError(ErrorCode.SCHEMA_VALIDATION, msg)


def check_content_type(content_type: str | None) -> str:
    """Accept ``text/xml`` and ``application/soap+xml`` (UTF-8 or no charset); return the bare media type."""
    if not content_type:
        raise ShlyuzError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Content-Type is missing; send text/xml; charset=UTF-8")
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if media not in SOAP_CONTENT_TYPES:
        raise ShlyuzError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Type {media!r} is not accepted; send text/xml (SOAP 1.1) or application/soap+xml",
        )
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
            if charset not in ("utf-8", "utf8"):
                raise ShlyuzError(
                    ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"charset {charset!r} is not accepted; SHEP speaks UTF-8"
                )
    return media


def parse_datetime(text: str, where: str) -> datetime:
    if not _DATETIME_RE.fullmatch(text):
        raise _bad(f"{where}: {text!r} is not an xsd:dateTime (expected e.g. 2024-05-01T10:00:00.000+05:00)")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _bad(f"{where}: {text!r} is not a valid date and time: {exc}") from None


def _children(el: etree._Element) -> list[etree._Element]:
    """Element children, skipping comments and processing instructions; text between them must be blank."""
    out = []
    if el.text and el.text.strip():
        raise _bad(f"{_path(el)}: unexpected text {el.text.strip()[:40]!r}")
    for child in el:
        if isinstance(child.tag, str):
            out.append(child)
        if child.tail and child.tail.strip():
            raise _bad(f"{_path(el)}: unexpected text {child.tail.strip()[:40]!r}")
    return out


def _path(el: etree._Element) -> str:
    parts = []
    while el is not None and isinstance(el.tag, str):
        parts.append(etree.QName(el).localname)
        el = el.getparent()
        if el is not None and etree.QName(el).localname == "Body":
            break
    return "/".join(reversed(parts))


def _sequence(
    parent: etree._Element, spec: Sequence[tuple[str, int, int | None]]
) -> dict[str, list[etree._Element]]:
    """Match ``parent``'s children against an XSD sequence of unqualified elements ``(name, min, max)``.

    On the hot path this compares tags as strings (an unqualified element's tag is its bare name) and builds the
    element's path only for an error message."""
    children = _children(parent)
    found: dict[str, list[etree._Element]] = {name: [] for name, _, _ in spec}
    i, n = 0, len(children)
    for name, lo, hi in spec:
        matched = found[name]
        while i < n:
            child = children[i]
            tag = child.tag
            if tag != name:
                if tag.endswith("}" + name):  # the right local name in a namespace
                    namespace = etree.QName(child).namespace
                    raise _bad(f"{_path(parent)}/{name} must be unqualified (no namespace), got {{{namespace}}}{name}")
                break
            matched.append(child)
            i += 1
            if hi is not None and len(matched) > hi:
                raise _bad(f"{_path(parent)}/{name} may occur at most {hi} time(s)")
        if len(matched) < lo:
            got = etree.QName(children[i]).localname if i < n else "the end of the element"
            raise _bad(f"{_path(parent)}/{name} is required, found {got!r} instead")
    if i < n:
        extra = etree.QName(children[i])
        names = [n for n, _, _ in spec]
        label = extra.text if extra.namespace else extra.localname
        if extra.localname in names:
            raise _bad(f"{_path(parent)}/{extra.localname} is out of order or repeated (the order is {', '.join(names)})")
        raise _bad(f"{_path(parent)}: unexpected element {label!r} (allowed: {', '.join(names)})")
    return found


def _text(el: etree._Element, *, required: bool = True) -> str:
    if len(el):
        for child in el:
            if isinstance(child.tag, str):
                raise _bad(f"{_path(el)} must hold text, not the element {etree.QName(child).localname!r}")
        text = "".join(el.itertext())  # text split by comments or processing instructions
    else:
        text = el.text or ""
    if required and text == "" and el.get(ns.q(ns.XSI, "nil")) == "true":
        raise _bad(f"{_path(el)} must not be nil")
    return text


def _opt_text(found: dict[str, list[etree._Element]], name: str) -> str | None:
    els = found[name]
    return _text(els[0]) if els else None


def split_envelope(root: etree._Element) -> tuple[tuple[etree._Element, ...], etree._Element]:
    """Check the SOAP 1.1 envelope; return its header blocks and the single Body element."""
    qn = etree.QName(root)
    if qn.localname != "Envelope":
        raise ShlyuzError(
            ErrorCode.NOT_SOAP_ENVELOPE,
            f"the document element is {qn.text!r}, not {{{ns.SOAP11}}}Envelope",
        )
    if qn.namespace != ns.SOAP11:
        version = "SOAP 1.2" if qn.namespace == ns.SOAP12 else f"namespace {qn.namespace!r}"
        raise ShlyuzError(
            ErrorCode.SOAP_VERSION_MISMATCH,
            f"the envelope is {version}; SHEP v10 binds SOAP 1.1 ({ns.SOAP11})",
        )
    header = body = None
    for child in root:
        if not isinstance(child.tag, str):
            continue
        cq = etree.QName(child)
        if cq.namespace == ns.SOAP11 and cq.localname == "Header" and header is None and body is None:
            header = child
        elif cq.namespace == ns.SOAP11 and cq.localname == "Body" and body is None:
            body = child
        elif body is not None and cq.namespace not in (None, ns.SOAP11):
            continue  # SOAP 1.1 §4: qualified elements may follow the Body
        else:
            raise ShlyuzError(
                ErrorCode.SOAP_BODY_INVALID,
                f"unexpected {cq.text!r} in the Envelope (allowed: an optional Header, then one Body)",
            )
    if body is None:
        raise ShlyuzError(ErrorCode.SOAP_BODY_INVALID, "the Envelope has no Body")
    blocks: tuple[etree._Element, ...] = ()
    if header is not None:
        blocks = tuple(c for c in header if isinstance(c.tag, str))
        for block in blocks:
            mu = block.get(ns.q(ns.SOAP11, "mustUnderstand"))
            if mu in ("1", "true") and block.tag not in UNDERSTOOD_HEADERS:
                raise ShlyuzError(
                    ErrorCode.MUST_UNDERSTAND,
                    f"header block {etree.QName(block).text!r} is marked mustUnderstand but is not processed here",
                )
    elements = [c for c in body if isinstance(c.tag, str)]
    if (body.text and body.text.strip()) or any(c.tail and c.tail.strip() for c in body):
        raise ShlyuzError(ErrorCode.SOAP_BODY_INVALID, "the Body holds text outside its element")
    if len(elements) != 1:
        raise ShlyuzError(
            ErrorCode.SOAP_BODY_INVALID, f"the Body must hold exactly one element, it holds {len(elements)}"
        )
    return blocks, elements[0]


_REQUEST_INFO = (
    ("messageId", 1, 1),
    ("correlationId", 0, 1),
    ("serviceId", 1, 1),
    ("messageDate", 1, 1),
    ("routeId", 0, 1),
    ("sender", 1, 1),
    ("properties", 0, None),
    ("sessionId", 0, 1),
)


def _blank(text: str | None) -> bool:
    return not text or text.isspace()


def _key_value(p: etree._Element) -> tuple[etree._Element, etree._Element]:
    """A ``properties`` element's ``key`` and ``value``: the common shape checked directly (a request may carry
    dozens), anything else through :func:`_sequence` and its precise errors."""
    if len(p) == 2 and _blank(p.text):
        key, value = p[0], p[1]
        if key.tag == "key" and value.tag == "value" and _blank(key.tail) and _blank(value.tail):
            return key, value
    found = _sequence(p, (("key", 1, 1), ("value", 1, 1)))
    return found["key"][0], found["value"][0]


def read_request_info(el: etree._Element) -> RequestInfo:
    f = _sequence(el, _REQUEST_INFO)
    sender_f = _sequence(f["sender"][0], (("senderId", 1, 1), ("password", 0, 1)))
    props = []
    for p in f["properties"]:
        key_el, value_el = _key_value(p)
        key, value = _text(key_el), _text(value_el)
        if len(key) > 30:
            raise _bad(f"requestInfo/properties/key {key[:40]!r} is {len(key)} characters; the maximum is 30")
        if len(value) > 500:
            raise _bad(f"requestInfo/properties/value of {key!r} is {len(value)} characters; the maximum is 500")
        props.append(Property(key, value))
    session_id = _opt_text(f, "sessionId")
    if session_id is not None and not GUID_RE.fullmatch(session_id):
        raise _bad(f"requestInfo/sessionId {session_id!r} is not a braced GUID like {{xxxxxxxx-xxxx-...}}")
    return RequestInfo(
        message_id=_text(f["messageId"][0]),
        correlation_id=_opt_text(f, "correlationId"),
        service_id=_text(f["serviceId"][0]).strip(),
        message_date=parse_datetime(_text(f["messageDate"][0]).strip(), "requestInfo/messageDate"),
        route_id=_opt_text(f, "routeId"),
        sender=SenderInfo(_text(sender_f["senderId"][0]), _opt_text(sender_f, "password")),
        properties=tuple(props),
        session_id=session_id,
    )


def _xsi_type(el: etree._Element) -> tuple[str | None, str] | None:
    value = el.get(ns.q(ns.XSI, "type"))
    if value is None:
        return None
    prefix, _, local = value.strip().rpartition(":")
    return el.nsmap.get(prefix or None), local


def read_data(data: etree._Element | None, limits: XmlLimits) -> tuple[DataKind, etree._Element | None]:
    """Interpret ``requestData/data``: inline XML, or an escaped XML string, or nothing."""
    if data is None:
        return DataKind.EMPTY, None
    elements = [c for c in data if isinstance(c.tag, str)]
    xsi = _xsi_type(data)
    is_string = xsi is not None and xsi[0] == ns.XS and xsi[1] == "string"
    if elements:
        if is_string:
            raise _bad("requestData/data is declared xs:string but holds elements")
        return DataKind.XML, data
    text = (data.text or "").strip()
    if not text:
        return DataKind.EMPTY, None
    if is_string or text.startswith("<"):
        try:
            return DataKind.STRING, parse(text.encode("utf-8"), limits)
        except ShlyuzError as exc:
            raise ShlyuzError(exc.code, f"requestData/data (escaped XML string): {exc.message}") from None
    raise _bad("requestData/data holds text that is not XML; send inline XML or an escaped XML string")


def read_sync_request(
    body: bytes, content_type: str | None, limits: XmlLimits = DEFAULT_LIMITS
) -> SyncRequest:
    """Parse a SyncChannel ``SendMessage`` request, raising :class:`ShlyuzError` with the first problem found."""
    media = check_content_type(content_type)
    root = parse(body, limits)
    headers, operation = split_envelope(root)
    if operation.tag != SEND_MESSAGE:
        raise ShlyuzError(
            ErrorCode.UNKNOWN_OPERATION,
            f"the Body holds {etree.QName(operation).text!r}; this endpoint takes {SEND_MESSAGE}",
        )
    request = _sequence(operation, (("request", 1, 1),))["request"][0]
    parts = _sequence(request, (("requestInfo", 1, 1), ("requestData", 1, 1)))
    info = read_request_info(parts["requestInfo"][0])
    data_el = _sequence(parts["requestData"][0], (("data", 0, 1),))["data"]
    kind, payload = read_data(data_el[0] if data_el else None, limits)
    return SyncRequest(
        info=info, data_kind=kind, payload=payload, envelope=root, headers=headers, soap_content_type=media
    )


def payload_root(payload: etree._Element | None) -> etree._Element | None:
    """The business document's root: the ``data`` element itself when it carries the fields (``xsi:type`` style),
    or its single element child when it wraps a document, or the parsed root of an escaped string."""
    if payload is None:
        return None
    if etree.QName(payload).localname == "data" and etree.QName(payload).namespace is None:
        elements = [c for c in payload if isinstance(c.tag, str)]
        if len(elements) == 1 and payload.get(ns.q(ns.XSI, "type")) is None and len(elements[0]):
            return elements[0]
    return payload
