"""A small client API for SHEP SyncChannel: build a ``SendMessage``, send it, read the reply.

Used by ``shlyuz send`` and by the tests; integrators can use it from their own Python tests.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
from lxml import etree

from shlyuz.clock import Clock
from shlyuz.shep import ns
from shlyuz.shep.events import SyncResponse
from shlyuz.shep.responses import Fault, read_sync_reply
from shlyuz.dsig.signer import Signer
from shlyuz.shep.events import DataKind
from shlyuz.shep.writer import append_data, format_datetime


@dataclass
class SendMessage:
    service_id: str
    payload: etree._Element | None
    sender_id: str = "shlyuz-demo"
    password: str | None = "demo-password"
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    correlation_id: str | None = None
    message_date: datetime | None = None
    properties: list[tuple[str, str]] = field(default_factory=list)
    escaped: bool = False  # send the payload as an escaped XML string (xsi:type="xs:string")
    data_signer: Signer | None = None  # enveloped signature inside data (the business-data signature)
    wsse_signer: Signer | None = None  # WS-Security signature over soap:Body (the transport signature)

    def to_bytes(self, clock: Clock | None = None) -> bytes:
        when = self.message_date or (clock or Clock()).now()
        env = etree.Element(ns.q(ns.SOAP11, "Envelope"), nsmap={"soap": ns.SOAP11})
        etree.SubElement(env, ns.q(ns.SOAP11, "Header"))
        body = etree.SubElement(env, ns.q(ns.SOAP11, "Body"))
        op = etree.SubElement(body, ns.q(ns.SYNC_TYPES, "SendMessage"), nsmap={"ns3": ns.SYNC_TYPES})
        request = etree.SubElement(op, "request")
        info = etree.SubElement(request, "requestInfo")

        def sub(parent: etree._Element, tag: str, text: str) -> etree._Element:
            el = etree.SubElement(parent, tag)
            el.text = text
            return el

        sub(info, "messageId", self.message_id)
        if self.correlation_id:
            sub(info, "correlationId", self.correlation_id)
        sub(info, "serviceId", self.service_id)
        sub(info, "messageDate", format_datetime(when))
        sender = etree.SubElement(info, "sender")
        sub(sender, "senderId", self.sender_id)
        if self.password is not None:
            sub(sender, "password", self.password)
        for key, value in self.properties:
            prop = etree.SubElement(info, "properties")
            sub(prop, "key", key)
            sub(prop, "value", value)
        data_parent = etree.SubElement(request, "requestData")
        kind = DataKind.STRING if self.escaped else DataKind.XML
        append_data(data_parent, self.payload, kind, self.data_signer.data if self.data_signer else None)
        if self.wsse_signer is not None:
            env = self.wsse_signer.envelope(env)
        return b"<?xml version='1.0' encoding='UTF-8'?>\n" + etree.tostring(env, encoding="utf-8")


def payload(namespace: str, root: str, fields: dict[str, str | None]) -> etree._Element:
    """A flat payload: ``<root xmlns=namespace>`` with unqualified children for each non-empty field."""
    el = etree.Element(ns.q(namespace, root), nsmap={"cs": namespace})
    for key, value in fields.items():
        if value not in (None, ""):
            child = etree.SubElement(el, key)
            child.text = value
    return el


@dataclass(frozen=True)
class Reply:
    http_status: int
    body: bytes
    parsed: SyncResponse | Fault


async def send(url: str, message: bytes, *, timeout: float = 30.0, session: aiohttp.ClientSession | None = None) -> Reply:
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
    own = session is None
    session = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
    try:
        async with session.post(url, data=message, headers=headers) as resp:
            body = await resp.read()
            return Reply(resp.status, body, read_sync_reply(body))
    finally:
        if own:
            await session.close()
