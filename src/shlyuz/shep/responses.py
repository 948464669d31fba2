"""Bytes → events on the client side: a SyncChannel response or a SOAP fault with ``ErrorInfo``."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.shep import ns
from shlyuz.shep.events import DataKind, ErrorInfo, Status, SyncResponse
from shlyuz.shep.reader import parse_datetime, read_data, split_envelope
from shlyuz.xml.safe import DEFAULT_LIMITS, XmlLimits, parse


@dataclass(frozen=True, slots=True)
class Fault:
    faultcode: str
    faultstring: str
    error: ErrorInfo | None


def _child(el: etree._Element, name: str) -> etree._Element | None:
    for child in el:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return child
    return None


def _text(el: etree._Element, name: str) -> str | None:
    child = _child(el, name)
    return None if child is None else (child.text or "")


def _error_info(el: etree._Element) -> ErrorInfo:
    sub = _child(el, "subError")
    return ErrorInfo(
        error_code=_text(el, "errorCode") or "",
        error_message=_text(el, "errorMessage") or "",
        error_data=_text(el, "errorData"),
        error_date=parse_datetime(_text(el, "errorDate") or "", "errorDate"),
        session_id=_text(el, "sessionId"),
        sub_error=_error_info(sub) if sub is not None else None,
    )


def read_sync_reply(body: bytes, limits: XmlLimits = DEFAULT_LIMITS) -> SyncResponse | Fault:
    """Read what a SyncChannel endpoint answered: a :class:`SyncResponse` or a :class:`Fault`."""
    root = parse(body, limits)
    _, element = split_envelope(root)
    qn = etree.QName(element)
    if qn.namespace == ns.SOAP11 and qn.localname == "Fault":
        detail = _child(element, "detail")
        info = None
        if detail is not None:
            wrapper = next((c for c in detail if isinstance(c.tag, str)), None)
            if wrapper is not None and _child(wrapper, "errorCode") is not None:
                info = _error_info(wrapper)
        return Fault(_text(element, "faultcode") or "", _text(element, "faultstring") or "", info)
    if element.tag != ns.q(ns.SYNC_TYPES, "SendMessageResponse"):
        raise ShlyuzError(ErrorCode.UNKNOWN_OPERATION, f"unexpected reply element {qn.text!r}")
    response = _child(element, "response")
    info = _child(response, "responseInfo") if response is not None else None
    if response is None or info is None:
        raise ShlyuzError(ErrorCode.SCHEMA_VALIDATION, "SendMessageResponse without response/responseInfo")
    status = _child(info, "status")
    code = _text(status, "code") if status is not None else None
    data_parent = _child(response, "responseData")
    data = _child(data_parent, "data") if data_parent is not None else None
    kind, payload = read_data(data, limits)
    return SyncResponse(
        message_id=_text(info, "messageId") or "",
        correlation_id=_text(info, "correlationId"),
        response_date=parse_datetime(_text(info, "responseDate") or "", "responseInfo/responseDate"),
        status=Status(code) if code in {s.value for s in Status} else Status.FAILURE,
        status_message=(_text(status, "message") if status is not None else None) or "",
        session_id=_text(info, "sessionId"),
        payload=payload,
        data_kind=kind if payload is not None else DataKind.EMPTY,
    )
