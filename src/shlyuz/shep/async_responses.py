"""Bytes → events on the participant's side: what SHEP (or a participant's endpoint) answered on the async channel.

Replies are read with the same schema rules as requests; a SOAP fault becomes :class:`shlyuz.shep.responses.Fault`.
"""

from __future__ import annotations

from lxml import etree

from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.shep import ns
from shlyuz.shep.async_events import (
    ChangeStatusNotifyResponse,
    GetMessagesResponse,
    GetMessageStatusResponse,
    MessageState,
    SendDeliveryNotificationResponse,
    SendMessageResponse,
)
from shlyuz.shep.async_reader import (
    _enum,
    _required_date,
    read_status_info,
    read_wire_message,
)
from shlyuz.shep.reader import _opt_text, _sequence, _text, split_envelope
from shlyuz.shep.responses import Fault, _child, _error_info
from shlyuz.shep.responses import _text as _child_text
from shlyuz.xml.safe import DEFAULT_LIMITS, XmlLimits, parse

AsyncReply = (
    SendMessageResponse | GetMessagesResponse | GetMessageStatusResponse | SendDeliveryNotificationResponse
    | ChangeStatusNotifyResponse
)


def _fault(element: etree._Element) -> Fault:
    detail = _child(element, "detail")
    info = None
    if detail is not None:
        wrapper = next((c for c in detail if isinstance(c.tag, str)), None)
        if wrapper is not None and _child(wrapper, "errorCode") is not None:
            info = _error_info(wrapper)
    return Fault(_child_text(element, "faultcode") or "", _child_text(element, "faultstring") or "", info)


def read_async_reply(body: bytes, limits: XmlLimits = DEFAULT_LIMITS) -> AsyncReply | Fault:
    """Read any AsyncChannel reply (server or client side) or a fault."""
    root = parse(body, limits)
    _, element = split_envelope(root)
    qn = etree.QName(element)
    if qn.namespace == ns.SOAP11 and qn.localname == "Fault":
        return _fault(element)
    if qn.namespace not in (ns.ASYNC_TYPES, ns.ASYNC_CLIENT):
        raise ShlyuzError(ErrorCode.UNKNOWN_OPERATION, f"unexpected reply element {qn.text!r}")
    response = _sequence(element, (("response", 1, 1),))["response"][0]
    name = qn.localname
    where = f"{name}/response"
    if name == "sendMessageResponse":
        f = _sequence(response, (("messageId", 1, 1), ("correlationId", 1, 1), ("responseDate", 1, 1), ("sessionId", 0, 1)))
        return SendMessageResponse(
            message_id=_text(f["messageId"][0]),
            correlation_id=_text(f["correlationId"][0]),
            response_date=_required_date(f, "responseDate", where),
            session_id=_opt_text(f, "sessionId"),
        )
    if name == "getMessagesResponse":
        f = _sequence(response, (("responseDate", 1, 1), ("sessionId", 1, 1), ("messages", 0, None)))
        return GetMessagesResponse(
            response_date=_required_date(f, "responseDate", where),
            session_id=_text(f["sessionId"][0]),
            messages=tuple(read_wire_message(m, limits) for m in f["messages"]),
        )
    if name == "getMessageStatusResponse":
        f = _sequence(response, (("messageState", 1, 1), ("status", 1, 1), ("responseDate", 1, 1), ("sessionId", 0, 1)))
        return GetMessageStatusResponse(
            state=_enum(MessageState, _text(f["messageState"][0]), f"{where}/messageState"),
            status=read_status_info(f["status"][0], f"{where}/status"),
            response_date=_required_date(f, "responseDate", where),
            session_id=_opt_text(f, "sessionId"),
        )
    if name == "sendDeliveryNotificationResponse":
        f = _sequence(response, (("notificationId", 1, 1), ("responseDate", 1, 1), ("sessionId", 1, 1)))
        return SendDeliveryNotificationResponse(
            notification_id=_text(f["notificationId"][0]),
            response_date=_required_date(f, "responseDate", where),
            session_id=_text(f["sessionId"][0]),
        )
    if name == "changeMassageStatusNotificationResponse":
        f = _sequence(response, (("responseDate", 1, 1), ("sessionId", 1, 1)))
        return ChangeStatusNotifyResponse(
            response_date=_required_date(f, "responseDate", where), session_id=_text(f["sessionId"][0])
        )
    raise ShlyuzError(ErrorCode.UNKNOWN_OPERATION, f"unexpected reply element {qn.text!r}")
