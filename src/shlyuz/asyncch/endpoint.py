"""The stages a request to ``/bip-async/`` goes through, like the sync pipeline's, and the reply it gets.

parse (content type, safe XML, SOAP 1.1, operation, schema) → authenticate (senderId/password against the sender
registry, the sync channel's :mod:`shlyuz.shep.auth`) → signatures (the sync channel's
:class:`~shlyuz.gateway.signature.SignatureVerifier`: WS-Security whenever present, the data signature when present or
required for the serviceId) → authorise (sendMessage REQUEST: the sender may call the serviceId) → the operation
(:class:`~shlyuz.asyncch.channel.AsyncChannel`). The first error becomes a SOAP fault of the operation
(``<op>Fault1_<op>Fault``); every exchange becomes an :class:`ExchangeRecord` with endpoint ``/bip-async/``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import structlog

from shlyuz.asyncch.channel import AsyncChannel, new_id
from shlyuz.asyncch.wire import submission, to_wire
from shlyuz.clock import Clock
from shlyuz.errors import ErrorCode, FaultKind, ShlyuzError
from shlyuz.fixtures.models import Sender
from shlyuz.gateway.signature import SignatureVerifier
from shlyuz.shep import auth, ns
from shlyuz.shep.async_events import (
    GetMessagesRequest,
    GetMessagesResponse,
    GetMessageStatusRequest,
    GetMessageStatusResponse,
    MessageStatusInfo,
    MessageType,
    Operation,
    SendDeliveryNotificationRequest,
    SendDeliveryNotificationResponse,
    SendMessageResponse,
    WireMessage,
)
from shlyuz.shep.async_reader import operation_of, read_envelope, read_operation
from shlyuz.shep.async_writer import (
    write_async_fault,
    write_delivery_notification_response,
    write_get_message_status_response,
    write_get_messages_response,
    write_send_message_response,
)
from shlyuz.shep.events import ErrorInfo, SenderInfo
from shlyuz.storage.base import ExchangeRecord
from shlyuz.storage.scope import current_scope
from shlyuz.xml.safe import XmlLimits

log = structlog.get_logger("shlyuz.async")
ENDPOINT = "/bip-async/"


def new_session_id() -> str:
    return "{" + str(uuid.uuid4()) + "}"


@dataclass(slots=True)
class AsyncExchange:
    body: bytes
    content_type: str | None
    received_at: Any
    remote: str | None
    session_id: str = field(default_factory=new_session_id)
    operation: Operation = Operation.SEND_MESSAGE
    request: Any = None
    envelope: Any = None
    headers: tuple = ()
    sender: Sender | None = None
    claimed_sender: str | None = None
    verdicts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    reply: bytes | None = None
    message_id: str | None = None
    correlation_id: str | None = None
    service_id: str | None = None
    response_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class AsyncOutcome:
    http_status: int
    body: bytes
    record: ExchangeRecord


class AsyncEndpoint:
    def __init__(
        self,
        *,
        channel: AsyncChannel,
        senders: dict[str, Sender],
        clock: Clock,
        limits: XmlLimits,
        verifier: SignatureVerifier | None = None,
        sign_envelope: Any = None,
        journal_bodies: bool = True,
    ) -> None:
        self.channel = channel
        self.senders = senders
        self.clock = clock
        self.limits = limits
        self.verifier = verifier
        self.sign_envelope = sign_envelope
        self.journal_bodies = journal_bodies
        self.stages = [
            ("parse", self.parse),
            ("authenticate", self.authenticate),
            ("signature", self.signature),
            ("operate", self.operate),
        ]

    # -- stages --------------------------------------------------------------------------------------------------
    async def parse(self, ex: AsyncExchange) -> None:
        _, root, headers, op_el = read_envelope(ex.body, ex.content_type, self.limits)
        ex.envelope, ex.headers = root, headers
        ex.operation = operation_of(op_el)
        ex.verdicts["operation"] = ex.operation.value
        ex.request = read_operation(ex.operation, op_el, self.limits)
        req = ex.request
        if isinstance(req, WireMessage):
            ex.message_id, ex.correlation_id, ex.service_id = req.info.message_id, req.info.correlation_id, req.info.service_id
            ex.verdicts["messageType"] = req.info.message_type.value
        elif isinstance(req, GetMessagesRequest):
            ex.message_id, ex.correlation_id, ex.service_id = req.message_id, req.correlation_id, req.service_id
        elif isinstance(req, GetMessageStatusRequest):
            ex.message_id = req.message_id
        elif isinstance(req, SendDeliveryNotificationRequest):
            ex.message_id, ex.service_id = req.notification.message_id, req.notification.service_id
        claimed = req.info.sender if isinstance(req, WireMessage) else getattr(req, "sender", None)
        ex.claimed_sender = claimed.sender_id if claimed is not None else None
        structlog.contextvars.bind_contextvars(operation=ex.operation.value, messageId=ex.message_id)

    def _sender_info(self, ex: AsyncExchange) -> SenderInfo:
        req = ex.request
        info = req.info.sender if isinstance(req, WireMessage) else getattr(req, "sender", None)
        if info is None:
            raise ShlyuzError(
                ErrorCode.AUTH_FAILED,
                f"{ex.operation.value}/request/sender is missing: shlyuz needs senderId and password to know whose "
                f"messages these are",
            )
        return info

    async def authenticate(self, ex: AsyncExchange) -> None:
        ex.sender = auth.authenticate(self._sender_info(ex), self.senders)
        structlog.contextvars.bind_contextvars(senderId=ex.sender.sender_id)

    async def signature(self, ex: AsyncExchange) -> None:
        wsse = any(h.tag == ns.q(ns.WSSE, "Security") for h in ex.headers)
        if self.verifier is None:
            ex.verdicts["signature"] = {"wsse": "present, not verified (pki disabled)" if wsse else "absent"}
            return
        req = ex.request
        view = SimpleNamespace(
            headers=ex.headers, envelope=ex.envelope,
            info=SimpleNamespace(service_id=ex.service_id or ""),
            payload=req.payload if isinstance(req, WireMessage) and not isinstance(req.payload, bytes) else None,
        )  # fmt: skip
        try:
            ex.verdicts["signature"] = await self.verifier.verify_request(view, require_wsse=False)
        except ShlyuzError as exc:
            ex.verdicts["signature"] = {"failed": exc.code.value, "reason": exc.message}
            raise

    async def operate(self, ex: AsyncExchange) -> None:
        assert ex.sender is not None
        now = self.clock.now()
        sender_id = ex.sender.sender_id
        scope = current_scope()  # the request's session (X-Shlyuz-Scope): its messages are the only ones it sees
        req = ex.request
        if isinstance(req, WireMessage):
            if req.info.message_type is MessageType.REQUEST:
                auth.authorize(ex.sender, req.info.service_id)
            stored = await self.channel.accept(replace(submission(sender_id, req, ex.session_id), scope=scope))
            ex.response_message_id = stored.message_id
            ex.verdicts["async"] = {"recipient": stored.recipient_id, "mode": stored.mode,
                                    "correlationId": stored.correlation_id}  # fmt: skip
            ex.reply = write_send_message_response(
                SendMessageResponse(stored.message_id, stored.correlation_id, now, ex.session_id),
                sign_envelope=self.sign_envelope,
            )
        elif isinstance(req, GetMessagesRequest):
            found = await self.channel.pull(sender_id, req, scope=scope)
            ex.verdicts["async"] = {"messages": [m.message_id for m in found]}
            ex.reply = write_get_messages_response(
                GetMessagesResponse(now, ex.session_id, tuple(to_wire(m) for m in found)),
                sign_envelope=self.sign_envelope,
            )
        elif isinstance(req, GetMessageStatusRequest):
            m = await self.channel.status(sender_id, req.message_id, scope=scope)
            ex.verdicts["async"] = {"messageState": m.state.value}
            status = MessageStatusInfo(m.state.value, m.status_message, m.state_changed_at.astimezone(now.tzinfo))
            ex.reply = write_get_message_status_response(
                GetMessageStatusResponse(m.state, status, now, ex.session_id), sign_envelope=self.sign_envelope
            )
        else:
            assert isinstance(req, SendDeliveryNotificationRequest)
            m = await self.channel.delivery_notification(sender_id, req.notification, scope=scope)
            ex.verdicts["async"] = {"messageState": m.state.value}
            ex.reply = write_delivery_notification_response(
                SendDeliveryNotificationResponse(new_id(), now, ex.session_id), sign_envelope=self.sign_envelope
            )

    # -- glue ------------------------------------------------------------------------------------------------------
    async def process(self, body: bytes, content_type: str | None, *, remote: str | None = None) -> AsyncOutcome:
        started = time.perf_counter()
        ex = AsyncExchange(body=body, content_type=content_type, received_at=self.clock.now(), remote=remote)
        structlog.contextvars.bind_contextvars(sessionId=ex.session_id)
        error: ShlyuzError | None = None
        for name, stage in self.stages:
            t0 = time.perf_counter()
            try:
                await stage(ex)
            except ShlyuzError as exc:
                error = exc
            except Exception as exc:
                log.exception("async_stage_failed", stage=name)
                error = ShlyuzError(ErrorCode.INTERNAL_ERROR, f"unexpected error in stage {name}: {type(exc).__name__}")
            finally:
                ex.timings[name] = round((time.perf_counter() - t0) * 1000, 3)
            if error is not None:
                ex.verdicts["failed_stage"] = name
                break
        return self.finish(ex, error, started)

    def refused(self, error: ShlyuzError, *, body: bytes, content_type: str | None, remote: str | None) -> AsyncOutcome:
        """A request refused before it could be read (e.g. an oversize body)."""
        ex = AsyncExchange(body=body, content_type=content_type, received_at=self.clock.now(), remote=remote)
        ex.verdicts["failed_stage"] = "read"
        return self.finish(ex, error, time.perf_counter())

    def finish(self, ex: AsyncExchange, error: ShlyuzError | None, started: float) -> AsyncOutcome:
        if error is None and ex.reply is not None:
            status, body, outcome = 200, ex.reply, "SCSS001"
        else:
            error = error or ShlyuzError(ErrorCode.INTERNAL_ERROR, "no reply was written")
            status, outcome = 500, error.code.value
            ex.verdicts["error"] = {"code": error.code.value, "message": error.message}
            kind = error.code.kind  # type: ignore[attr-defined]
            body = write_async_fault(
                ErrorInfo(error.code.value, error.message, self.clock.now(), error_data=error.data,
                          session_id=ex.session_id),
                kind if isinstance(kind, FaultKind) else FaultKind.SERVER, ex.operation,
                sign_envelope=self.sign_envelope,
            )  # fmt: skip
        record = ExchangeRecord(
            received_at=ex.received_at,
            endpoint=ENDPOINT,
            session_id=ex.session_id,
            outcome=outcome,
            http_status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            sender_id=ex.sender.sender_id if ex.sender else ex.claimed_sender,
            service_id=ex.service_id,
            message_id=ex.message_id,
            correlation_id=ex.correlation_id,
            response_message_id=ex.response_message_id,
            remote=ex.remote,
            content_type=ex.content_type,
            verdicts=ex.verdicts,
            timings=ex.timings,
            request=ex.body if self.journal_bodies else None,
            response=body if self.journal_bodies else None,
        )
        return AsyncOutcome(status, body, record)
