"""Fresh volatile fields: a recorded request made new for replay, a recorded response made new for ``--serve``.

Sans-IO: bytes in, bytes out; signers are passed in (:class:`shlyuz.dsig.signer.Signer`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree

from shlyuz.errors import ShlyuzError
from shlyuz.replay.signing import resign_data, strip_wsse
from shlyuz.shep import ns
from shlyuz.shep.writer import XML_DECL, format_datetime
from shlyuz.xml.safe import DEFAULT_LIMITS, XmlLimits, parse

SEND_MESSAGE = ns.q(ns.SYNC_TYPES, "SendMessage")
SEND_MESSAGE_RESPONSE = ns.q(ns.SYNC_TYPES, "SendMessageResponse")
FAULT = ns.q(ns.SOAP11, "Fault")


def new_session_id() -> str:
    return "{" + str(uuid.uuid4()) + "}"


@dataclass
class RefreshedRequest:
    body: bytes
    refreshed: bool  # False: not a SendMessage the replay understands; sent as recorded
    substitutions: dict[str, str] = field(default_factory=dict)  # new value -> recorded value
    message_id: str | None = None
    resigned: dict[str, str] = field(default_factory=dict)  # "wsse"/"data" -> identity name
    note: str | None = None


def _body_op(root: etree._Element) -> etree._Element | None:
    body = root.find(ns.q(ns.SOAP11, "Body"))
    if body is None:
        return None
    return next((c for c in body if isinstance(c.tag, str)), None)


def _set(parent: etree._Element, name: str, value: str) -> tuple[str, str] | None:
    el = parent.find(name)
    if el is None or el.text is None:
        return None
    old, el.text = el.text, value
    return value, old


def refresh_request(
    body: bytes,
    *,
    now: datetime,
    id_map: Mapping[str, str] | None = None,
    wsse_signer: Any = None,
    data_signer: Any = None,
    limits: XmlLimits = DEFAULT_LIMITS,
) -> RefreshedRequest:
    """A new messageId, messageDate (``now``) and sessionId (when present); a correlationId that names an earlier
    recorded messageId follows it (``id_map``: recorded → replayed); the WS-Security signature is made again with
    ``wsse_signer`` and the data signature with ``data_signer`` when given. Anything that is not a SendMessage is
    left exactly as recorded (a recorded negative case stays negative)."""
    try:
        root = parse(body, limits)
    except ShlyuzError as exc:
        return RefreshedRequest(body, False, note=f"sent as recorded: {exc.code.value}")
    op = _body_op(root)
    info = op.find("request/requestInfo") if op is not None and op.tag == SEND_MESSAGE else None
    if info is None:
        return RefreshedRequest(body, False, note="sent as recorded: not a SendMessage")
    subs: dict[str, str] = {}
    message_id = str(uuid.uuid4())
    for name, value in (("messageId", message_id), ("messageDate", format_datetime(now))):
        pair = _set(info, name, value)
        if pair and name == "messageId":
            subs[pair[0]] = pair[1]
    if info.find("sessionId") is not None:
        pair = _set(info, "sessionId", new_session_id())
        if pair:
            subs[pair[0]] = pair[1]
    corr = info.find("correlationId")
    if corr is not None and corr.text and id_map and corr.text in id_map:
        subs[id_map[corr.text]] = corr.text
        corr.text = id_map[corr.text]
    resigned: dict[str, str] = {}
    if data_signer is not None and resign_data(root, data_signer, limits):
        resigned["data"] = data_signer.name
    had_wsse = strip_wsse(root)
    if had_wsse and wsse_signer is not None:
        root = wsse_signer.envelope(root)
        resigned["wsse"] = wsse_signer.name
    note = "the recorded WS-Security header was dropped: no identity to sign with" if had_wsse and not wsse_signer else None
    out = XML_DECL + etree.tostring(root, encoding="utf-8")
    return RefreshedRequest(out, True, subs, message_id, resigned, note)


@dataclass(frozen=True)
class IncomingIds:
    """What a request says about itself, read leniently (a request the schema refuses still has a messageId)."""

    message_id: str | None = None
    correlation_id: str | None = None
    session_id: str | None = None
    service_id: str | None = None
    sender_id: str | None = None


def request_ids(body: bytes, limits: XmlLimits = DEFAULT_LIMITS) -> IncomingIds:
    try:
        root = parse(body, limits)
    except ShlyuzError:
        return IncomingIds()
    op = _body_op(root)
    info = op.find("request/requestInfo") if op is not None and op.tag == SEND_MESSAGE else None
    if info is None:
        return IncomingIds()

    def text(path: str) -> str | None:
        value = info.findtext(path)
        return value.strip()[:200] if value is not None else None

    return IncomingIds(text("messageId"), text("correlationId"), text("sessionId"), text("serviceId"),
                       text("sender/senderId"))  # fmt: skip


def refresh_response(
    recorded_response: bytes,
    *,
    recorded_request_ids: IncomingIds,
    incoming: IncomingIds,
    now: datetime,
    signer: Any = None,
    limits: XmlLimits = DEFAULT_LIMITS,
) -> bytes:
    """The recorded reply with a new responseInfo/messageId, responseDate (or errorDate) ``now``, a new sessionId, a
    correlationId that points at the incoming request when the recorded one pointed at the recorded request, and
    a new WS-Security signature from ``signer`` when the recorded reply had one. The data (and its signature, which
    covers only the data) is as recorded."""
    root = parse(recorded_response, limits)
    op = _body_op(root)
    if op is not None and op.tag == SEND_MESSAGE_RESPONSE:
        info = op.find("response/responseInfo")
        if info is not None:
            _set(info, "messageId", str(uuid.uuid4()))
            _set(info, "responseDate", format_datetime(now))
            _set(info, "sessionId", new_session_id())
            corr = info.find("correlationId")
            if corr is not None and corr.text is not None:
                if corr.text == recorded_request_ids.message_id and incoming.message_id:
                    corr.text = incoming.message_id
                elif corr.text == recorded_request_ids.correlation_id and incoming.correlation_id:
                    corr.text = incoming.correlation_id
    elif op is not None and op.tag == FAULT:
        for err in op.iter("errorDate"):
            err.text = format_datetime(now)
        for sid in op.iter("sessionId"):
            sid.text = new_session_id()
    had_wsse = strip_wsse(root)
    if had_wsse and signer is not None:
        root = signer.envelope(root)
    return XML_DECL + etree.tostring(root, encoding="utf-8")
