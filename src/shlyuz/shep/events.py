"""The data of a SHEP SyncChannel exchange (kz_egov.md §1.4)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree


class DataKind(enum.Enum):
    """How ``requestData/data`` carried the business payload."""

    EMPTY = "empty"  # no data element, or an empty one
    XML = "xml"  # inline XML: the data element is the payload (xsi:type) or wraps it
    STRING = "string"  # an escaped XML string (xsi:type="xs:string") or CDATA


@dataclass(frozen=True, slots=True)
class SenderInfo:
    sender_id: str
    password: str | None = None


@dataclass(frozen=True, slots=True)
class Property:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RequestInfo:
    message_id: str
    service_id: str
    message_date: datetime
    sender: SenderInfo
    correlation_id: str | None = None
    route_id: str | None = None
    properties: tuple[Property, ...] = ()
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """A parsed ``SendMessage``. ``payload`` is the business document (see :class:`DataKind`)."""

    info: RequestInfo
    data_kind: DataKind
    payload: etree._Element | None
    envelope: etree._Element = field(repr=False)
    headers: tuple[etree._Element, ...] = field(default=(), repr=False)
    soap_content_type: str = "text/xml"


class Status(str, enum.Enum):
    """``responseInfo/status`` codes (kz_egov.md §1.6)."""

    SUCCESS = "SCSS001"
    FAILURE = "SCSE001"

    @property
    def default_message(self) -> str:
        return _STATUS_MESSAGES[self]


_STATUS_MESSAGES = {
    Status.SUCCESS: "Message has been processed successfully",
    Status.FAILURE: "Failed to process message",
}


@dataclass(frozen=True, slots=True)
class SyncResponse:
    message_id: str
    response_date: datetime
    status: Status
    status_message: str
    session_id: str | None
    correlation_id: str | None = None
    payload: etree._Element | None = None
    data_kind: DataKind = DataKind.XML


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    error_code: str
    error_message: str
    error_date: datetime
    error_data: str | None = None
    session_id: str | None = None
    sub_error: "ErrorInfo | None" = None
