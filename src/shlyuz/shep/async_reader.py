"""Bytes → :class:`AsyncCall`: the AsyncChannel v10 schema's rules, enforced with precise messages.

Shares the SyncChannel reader's machinery (content type, safe parsing, the SOAP envelope, XSD sequences of
unqualified elements, ``xsd:dateTime``, ``data``). Two readers:

- :func:`read_async_request` — what a participant sends to SHEP (``IAsyncChannel``: ``sendMessage``,
  ``getMessages``, ``getMessageStatus``, ``sendDeliveryNotification`` in ``…/AsyncChannel/v10/Types``);
- :func:`read_client_request` — what SHEP pushes to a participant (``IAsyncChannelClient``: ``sendMessage`` and
  ``changeMassageStatusNotification``), in ``…/Types/Client`` as the XSD says or in ``…/Types`` as real pushes do
  (kz_egov.md §1.2, "important quirk"): both are accepted.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.shep import ns
from shlyuz.shep.async_events import (
    AsyncCall,
    AsyncMessageInfo,
    ChangeStatusNotification,
    ChangeStatusNotifyRequest,
    DeliveryNotification,
    DeliveryStatusInfo,
    GetMessagesRequest,
    GetMessageStatusRequest,
    MessageState,
    MessageStatusInfo,
    MessageType,
    Operation,
    ReceiveStatus,
    ResendMessage,
    SendDeliveryNotificationRequest,
    WireMessage,
)
from shlyuz.shep.events import DataKind, ErrorInfo, Property, SenderInfo
from shlyuz.shep.reader import (
    GUID_RE,
    _bad,
    _opt_text,
    _sequence,
    _text,
    check_content_type,
    parse_datetime,
    read_data,
    split_envelope,
)
from shlyuz.xml.safe import DEFAULT_LIMITS, XmlLimits, parse

SERVER_OPERATIONS = {
    ns.q(ns.ASYNC_TYPES, op.value): op
    for op in (Operation.SEND_MESSAGE, Operation.GET_MESSAGES, Operation.GET_MESSAGE_STATUS,
               Operation.SEND_DELIVERY_NOTIFICATION)
}  # fmt: skip
CLIENT_OPERATIONS = {
    ns.q(namespace, op.value): op
    for namespace in (ns.ASYNC_CLIENT, ns.ASYNC_TYPES)
    for op in (Operation.SEND_MESSAGE, Operation.CHANGE_STATUS_NOTIFICATION)
}

_MESSAGE_INFO = (
    ("messageId", 0, 1),
    ("correlationId", 0, 1),
    ("serviceId", 1, 1),
    ("messageType", 1, 1),
    ("routeId", 0, 1),
    ("messageDate", 1, 1),
    ("sender", 1, 1),
    ("properties", 0, None),
    ("sessionId", 0, 1),
)


def _enum(cls, text: str, where: str):
    try:
        return cls(text.strip())
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise _bad(f"{where}: {text.strip()[:40]!r} is not one of {allowed}") from None


def _date(found: dict[str, list[etree._Element]], name: str, where: str) -> datetime | None:
    els = found[name]
    return parse_datetime(_text(els[0]).strip(), f"{where}/{name}") if els else None


def _required_date(found: dict[str, list[etree._Element]], name: str, where: str) -> datetime:
    value = _date(found, name, where)
    assert value is not None  # the sequence spec made it mandatory
    return value


def _session_id(found: dict[str, list[etree._Element]], where: str) -> str | None:
    value = _opt_text(found, "sessionId")
    if value is not None and not GUID_RE.fullmatch(value):
        raise _bad(f"{where}/sessionId {value!r} is not a braced GUID like {{xxxxxxxx-xxxx-...}}")
    return value


def read_sender(el: etree._Element) -> SenderInfo:
    f = _sequence(el, (("senderId", 1, 1), ("password", 0, 1)))
    return SenderInfo(_text(f["senderId"][0]), _opt_text(f, "password"))


def read_properties(els: list[etree._Element], where: str) -> tuple[Property, ...]:
    props = []
    for p in els:
        pf = _sequence(p, (("key", 1, 1), ("value", 1, 1)))
        key, value = _text(pf["key"][0]), _text(pf["value"][0])
        if len(key) > 30:
            raise _bad(f"{where}/properties/key {key[:40]!r} is {len(key)} characters; the maximum is 30")
        if len(value) > 500:
            raise _bad(f"{where}/properties/value of {key!r} is {len(value)} characters; the maximum is 500")
        props.append(Property(key, value))
    return tuple(props)


def read_message_info(el: etree._Element) -> AsyncMessageInfo:
    f = _sequence(el, _MESSAGE_INFO)
    where = "messageInfo"
    return AsyncMessageInfo(
        message_id=_opt_text(f, "messageId"),
        correlation_id=_opt_text(f, "correlationId"),
        service_id=_text(f["serviceId"][0]).strip(),
        message_type=_enum(MessageType, _text(f["messageType"][0]), f"{where}/messageType"),
        route_id=_opt_text(f, "routeId"),
        message_date=_required_date(f, "messageDate", where),
        sender=read_sender(f["sender"][0]),
        properties=read_properties(f["properties"], where),
        session_id=_session_id(f, where),
    )


def read_wire_message(el: etree._Element, limits: XmlLimits) -> WireMessage:
    """``AsyncSendMessageRequest`` / ``AsyncMessage``: messageInfo, then messageData with its mandatory data."""
    parts = _sequence(el, (("messageInfo", 1, 1), ("messageData", 1, 1)))
    info = read_message_info(parts["messageInfo"][0])
    data_el = _sequence(parts["messageData"][0], (("data", 1, 1),))["data"][0]
    kind, payload = read_data(data_el, limits)
    text = (data_el.text or "").strip() if kind is DataKind.STRING else None
    return WireMessage(info=info, data_kind=kind, payload=payload, text=text)


def _read_get_messages(el: etree._Element) -> GetMessagesRequest:
    spec = (
        ("messageId", 0, 1), ("correlationId", 0, 1), ("requestDate", 0, 1), ("serviceId", 1, 1),
        ("sender", 0, 1), ("amount", 0, 1), ("properties", 0, None),
    )  # fmt: skip
    f = _sequence(el, spec)
    amount = None
    if f["amount"]:
        text = _text(f["amount"][0]).strip()
        try:
            amount = int(text)
        except ValueError:
            raise _bad(f"getMessages/request/amount {text[:20]!r} is not an xsd:int") from None
        if not -(2**31) <= amount < 2**31:
            raise _bad(f"getMessages/request/amount {text[:20]!r} is out of the xsd:int range")
    return GetMessagesRequest(
        message_id=_opt_text(f, "messageId"),
        correlation_id=_opt_text(f, "correlationId"),
        request_date=_date(f, "requestDate", "getMessages/request"),
        service_id=_text(f["serviceId"][0]).strip(),
        sender=read_sender(f["sender"][0]) if f["sender"] else None,
        amount=amount,
        properties=read_properties(f["properties"], "getMessages/request"),
    )


def _read_get_status(el: etree._Element) -> GetMessageStatusRequest:
    f = _sequence(el, (("messageId", 1, 1), ("requestDate", 1, 1), ("sender", 1, 1), ("properties", 0, None)))
    return GetMessageStatusRequest(
        message_id=_text(f["messageId"][0]).strip(),
        request_date=_required_date(f, "requestDate", "getMessageStatus/request"),
        sender=read_sender(f["sender"][0]),
        properties=read_properties(f["properties"], "getMessageStatus/request"),
    )


def read_error_info(el: etree._Element) -> ErrorInfo:
    spec = (("errorCode", 1, 1), ("errorMessage", 1, 1), ("errorData", 0, 1), ("errorDate", 1, 1),
            ("subError", 0, 1), ("sessionId", 0, 1))  # fmt: skip
    f = _sequence(el, spec)
    return ErrorInfo(
        error_code=_text(f["errorCode"][0]),
        error_message=_text(f["errorMessage"][0]),
        error_data=_opt_text(f, "errorData"),
        error_date=_required_date(f, "errorDate", "error"),
        sub_error=read_error_info(f["subError"][0]) if f["subError"] else None,
        session_id=_session_id(f, "error"),
    )


def _read_delivery_notification(el: etree._Element) -> SendDeliveryNotificationRequest:
    f = _sequence(el, (("notification", 1, 1), ("requestDate", 1, 1), ("sender", 0, 1)))
    nf = _sequence(
        f["notification"][0],
        (("messageId", 1, 1), ("serviceId", 1, 1), ("notificationDate", 1, 1), ("deliveryStatus", 1, 1)),
    )
    where = "sendDeliveryNotification/request/notification/deliveryStatus"
    sf = _sequence(
        nf["deliveryStatus"][0],
        (("receiveStatus", 1, 1), ("statusDate", 1, 1), ("resendMessage", 1, 1), ("error", 0, 1)),
    )
    status = DeliveryStatusInfo(
        receive_status=_enum(ReceiveStatus, _text(sf["receiveStatus"][0]), f"{where}/receiveStatus"),
        status_date=_required_date(sf, "statusDate", where),
        resend=_enum(ResendMessage, _text(sf["resendMessage"][0]), f"{where}/resendMessage"),
        error=read_error_info(sf["error"][0]) if sf["error"] else None,
    )
    notification = DeliveryNotification(
        message_id=_text(nf["messageId"][0]).strip(),
        service_id=_text(nf["serviceId"][0]).strip(),
        notification_date=_required_date(nf, "notificationDate", "sendDeliveryNotification/request/notification"),
        status=status,
    )
    return SendDeliveryNotificationRequest(
        notification=notification,
        request_date=_required_date(f, "requestDate", "sendDeliveryNotification/request"),
        sender=read_sender(f["sender"][0]) if f["sender"] else None,
    )


def read_status_info(el: etree._Element, where: str) -> MessageStatusInfo:
    f = _sequence(el, (("statusCode", 1, 1), ("statusMessage", 1, 1), ("statusDate", 1, 1)))
    return MessageStatusInfo(
        status_code=_text(f["statusCode"][0]),
        status_message=_text(f["statusMessage"][0]),
        status_date=_required_date(f, "statusDate", where),
    )


def _read_change_status(el: etree._Element) -> ChangeStatusNotifyRequest:
    f = _sequence(el, (("notification", 1, 1), ("requestDate", 1, 1), ("sessionId", 0, 1)))
    where = "changeMassageStatusNotification/request/notification"
    nf = _sequence(
        f["notification"][0],
        (("notificationId", 1, 1), ("messageId", 1, 1), ("notificationDate", 1, 1), ("messageState", 1, 1),
         ("status", 1, 1), ("error", 0, 1)),
    )  # fmt: skip
    notification = ChangeStatusNotification(
        notification_id=_text(nf["notificationId"][0]),
        message_id=_text(nf["messageId"][0]),
        notification_date=_required_date(nf, "notificationDate", where),
        state=_enum(MessageState, _text(nf["messageState"][0]), f"{where}/messageState"),
        status=read_status_info(nf["status"][0], f"{where}/status"),
        error=read_error_info(nf["error"][0]) if nf["error"] else None,
    )
    return ChangeStatusNotifyRequest(
        notification=notification,
        request_date=_required_date(f, "requestDate", "changeMassageStatusNotification/request"),
        session_id=_session_id(f, "changeMassageStatusNotification/request"),
    )


def _request_element(operation: etree._Element) -> etree._Element:
    request = _sequence(operation, (("request", 1, 1),))["request"][0]
    if request.get(ns.q(ns.XSI, "nil")) in ("true", "1"):
        raise _bad(f"{etree.QName(operation).localname}/request must not be nil")
    return request


def _envelope(body: bytes, content_type: str | None, limits: XmlLimits):
    media = check_content_type(content_type)
    root = parse(body, limits)
    headers, operation = split_envelope(root)
    return media, root, headers, operation


def operation_of(operation: etree._Element) -> Operation:
    """Which ``IAsyncChannel`` operation the Body element is (UNKNOWN_OPERATION otherwise)."""
    op = SERVER_OPERATIONS.get(operation.tag)
    if op is None:
        allowed = ", ".join(o.value for o in SERVER_OPERATIONS.values())
        raise ShlyuzError(
            ErrorCode.UNKNOWN_OPERATION,
            f"the Body holds {etree.QName(operation).text!r}; /bip-async/ takes {allowed} in {ns.ASYNC_TYPES}",
        )
    return op


def read_operation(op: Operation, operation: etree._Element, limits: XmlLimits = DEFAULT_LIMITS):
    """The request inside an ``IAsyncChannel`` operation element."""
    request_el = _request_element(operation)
    if op is Operation.SEND_MESSAGE:
        return read_wire_message(request_el, limits)
    if op is Operation.GET_MESSAGES:
        return _read_get_messages(request_el)
    if op is Operation.GET_MESSAGE_STATUS:
        return _read_get_status(request_el)
    return _read_delivery_notification(request_el)


def read_envelope(body: bytes, content_type: str | None, limits: XmlLimits = DEFAULT_LIMITS):
    """Content type, safe parse, SOAP 1.1 envelope: ``(media type, root, header blocks, the Body element)``."""
    return _envelope(body, content_type, limits)


def read_async_request(body: bytes, content_type: str | None, limits: XmlLimits = DEFAULT_LIMITS) -> AsyncCall:
    """Parse a request to SHEP's ``IAsyncChannel``; raise :class:`ShlyuzError` with the first problem found."""
    media, root, headers, operation = _envelope(body, content_type, limits)
    op = operation_of(operation)
    request = read_operation(op, operation, limits)
    return AsyncCall(op, request, envelope=root, headers=headers, soap_content_type=media)


def read_client_request(body: bytes, content_type: str | None, limits: XmlLimits = DEFAULT_LIMITS) -> AsyncCall:
    """Parse what SHEP sends to a participant's endpoint (``IAsyncChannelClient``)."""
    media, root, headers, operation = _envelope(body, content_type, limits)
    op = CLIENT_OPERATIONS.get(operation.tag)
    if op is None:
        raise ShlyuzError(
            ErrorCode.UNKNOWN_OPERATION,
            f"the Body holds {etree.QName(operation).text!r}; an IAsyncChannelClient endpoint takes sendMessage or "
            f"changeMassageStatusNotification in {ns.ASYNC_CLIENT}",
        )
    request_el = _request_element(operation)
    request = read_wire_message(request_el, limits) if op is Operation.SEND_MESSAGE else _read_change_status(request_el)
    return AsyncCall(op, request, envelope=root, headers=headers, soap_content_type=media)
