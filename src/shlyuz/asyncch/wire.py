"""Conversions between the wire events, the stored messages and the participant contract (pure)."""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from shlyuz.asyncch.channel import Submission
from shlyuz.shep.async_events import AsyncMessageInfo, MessageType, WireMessage
from shlyuz.shep.events import DataKind, Property, SenderInfo
from shlyuz.shep.reader import payload_root
from shlyuz.storage.messages import StoredMessage
from shlyuz.systems.participants import AsyncMessage


def stored_payload(wire: WireMessage) -> bytes | None:
    """The business document as it will be stored: an escaped string's exact text; inline XML serialised (the
    document inside ``data``, or the ``data`` element itself when it carries the fields with ``xsi:type``)."""
    if wire.data_kind is DataKind.STRING:
        return (wire.text or "").encode("utf-8")
    if wire.data_kind is DataKind.XML and isinstance(wire.payload, etree._Element):
        return etree.tostring(payload_root(wire.payload), encoding="utf-8")
    return None


def submission(sender_id: str, wire: WireMessage, session_id: str | None) -> Submission:
    info = wire.info
    payload = stored_payload(wire)
    return Submission(
        sender_id=sender_id,
        message_type=info.message_type,
        service_id=info.service_id,
        data_kind=wire.data_kind if payload is not None else DataKind.EMPTY,
        payload=payload,
        correlation_id=info.correlation_id,
        sender_message_id=info.message_id,
        route_id=info.route_id,
        properties=tuple((p.key, p.value) for p in info.properties),
        session_id=session_id,
    )


def to_wire(message: StoredMessage) -> WireMessage:
    """The message as SHEP hands it to its recipient: SHEP's messageId, the chain's correlationId."""
    info = AsyncMessageInfo(
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        service_id=message.service_id,
        message_type=MessageType(message.message_type),
        route_id=message.route_id,
        message_date=message.message_date,
        sender=SenderInfo(message.sender_id),
        properties=tuple(Property(k, v) for k, v in message.properties),
        session_id=message.session_id,
    )
    return WireMessage(info=info, data_kind=DataKind(message.data_kind), payload=message.payload)


def to_participant(message: StoredMessage, tz_now: datetime | None = None) -> AsyncMessage:
    created = message.accepted_at.astimezone(tz_now.tzinfo) if tz_now is not None else message.accepted_at
    return AsyncMessage(
        message_id=message.message_id,
        message_type=MessageType(message.message_type),
        service_id=message.service_id,
        sender_id=message.sender_id,
        created_at=created,
        payload=message.payload,
        correlation_id=None if message.message_type == MessageType.REQUEST.value else message.correlation_id,
        properties=message.properties,
        session_id=message.session_id,
        scope=message.scope,
    )
