"""The data of a SHEP AsyncChannel v10 exchange (kz_egov.md §1.5; official XSDs in shep-v10/AsyncChannel).

Element names and enumeration values are the official ones, misspellings included (``MESSAGE_NOT_ACCTEPTED``,
``changeMassageStatusNotification``). :class:`MessageType` is the one of the participant contract
(:mod:`shlyuz.systems.participants`), so a message read off the wire and one sent by an inside participant agree.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from shlyuz.shep.events import DataKind, ErrorInfo, Property, SenderInfo
from shlyuz.systems.participants import MessageType

__all__ = [
    "AsyncCall", "AsyncMessageInfo", "ChangeStatusNotification", "ChangeStatusNotifyRequest",
    "ChangeStatusNotifyResponse", "DeliveryNotification", "DeliveryStatusInfo", "GetMessageStatusRequest",
    "GetMessageStatusResponse", "GetMessagesRequest", "GetMessagesResponse", "MessageState", "MessageStatusInfo",
    "MessageType", "Operation", "ReceiveStatus", "ResendMessage", "SendDeliveryNotificationRequest",
    "SendDeliveryNotificationResponse", "SendMessageRequest", "SendMessageResponse", "WireMessage",
]


class MessageState(str, enum.Enum):
    """``MessageState``: ON_DELIVERY – being delivered, DELIVERED, NOT_DELIVERED, DELIVERY_STOPPED."""

    ON_DELIVERY = "ON_DELIVERY"
    DELIVERED = "DELIVERED"
    NOT_DELIVERED = "NOT_DELIVERED"
    DELIVERY_STOPPED = "DELIVERY_STOPPED"


class ReceiveStatus(str, enum.Enum):
    """``DeliveryStatusInfo/receiveStatus`` (the official spelling of the second value is kept)."""

    MESSAGE_ACCEPTED = "MESSAGE_ACCEPTED"
    MESSAGE_NOT_ACCEPTED = "MESSAGE_NOT_ACCTEPTED"


class ResendMessage(str, enum.Enum):
    """``DeliveryStatusInfo/resendMessage``: should SHEP deliver the message again."""

    RESEND = "RESEND"
    NOT_RESEND = "NOT_RESEND"


class Operation(str, enum.Enum):
    """The operations of ``IAsyncChannel`` (served by SHEP) and ``IAsyncChannelClient`` (served by participants)."""

    SEND_MESSAGE = "sendMessage"
    GET_MESSAGES = "getMessages"
    GET_MESSAGE_STATUS = "getMessageStatus"
    SEND_DELIVERY_NOTIFICATION = "sendDeliveryNotification"
    CHANGE_STATUS_NOTIFICATION = "changeMassageStatusNotification"  # client side only

    @property
    def fault_element(self) -> str:
        """Local name of the operation's fault detail element (lower-case ``sendMessageFault1_…`` in async)."""
        return f"{self.value}Fault1_{self.value}Fault"


@dataclass(frozen=True, slots=True)
class AsyncMessageInfo:
    """``messageInfo`` (``AsyncMessageInfo``)."""

    service_id: str
    message_type: MessageType
    message_date: datetime
    sender: SenderInfo
    message_id: str | None = None
    correlation_id: str | None = None
    route_id: str | None = None
    properties: tuple[Property, ...] = ()
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class WireMessage:
    """``AsyncMessage``/``AsyncSendMessageRequest``: ``messageInfo`` + ``messageData/data``."""

    info: AsyncMessageInfo
    data_kind: DataKind
    payload: etree._Element | bytes | None = field(default=None, repr=False)
    text: str | None = field(default=None, repr=False)  # DataKind.STRING: the escaped document exactly as sent


SendMessageRequest = WireMessage


@dataclass(frozen=True, slots=True)
class GetMessagesRequest:
    service_id: str
    sender: SenderInfo | None
    message_id: str | None = None
    correlation_id: str | None = None
    request_date: datetime | None = None
    amount: int | None = None
    properties: tuple[Property, ...] = ()


@dataclass(frozen=True, slots=True)
class GetMessageStatusRequest:
    message_id: str
    request_date: datetime
    sender: SenderInfo
    properties: tuple[Property, ...] = ()


@dataclass(frozen=True, slots=True)
class DeliveryStatusInfo:
    receive_status: ReceiveStatus
    status_date: datetime
    resend: ResendMessage
    error: ErrorInfo | None = None


@dataclass(frozen=True, slots=True)
class DeliveryNotification:
    message_id: str
    service_id: str
    notification_date: datetime
    status: DeliveryStatusInfo


@dataclass(frozen=True, slots=True)
class SendDeliveryNotificationRequest:
    notification: DeliveryNotification
    request_date: datetime
    sender: SenderInfo | None = None


@dataclass(frozen=True, slots=True)
class MessageStatusInfo:
    status_code: str
    status_message: str
    status_date: datetime


@dataclass(frozen=True, slots=True)
class ChangeStatusNotification:
    notification_id: str
    message_id: str
    notification_date: datetime
    state: MessageState
    status: MessageStatusInfo
    error: ErrorInfo | None = None


@dataclass(frozen=True, slots=True)
class ChangeStatusNotifyRequest:
    """What SHEP sends to a sender's endpoint: ``changeMassageStatusNotification/request``."""

    notification: ChangeStatusNotification
    request_date: datetime
    session_id: str | None = None


# -- replies ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendMessageResponse:
    message_id: str
    correlation_id: str
    response_date: datetime
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class GetMessagesResponse:
    response_date: datetime
    session_id: str
    messages: tuple[WireMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class GetMessageStatusResponse:
    state: MessageState
    status: MessageStatusInfo
    response_date: datetime
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class SendDeliveryNotificationResponse:
    notification_id: str
    response_date: datetime
    session_id: str


@dataclass(frozen=True, slots=True)
class ChangeStatusNotifyResponse:
    response_date: datetime
    session_id: str


AsyncRequest = WireMessage | GetMessagesRequest | GetMessageStatusRequest | SendDeliveryNotificationRequest


@dataclass(frozen=True, slots=True)
class AsyncCall:
    """A parsed request to the async channel: which operation, its request, and the envelope around it."""

    operation: Operation
    request: AsyncRequest | ChangeStatusNotifyRequest
    envelope: etree._Element = field(repr=False)
    headers: tuple[etree._Element, ...] = field(default=(), repr=False)
    soap_content_type: str = "text/xml"

    @property
    def sender(self) -> SenderInfo | None:
        req = self.request
        if isinstance(req, WireMessage):
            return req.info.sender
        return getattr(req, "sender", None)
