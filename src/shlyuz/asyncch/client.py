"""A small Python client for SHEP AsyncChannel v10 (``/bip-async/``), for tests and integrators.

::

    async with aiohttp.ClientSession() as http:
        shep = AsyncChannelClient("http://127.0.0.1:8080/bip-async/", "shlyuz-demo", "demo-password", http)
        sent = await shep.send_message("ESOBES_APPLICATION", MessageType.REQUEST, payload=b"<app:Application .../>")
        status = await shep.get_message_status(sent.message_id)
        answers = await shep.get_messages("ESOBES_APPLICATION", correlation_id=sent.correlation_id)

Each call returns the reply event, or raises :class:`AsyncFault` carrying the SOAP fault (``.error.error_code``).
Payloads given as ``bytes`` are sent as an escaped XML string (byte for byte), lxml elements inline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiohttp
from lxml import etree

from shlyuz.clock import Clock
from shlyuz.shep.async_events import (
    AsyncMessageInfo,
    DeliveryNotification,
    DeliveryStatusInfo,
    GetMessagesRequest,
    GetMessagesResponse,
    GetMessageStatusRequest,
    GetMessageStatusResponse,
    MessageType,
    ReceiveStatus,
    ResendMessage,
    SendDeliveryNotificationRequest,
    SendDeliveryNotificationResponse,
    SendMessageResponse,
    WireMessage,
)
from shlyuz.shep.async_responses import read_async_reply
from shlyuz.shep.async_writer import (
    write_get_message_status,
    write_get_messages,
    write_send_delivery_notification,
    write_send_message,
)
from shlyuz.shep.events import DataKind, ErrorInfo, Property, SenderInfo
from shlyuz.shep.responses import Fault

HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}


class AsyncFault(Exception):
    def __init__(self, http_status: int, fault: Fault, body: bytes) -> None:
        code = fault.error.error_code if fault.error else fault.faultcode
        super().__init__(f"HTTP {http_status}: {code}: {fault.error.error_message if fault.error else fault.faultstring}")
        self.http_status, self.fault, self.body = http_status, fault, body

    @property
    def code(self) -> str | None:
        return self.fault.error.error_code if self.fault.error else None


@dataclass
class Exchange:
    """The last request and reply, for tests that check the bytes (e.g. against the XSDs)."""

    request: bytes = b""
    reply: bytes = b""
    http_status: int = 0


class AsyncChannelClient:
    def __init__(
        self, url: str, sender_id: str, password: str | None, session: aiohttp.ClientSession,
        *, clock: Clock | None = None, sign_envelope=None,
    ) -> None:  # fmt: skip
        self.url = url
        self.sender = SenderInfo(sender_id, password)
        self.session = session
        self.clock = clock or Clock()
        self.sign_envelope = sign_envelope
        self.last = Exchange()

    async def _call(self, body: bytes):
        self.last = Exchange(request=body)
        async with self.session.post(self.url, data=body, headers=HEADERS) as resp:
            raw = await resp.read()
            self.last.reply, self.last.http_status = raw, resp.status
        reply = read_async_reply(raw)
        if isinstance(reply, Fault):
            raise AsyncFault(self.last.http_status, reply, raw)
        return reply

    async def send_message(
        self,
        service_id: str,
        message_type: MessageType = MessageType.REQUEST,
        *,
        payload: bytes | etree._Element | None = None,
        correlation_id: str | None = None,
        message_id: str | None = None,
        properties: tuple[tuple[str, str], ...] = (),
        message_date: datetime | None = None,
    ) -> SendMessageResponse:
        kind = DataKind.EMPTY if payload is None else DataKind.STRING if isinstance(payload, bytes) else DataKind.XML
        info = AsyncMessageInfo(
            service_id=service_id, message_type=message_type, message_date=message_date or self.clock.now(),
            sender=self.sender, message_id=message_id, correlation_id=correlation_id,
            properties=tuple(Property(k, v) for k, v in properties),
        )  # fmt: skip
        return await self._call(write_send_message(WireMessage(info, kind, payload), sign_envelope=self.sign_envelope))

    async def get_messages(
        self, service_id: str, *, message_id: str | None = None, correlation_id: str | None = None,
        amount: int | None = None,
    ) -> GetMessagesResponse:  # fmt: skip
        req = GetMessagesRequest(
            service_id=service_id, sender=self.sender, message_id=message_id, correlation_id=correlation_id,
            request_date=self.clock.now(), amount=amount,
        )  # fmt: skip
        return await self._call(write_get_messages(req, sign_envelope=self.sign_envelope))

    async def get_message_status(self, message_id: str) -> GetMessageStatusResponse:
        req = GetMessageStatusRequest(message_id=message_id, request_date=self.clock.now(), sender=self.sender)
        return await self._call(write_get_message_status(req, sign_envelope=self.sign_envelope))

    async def send_delivery_notification(
        self, message_id: str, service_id: str, *, accepted: bool = True, resend: bool = False,
        error: ErrorInfo | None = None,
    ) -> SendDeliveryNotificationResponse:  # fmt: skip
        now = self.clock.now()
        status = DeliveryStatusInfo(
            ReceiveStatus.MESSAGE_ACCEPTED if accepted else ReceiveStatus.MESSAGE_NOT_ACCEPTED, now,
            ResendMessage.RESEND if resend else ResendMessage.NOT_RESEND, error,
        )  # fmt: skip
        req = SendDeliveryNotificationRequest(DeliveryNotification(message_id, service_id, now, status), now, self.sender)
        return await self._call(write_send_delivery_notification(req, sign_envelope=self.sign_envelope))
