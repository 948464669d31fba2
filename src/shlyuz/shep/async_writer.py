"""Events → bytes for the AsyncChannel v10, both directions.

SHEP's side: the replies of ``IAsyncChannel`` (``sendMessageResponse``, ``getMessagesResponse``,
``getMessageStatusResponse``, ``sendDeliveryNotificationResponse``), their faults, and what SHEP sends to a
participant's endpoint (``IAsyncChannelClient``: ``sendMessage`` push, ``changeMassageStatusNotification``).
A participant's side: the four requests to SHEP and the replies to a push (used by :mod:`shlyuz.asyncch.client`
and by tests standing in for external systems).

A payload is an lxml element, or ``bytes`` — the document exactly as stored: sent as an escaped string
(:attr:`DataKind.STRING`) it goes on the wire character for character, so signatures inside survive the relay.
"""

from __future__ import annotations

import copy

from lxml import etree

from shlyuz.errors import FaultKind
from shlyuz.shep import ns
from shlyuz.shep.async_events import (
    AsyncMessageInfo,
    ChangeStatusNotifyRequest,
    ChangeStatusNotifyResponse,
    DeliveryStatusInfo,
    GetMessagesRequest,
    GetMessagesResponse,
    GetMessageStatusRequest,
    GetMessageStatusResponse,
    MessageStatusInfo,
    Operation,
    SendDeliveryNotificationRequest,
    SendDeliveryNotificationResponse,
    SendMessageResponse,
    WireMessage,
)
from shlyuz.shep.events import DataKind, ErrorInfo, Property, SenderInfo
from shlyuz.shep.writer import (
    SignEnvelope,
    _envelope,
    _error_info,
    _finish,
    _sub,
    format_datetime,
    write_fault,
    xml_safe,
)
from shlyuz.xml.safe import parse

Payload = etree._Element | bytes | None


def _operation(namespace: str, name: str, child: str) -> tuple[etree._Element, etree._Element]:
    env, body = _envelope()
    op = etree.SubElement(body, ns.q(namespace, name), nsmap={"ns2": namespace})
    return env, _sub(op, child)


def _sender(parent: etree._Element, sender: SenderInfo, *, password: bool = True) -> None:
    el = _sub(parent, "sender")
    _sub(el, "senderId", xml_safe(sender.sender_id))
    if password and sender.password is not None:
        _sub(el, "password", xml_safe(sender.password))


def _properties(parent: etree._Element, props: tuple[Property, ...]) -> None:
    for prop in props:
        el = _sub(parent, "properties")
        _sub(el, "key", xml_safe(prop.key))
        _sub(el, "value", xml_safe(prop.value))


def append_message_info(parent: etree._Element, info: AsyncMessageInfo, *, password: bool = True) -> None:
    el = _sub(parent, "messageInfo")
    if info.message_id is not None:
        _sub(el, "messageId", xml_safe(info.message_id))
    if info.correlation_id is not None:
        _sub(el, "correlationId", xml_safe(info.correlation_id))
    _sub(el, "serviceId", xml_safe(info.service_id))
    _sub(el, "messageType", info.message_type.value)
    if info.route_id is not None:
        _sub(el, "routeId", xml_safe(info.route_id))
    _sub(el, "messageDate", format_datetime(info.message_date))
    _sender(el, info.sender, password=password)
    _properties(el, info.properties)
    if info.session_id is not None:
        _sub(el, "sessionId", info.session_id)


def append_message_data(parent: etree._Element, kind: DataKind, payload: Payload) -> None:
    """``messageData/data`` (mandatory in async: empty when there is no payload)."""
    md = _sub(parent, "messageData")
    if payload is None or kind is DataKind.EMPTY:
        _sub(md, "data")
        return
    if kind is DataKind.STRING:
        data = etree.SubElement(md, "data", nsmap={"xsi": ns.XSI, "xs": ns.XS})
        data.set(ns.q(ns.XSI, "type"), "xs:string")
        text = payload.decode("utf-8") if isinstance(payload, bytes) else etree.tostring(payload, encoding="unicode")
        data.text = xml_safe(text)
        return
    root = parse(payload) if isinstance(payload, bytes) else payload
    qn = etree.QName(root)
    if qn.localname == "data" and qn.namespace is None:  # stored as the data element itself (xsi:type style)
        md.append(copy.deepcopy(root))
    else:
        _sub(md, "data").append(copy.deepcopy(root))


def _wire_message(parent: etree._Element, message: WireMessage, *, password: bool = True) -> None:
    append_message_info(parent, message.info, password=password)
    append_message_data(parent, message.data_kind, message.payload)


def _status_info(parent: etree._Element, tag: str, status: MessageStatusInfo) -> None:
    el = _sub(parent, tag)
    _sub(el, "statusCode", xml_safe(status.status_code))
    _sub(el, "statusMessage", xml_safe(status.status_message))
    _sub(el, "statusDate", format_datetime(status.status_date))


def _error(parent: etree._Element, tag: str, err: ErrorInfo | None) -> None:
    if err is not None:
        _error_info(_sub(parent, tag), err)


# -- SHEP's replies (IAsyncChannel) --------------------------------------------------------------------------------


def write_send_message_response(
    resp: SendMessageResponse, *, namespace: str = ns.ASYNC_TYPES, sign_envelope: SignEnvelope | None = None
) -> bytes:
    """SHEP's answer to ``sendMessage`` (``namespace=ASYNC_CLIENT``: a participant's answer to a push)."""
    env, el = _operation(namespace, "sendMessageResponse", "response")
    _sub(el, "messageId", xml_safe(resp.message_id))
    _sub(el, "correlationId", xml_safe(resp.correlation_id))
    _sub(el, "responseDate", format_datetime(resp.response_date))
    if resp.session_id is not None:
        _sub(el, "sessionId", resp.session_id)
    return _finish(env, sign_envelope)


def write_get_messages_response(resp: GetMessagesResponse, *, sign_envelope: SignEnvelope | None = None) -> bytes:
    env, el = _operation(ns.ASYNC_TYPES, "getMessagesResponse", "response")
    _sub(el, "responseDate", format_datetime(resp.response_date))
    _sub(el, "sessionId", resp.session_id)
    for message in resp.messages:
        _wire_message(_sub(el, "messages"), message, password=False)
    return _finish(env, sign_envelope)


def write_get_message_status_response(
    resp: GetMessageStatusResponse, *, sign_envelope: SignEnvelope | None = None
) -> bytes:
    env, el = _operation(ns.ASYNC_TYPES, "getMessageStatusResponse", "response")
    _sub(el, "messageState", resp.state.value)
    _status_info(el, "status", resp.status)
    _sub(el, "responseDate", format_datetime(resp.response_date))
    if resp.session_id is not None:
        _sub(el, "sessionId", resp.session_id)
    return _finish(env, sign_envelope)


def write_delivery_notification_response(
    resp: SendDeliveryNotificationResponse, *, sign_envelope: SignEnvelope | None = None
) -> bytes:
    env, el = _operation(ns.ASYNC_TYPES, "sendDeliveryNotificationResponse", "response")
    _sub(el, "notificationId", xml_safe(resp.notification_id))
    _sub(el, "responseDate", format_datetime(resp.response_date))
    _sub(el, "sessionId", resp.session_id)
    return _finish(env, sign_envelope)


def write_async_fault(
    err: ErrorInfo,
    kind: FaultKind,
    operation: Operation = Operation.SEND_MESSAGE,
    *,
    namespace: str | None = None,
    sign_envelope: SignEnvelope | None = None,
) -> bytes:
    """A SOAP fault whose detail is the operation's ``<op>Fault1_<op>Fault`` (``ErrorInfo``)."""
    if namespace is None:
        namespace = ns.ASYNC_CLIENT if operation is Operation.CHANGE_STATUS_NOTIFICATION else ns.ASYNC_TYPES
    return write_fault(err, kind, ns.q(namespace, operation.fault_element), sign_envelope=sign_envelope)


# -- what SHEP sends to a participant (IAsyncChannelClient) -----------------------------------------------------


def write_push(message: WireMessage, *, namespace: str = ns.ASYNC_CLIENT, sign_envelope: SignEnvelope | None = None) -> bytes:
    """``sendMessage`` to a participant's endpoint (push delivery), or a participant's ``sendMessage`` to SHEP
    with ``namespace=ASYNC_TYPES``."""
    env, el = _operation(namespace, "sendMessage", "request")
    _wire_message(el, message)
    return _finish(env, sign_envelope)


def write_change_status_notification(req: ChangeStatusNotifyRequest, *, sign_envelope: SignEnvelope | None = None) -> bytes:
    env, el = _operation(ns.ASYNC_CLIENT, "changeMassageStatusNotification", "request")
    n = req.notification
    nel = _sub(el, "notification")
    _sub(nel, "notificationId", xml_safe(n.notification_id))
    _sub(nel, "messageId", xml_safe(n.message_id))
    _sub(nel, "notificationDate", format_datetime(n.notification_date))
    _sub(nel, "messageState", n.state.value)
    _status_info(nel, "status", n.status)
    _error(nel, "error", n.error)
    _sub(el, "requestDate", format_datetime(req.request_date))
    if req.session_id is not None:
        _sub(el, "sessionId", req.session_id)
    return _finish(env, sign_envelope)


def write_change_status_response(resp: ChangeStatusNotifyResponse) -> bytes:
    env, el = _operation(ns.ASYNC_CLIENT, "changeMassageStatusNotificationResponse", "response")
    _sub(el, "responseDate", format_datetime(resp.response_date))
    _sub(el, "sessionId", resp.session_id)
    return _finish(env, None)


# -- a participant's requests to SHEP --------------------------------------------------------------------------


def write_send_message(message: WireMessage, *, sign_envelope: SignEnvelope | None = None) -> bytes:
    return write_push(message, namespace=ns.ASYNC_TYPES, sign_envelope=sign_envelope)


def write_get_messages(req: GetMessagesRequest, *, sign_envelope: SignEnvelope | None = None) -> bytes:
    env, el = _operation(ns.ASYNC_TYPES, "getMessages", "request")
    if req.message_id is not None:
        _sub(el, "messageId", xml_safe(req.message_id))
    if req.correlation_id is not None:
        _sub(el, "correlationId", xml_safe(req.correlation_id))
    if req.request_date is not None:
        _sub(el, "requestDate", format_datetime(req.request_date))
    _sub(el, "serviceId", xml_safe(req.service_id))
    if req.sender is not None:
        _sender(el, req.sender)
    if req.amount is not None:
        _sub(el, "amount", str(req.amount))
    _properties(el, req.properties)
    return _finish(env, sign_envelope)


def write_get_message_status(req: GetMessageStatusRequest, *, sign_envelope: SignEnvelope | None = None) -> bytes:
    env, el = _operation(ns.ASYNC_TYPES, "getMessageStatus", "request")
    _sub(el, "messageId", xml_safe(req.message_id))
    _sub(el, "requestDate", format_datetime(req.request_date))
    _sender(el, req.sender)
    _properties(el, req.properties)
    return _finish(env, sign_envelope)


def _delivery_status(parent: etree._Element, status: DeliveryStatusInfo) -> None:
    el = _sub(parent, "deliveryStatus")
    _sub(el, "receiveStatus", status.receive_status.value)
    _sub(el, "statusDate", format_datetime(status.status_date))
    _sub(el, "resendMessage", status.resend.value)
    _error(el, "error", status.error)


def write_send_delivery_notification(
    req: SendDeliveryNotificationRequest, *, sign_envelope: SignEnvelope | None = None
) -> bytes:
    env, el = _operation(ns.ASYNC_TYPES, "sendDeliveryNotification", "request")
    n = req.notification
    nel = _sub(el, "notification")
    _sub(nel, "messageId", xml_safe(n.message_id))
    _sub(nel, "serviceId", xml_safe(n.service_id))
    _sub(nel, "notificationDate", format_datetime(n.notification_date))
    _delivery_status(nel, n.status)
    _sub(el, "requestDate", format_datetime(req.request_date))
    if req.sender is not None:
        _sender(el, req.sender)
    return _finish(env, sign_envelope)
