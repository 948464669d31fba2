"""Events → bytes: SyncChannel responses and SOAP 1.1 faults carrying ``ErrorInfo``."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from datetime import datetime

from lxml import etree

from shlyuz.errors import FaultKind
from shlyuz.shep import ns
from shlyuz.shep.events import DataKind, ErrorInfo, SyncResponse

XML_DECL = b"<?xml version='1.0' encoding='UTF-8'?>\n"
SYNC_FAULT_ELEMENT = ns.q(ns.SYNC_TYPES, "SendMessageFault1_SendMessageFault")


def format_datetime(value: datetime) -> str:
    """xsd:dateTime with milliseconds and the zone offset, as SHEP writes it: 2024-05-01T10:00:01.123+05:00."""
    return value.isoformat(timespec="milliseconds")


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def _envelope() -> tuple[etree._Element, etree._Element]:
    env = etree.Element(ns.q(ns.SOAP11, "Envelope"), nsmap={"soap": ns.SOAP11})
    _sub(env, ns.q(ns.SOAP11, "Header"))
    body = _sub(env, ns.q(ns.SOAP11, "Body"))
    return env, body


SignData = Callable[[etree._Element], object]


def append_data(
    parent: etree._Element, payload: etree._Element | None, kind: DataKind, sign_data: SignData | None = None
) -> None:
    """``sign_data`` signs the business document in place as it goes on the wire: the payload root for an escaped
    string, the ``data`` element itself for inline XML (exclusive c14n makes that independent of the envelope)."""
    if payload is None or kind is DataKind.EMPTY:
        return
    if kind is DataKind.STRING:
        data = etree.SubElement(parent, "data", nsmap={"xsi": ns.XSI, "xs": ns.XS})
        data.set(ns.q(ns.XSI, "type"), "xs:string")
        if sign_data is not None:
            payload = copy.deepcopy(payload)
            sign_data(payload)
        data.text = etree.tostring(payload, encoding="unicode")
        return
    # Inline: <data xsi:type="pfx:Type"> carrying (copies of) the payload root's children and attributes, so the
    # payload stays intact for the caller. A payload without a namespace has no type to name: it is wrapped instead.
    qn = etree.QName(payload)
    if not qn.namespace and qn.localname != "data":
        data = etree.SubElement(parent, "data")
        data.append(copy.deepcopy(payload))
        if sign_data is not None:
            sign_data(data[0])
        return
    # in-scope declarations (nsmap includes the ancestors'), so QName-valued attributes such as xsi:type keep theirs
    nsmap = {k: v for k, v in payload.nsmap.items() if k is not None}
    nsmap["xsi"] = ns.XSI
    prefix = None
    if qn.namespace:
        prefix = next((k for k, v in nsmap.items() if v == qn.namespace), None)
        if prefix is None:
            prefix = next(p for p in (f"ns{i}" for i in range(2, 100)) if p not in nsmap)
            nsmap[prefix] = qn.namespace
    data = etree.SubElement(parent, "data", nsmap=nsmap)
    for key, value in payload.attrib.items():
        data.set(key, value)
    if prefix is not None:
        data.set(ns.q(ns.XSI, "type"), f"{prefix}:{qn.localname}")
    data.text = payload.text
    for child in payload:
        data.append(copy.deepcopy(child))
    if sign_data is not None:
        sign_data(data)


SignEnvelope = Callable[[etree._Element], etree._Element]


def _finish(env: etree._Element, sign_envelope: SignEnvelope | None) -> bytes:
    if sign_envelope is not None:
        env = sign_envelope(env)
    return XML_DECL + etree.tostring(env, encoding="utf-8")


def write_sync_response(
    resp: SyncResponse, *, sign_data: SignData | None = None, sign_envelope: SignEnvelope | None = None
) -> bytes:
    env, body = _envelope()
    wrapper = etree.SubElement(body, ns.q(ns.SYNC_TYPES, "SendMessageResponse"), nsmap={"ns2": ns.SYNC_TYPES})
    response = _sub(wrapper, "response")
    info = _sub(response, "responseInfo")
    _sub(info, "messageId", resp.message_id)
    if resp.correlation_id is not None:
        _sub(info, "correlationId", resp.correlation_id)
    _sub(info, "responseDate", format_datetime(resp.response_date))
    status = _sub(info, "status")
    _sub(status, "code", resp.status.value)
    _sub(status, "message", xml_safe(resp.status_message[:250]))
    if resp.session_id is not None:
        _sub(info, "sessionId", resp.session_id)
    data_parent = _sub(response, "responseData")
    append_data(data_parent, resp.payload, resp.data_kind, sign_data)
    return _finish(env, sign_envelope)


_NOT_XML_CHAR = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """Text that XML 1.0 can carry: characters it forbids (controls, lone surrogates) become U+FFFD. Messages may
    quote what a client sent (a certificate's CN, a value), which need not be XML-safe."""
    return _NOT_XML_CHAR.sub("\ufffd", text)


def _error_info(parent: etree._Element, err: ErrorInfo) -> None:
    _sub(parent, "errorCode", xml_safe(err.error_code))
    _sub(parent, "errorMessage", xml_safe(err.error_message))
    if err.error_data is not None:
        _sub(parent, "errorData", xml_safe(err.error_data))
    _sub(parent, "errorDate", format_datetime(err.error_date))
    if err.sub_error is not None:
        _error_info(_sub(parent, "subError"), err.sub_error)
    if err.session_id is not None:
        _sub(parent, "sessionId", err.session_id)


def write_fault(
    err: ErrorInfo,
    kind: FaultKind,
    fault_element: str = SYNC_FAULT_ELEMENT,
    *,
    sign_envelope: SignEnvelope | None = None,
) -> bytes:
    """A SOAP 1.1 Fault whose detail holds the endpoint's ``*Fault1_*Fault`` element of type ``ErrorInfo``."""
    env, body = _envelope()
    fault = _sub(body, ns.q(ns.SOAP11, "Fault"))
    _sub(fault, "faultcode", f"soap:{kind.value}")
    _sub(fault, "faultstring", xml_safe(f"{err.error_code}: {err.error_message}"))
    detail = _sub(fault, "detail")
    wrapper = etree.SubElement(detail, fault_element, nsmap={"ns2": etree.QName(fault_element).namespace})
    _error_info(wrapper, err)
    return _finish(env, sign_envelope)
