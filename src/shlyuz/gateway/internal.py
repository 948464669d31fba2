"""SHEP sync calls made from inside shlyuz (the State Corporation workstation checking GBD FL and ENIS, the portal
checking a power of attorney) go through the same :class:`~shlyuz.gateway.pipeline.SyncPipeline` as any external
call — parse, sender authentication, signature, routing, authorisation, the system — in process, without a
loop-back HTTP request, and are journaled like any exchange (``remote`` is ``internal:<senderId>``).

The caller is a registered sender (``fixtures/senders.json``: ``arm-con``, ``egov-portal``); its password is taken
from the gateway's sender registry, so nothing is configured twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from lxml import etree

from shlyuz.client import SendMessage
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.faults.model import TRANSPORT_KINDS
from shlyuz.shep.events import Status, SyncResponse
from shlyuz.shep.reader import payload_root
from shlyuz.shep.responses import Fault, read_sync_reply

if TYPE_CHECKING:
    from shlyuz.gateway.app import Gateway

log = structlog.get_logger("shlyuz.internal")
ENDPOINT = "/bip-sync/"


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What an inside caller needs from a sync exchange: the status, the system's message, its payload, and the ids
    to find the exchange in the journal."""

    service_id: str
    message_id: str
    session_id: str | None
    status: Status
    message: str
    payload: etree._Element | None  # the business document (``payload_root`` of responseData/data)

    @property
    def ok(self) -> bool:
        return self.status is Status.SUCCESS

    def journal_ref(self) -> dict[str, str | None]:
        return {"serviceId": self.service_id, "messageId": self.message_id, "sessionId": self.session_id}


async def call_sync(gateway: Gateway, sender_id: str, service_id: str, payload: etree._Element) -> SyncResult:
    """Send ``payload`` to ``service_id`` as ``sender_id`` through the gateway's pipeline; journal the exchange.

    A SOAP fault (the sender not registered or not allowed, a malformed payload …) raises ``ShlyuzError`` with
    PROVIDER_ERROR naming the fault's code: the inside caller cannot fix it, the configuration must.
    """
    sender = gateway.senders.get(sender_id)
    if sender is None:
        raise ShlyuzError(
            ErrorCode.PROVIDER_ERROR,
            f"the inside participant {sender_id!r} is not in the sender registry (fixtures/senders.json)",
        )
    message = SendMessage(service_id=service_id, payload=payload, sender_id=sender_id, password=sender.password)
    body = message.to_bytes(gateway.clock)
    outer = structlog.contextvars.get_contextvars()  # the pipeline binds the inner exchange's ids; keep the caller's
    try:
        outcome = await gateway.sync.process(
            body, "text/xml; charset=utf-8", endpoint=ENDPOINT, remote=f"internal:{sender_id}"
        )
        await gateway.storage.append_exchange(outcome.record)
        log.info("internal_exchange", outcome=outcome.record.outcome)  # the pipeline bound serviceId, senderId …
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**outer)
    if outcome.fault is not None and outcome.fault.kind in TRANSPORT_KINDS:  # fault injection (docs/faults.md)
        raise ShlyuzError(
            ErrorCode.PROVIDER_ERROR, f"{service_id} did not answer {sender_id}: {outcome.fault.kind} (fault injected)"
        )
    reply = read_sync_reply(outcome.body)
    if isinstance(reply, Fault):
        code = reply.error.error_code if reply.error else reply.faultcode
        text = reply.error.error_message if reply.error else reply.faultstring
        log.warning("internal_sync_fault", service_id=service_id, sender_id=sender_id, code=code)
        raise ShlyuzError(ErrorCode.PROVIDER_ERROR, f"{service_id} answered {sender_id} with a fault: {code}: {text}")
    assert isinstance(reply, SyncResponse)
    return SyncResult(
        service_id=service_id,
        message_id=message.message_id,
        session_id=reply.session_id,
        status=reply.status,
        message=reply.status_message,
        payload=payload_root(reply.payload),
    )
