"""The async channel's rules over the message store: accept and route, hand messages over, report and change state.

Transport-free: the HTTP edge (:mod:`shlyuz.asyncch.http`) calls it for authenticated participants, the
:class:`ChannelOutbox` for inside participants, the delivery engine for the outcome of attempts.

Routing: a REQUEST goes to the participant serving its serviceId; a RESPONSE, NOTIFICATION or UPDATE carries the
REQUEST's messageId (or the messageId of any later message of the chain) as correlationId, may only be sent by the
REQUEST's recipient, and goes to the REQUEST's sender. Every message of a chain is stored with the chain id (the
REQUEST's messageId) as its correlationId, and delivered with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from shlyuz.asyncch.directory import INSIDE, PULL, Directory
from shlyuz.clock import Clock
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.shep.async_events import (
    DeliveryNotification,
    GetMessagesRequest,
    MessageState,
    MessageType,
    ReceiveStatus,
    ResendMessage,
)
from shlyuz.shep.async_states import STATUS_MESSAGES, IllegalTransition, transition
from shlyuz.shep.events import DataKind
from shlyuz.storage.messages import MessageStore, StatusStep, StoredMessage
from shlyuz.storage.records import DEFAULT_SCOPE
from shlyuz.storage.scope import resolve
from shlyuz.systems.participants import Outgoing

DEFAULT_AMOUNT = 100
MAX_AMOUNT = 1000


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Submission:
    """A message as a sender hands it to the channel (from the wire or from an inside participant)."""

    sender_id: str
    message_type: MessageType
    service_id: str
    data_kind: DataKind
    payload: bytes | None
    correlation_id: str | None = None
    sender_message_id: str | None = None
    route_id: str | None = None
    properties: tuple[tuple[str, str], ...] = ()
    session_id: str | None = None
    scope: str = DEFAULT_SCOPE


class AsyncChannel:
    def __init__(
        self, *, store: MessageStore, directory: Directory, clock: Clock, on_accept: Callable[[], None] | None = None
    ) -> None:
        self.store = store
        self.directory = directory
        self.clock = clock
        self.on_accept = on_accept or (lambda: None)

    # -- sendMessage -------------------------------------------------------------------------------------------
    async def _recipient(self, sub: Submission) -> tuple[str, str | None]:
        """``(recipient, chain id)``; the chain id is None for a REQUEST (its own messageId)."""
        corr = sub.correlation_id or None
        if sub.message_type is MessageType.REQUEST:
            if corr is not None:
                raise ShlyuzError(
                    ErrorCode.ASYNC_CORRELATION_NOT_ALLOWED,
                    f"a REQUEST starts a chain and must not carry a correlationId (got {corr!r})",
                )
            recipient = self.directory.serving(sub.service_id)
            if recipient is None:
                raise ShlyuzError(
                    ErrorCode.SERVICE_NOT_FOUND,
                    f"no async participant serves serviceId {sub.service_id!r}",
                )
            return recipient, None
        if corr is None:
            raise ShlyuzError(
                ErrorCode.ASYNC_CORRELATION_REQUIRED,
                f"a {sub.message_type.value} must carry messageInfo/correlationId: the messageId of the REQUEST it answers",
            )
        found = await self.store.get(corr)
        if found is None or found.scope != sub.scope:
            raise ShlyuzError(ErrorCode.ASYNC_CORRELATION_UNKNOWN, f"correlationId {corr!r} names no accepted message")
        root = found if found.message_type == MessageType.REQUEST.value else await self.store.get(found.correlation_id)
        if root is None:  # pragma: no cover - a chain always starts with a stored REQUEST
            raise ShlyuzError(ErrorCode.ASYNC_CORRELATION_UNKNOWN, f"correlationId {corr!r}: its REQUEST is gone")
        if sub.sender_id != root.recipient_id:
            raise ShlyuzError(
                ErrorCode.ASYNC_NOT_A_PARTY,
                f"sender {sub.sender_id!r} did not receive REQUEST {root.message_id!r} (its recipient is "
                f"{root.recipient_id!r}), so it may not send a {sub.message_type.value} in its chain",
            )
        return root.sender_id, root.message_id

    async def accept(self, sub: Submission) -> StoredMessage:
        """Route and persist ``sub``; committed when this returns. Raises :class:`ShlyuzError` when refused."""
        recipient, chain = await self._recipient(sub)
        now = self.clock.now()
        message_id = new_id()
        route = self.directory.route(recipient)
        message = StoredMessage(
            message_id=message_id,
            message_type=sub.message_type.value,
            service_id=sub.service_id,
            sender_id=sub.sender_id,
            recipient_id=recipient,
            correlation_id=chain or message_id,
            message_date=now,
            accepted_at=now,
            data_kind=sub.data_kind.value,
            payload=sub.payload,
            mode=route.mode,
            state=MessageState.ON_DELIVERY,
            state_changed_at=now,
            status_message=STATUS_MESSAGES[MessageState.ON_DELIVERY],
            scope=sub.scope,
            sender_message_id=sub.sender_message_id,
            route_id=sub.route_id,
            session_id=sub.session_id,
            properties=sub.properties,
            due_at=None if route.mode == PULL else now,
        )
        stored = await self.store.accept(message)
        if stored.message_id != message.message_id:  # the sender sent this messageId before
            same = (
                stored.message_type == message.message_type and stored.service_id == message.service_id
                and stored.payload == message.payload and stored.recipient_id == message.recipient_id
            )  # fmt: skip
            if not same:
                raise ShlyuzError(
                    ErrorCode.ASYNC_DUPLICATE_MESSAGE_ID,
                    f"sender {sub.sender_id!r} already sent messageId {sub.sender_message_id!r} (accepted as "
                    f"{stored.message_id!r}) with other content; use a new messageId for a new message",
                )
            return stored  # a retry of the same message: accepted once, the same answer again
        if route.mode != PULL:
            self.on_accept()
        return message

    # -- state changes -----------------------------------------------------------------------------------------
    def steps(self, message: StoredMessage, *states: MessageState, detail: str | None = None) -> list[StatusStep]:
        """The steps to ``states``, each with a notification for the sender when it has an endpoint."""
        notify = self.directory.push_url(message.sender_id) is not None
        out = []
        for state in states:
            text = STATUS_MESSAGES[state] + (f": {detail}" if detail else "")
            out.append(StatusStep(state, text[:1000], new_id() if notify else None))
        return out

    async def move(
        self, message: StoredMessage, *states: MessageState, detail: str | None = None, redeliver: bool = False,
        owner: str | None = None, error: str | None = None,
    ) -> StoredMessage | None:  # fmt: skip
        current = message.state
        for state in states:
            current = transition(current, state)
        due = self.clock.now() if redeliver and message.mode != PULL else None
        steps = self.steps(message, *states, detail=detail)
        moved = await self.store.change_state(
            message.message_id, expect=message.state, steps=steps, at=self.clock.now(), due_at=due, owner=owner,
            error=error, reset_attempts=redeliver,
        )
        if moved is not None and (due is not None or any(s.notify_id for s in steps)):
            self.on_accept()  # a delivery or a notification to send: wake the loop
        return moved

    # -- getMessages -------------------------------------------------------------------------------------------
    async def pull(self, recipient_id: str, req: GetMessagesRequest, *, scope: str = DEFAULT_SCOPE) -> list[StoredMessage]:
        """Messages for ``recipient_id``: by messageId, by correlationId, or the next undelivered ones of the
        serviceId. Handing a message over is its delivery (ON_DELIVERY → DELIVERED)."""
        amount = DEFAULT_AMOUNT if req.amount is None else req.amount
        if amount < 1:
            raise ShlyuzError(ErrorCode.ASYNC_INVALID_REQUEST, f"getMessages amount must be at least 1, got {amount}")
        amount = min(amount, MAX_AMOUNT)
        by_id = req.message_id is not None or req.correlation_id is not None
        found = await self.store.find(
            recipient_id=recipient_id, service_id=req.service_id, scope=scope, message_id=req.message_id,
            correlation_id=req.correlation_id, states=None if by_id else [MessageState.ON_DELIVERY],
            limit=MAX_AMOUNT,
        )  # fmt: skip
        out: list[StoredMessage] = []
        for message in found:
            if len(out) >= amount:
                break
            if message.mode == INSIDE:
                continue  # an inside participant's messages are delivered to it, not pulled on its behalf
            if message.mode != PULL:
                if by_id:
                    out.append(message)  # a pushed message may be fetched again by its id; its state is the push's
                continue
            if message.state is MessageState.ON_DELIVERY:
                moved = await self.move(message, MessageState.DELIVERED, detail=f"pulled by {recipient_id}")
                if moved is None:  # another puller got it first
                    if not by_id:
                        continue
                    moved = await self.store.get(message.message_id)
                message = moved or message
            out.append(message)
        return out

    # -- getMessageStatus --------------------------------------------------------------------------------------
    async def status(self, participant_id: str, message_id: str, *, scope: str = DEFAULT_SCOPE) -> StoredMessage:
        message = await self.store.get(message_id)
        if message is None or message.scope != scope or participant_id not in (message.sender_id, message.recipient_id):
            raise ShlyuzError(
                ErrorCode.ASYNC_MESSAGE_NOT_FOUND,
                f"no message {message_id!r} sent by or addressed to {participant_id!r}",
            )
        return message

    # -- sendDeliveryNotification ------------------------------------------------------------------------------
    async def delivery_notification(
        self, participant_id: str, n: DeliveryNotification, *, scope: str = DEFAULT_SCOPE
    ) -> StoredMessage:
        message = await self.store.get(n.message_id)
        if (
            message is None or message.scope != scope or message.recipient_id != participant_id
            or message.service_id != n.service_id
        ):  # fmt: skip
            raise ShlyuzError(
                ErrorCode.ASYNC_MESSAGE_NOT_FOUND,
                f"no message {n.message_id!r} of serviceId {n.service_id!r} addressed to {participant_id!r}",
            )
        s = MessageState
        st = n.status
        detail = f"reported by {participant_id}"
        if st.error is not None:
            detail += f" ({st.error.error_code}: {st.error.error_message})"
        try:
            if st.receive_status is ReceiveStatus.MESSAGE_ACCEPTED:
                if message.state is s.DELIVERED:
                    return message  # the hand-over already counted as delivery
                states: tuple[MessageState, ...] = (s.DELIVERED,)
                redeliver = False
            elif st.resend is ResendMessage.RESEND:
                if message.state is s.ON_DELIVERY:
                    return message  # still being delivered
                states, redeliver = (s.ON_DELIVERY,), True
            else:
                states = (s.NOT_DELIVERED, s.DELIVERY_STOPPED)
                if message.state is s.NOT_DELIVERED:
                    states = (s.DELIVERY_STOPPED,)
                redeliver = False
            moved = await self.move(message, *states, detail=detail, redeliver=redeliver)
        except IllegalTransition as exc:
            raise ShlyuzError(ErrorCode.ASYNC_STATE_CONFLICT, f"message {n.message_id!r}: {exc}") from None
        if moved is None:
            raise ShlyuzError(
                ErrorCode.ASYNC_STATE_CONFLICT, f"message {n.message_id!r} changed state meanwhile; ask again"
            )
        return moved


class ChannelOutbox:
    """:class:`shlyuz.systems.participants.Outbox` for inside participants: the payload is stored byte for byte
    and delivered as an escaped XML string, so signatures inside it survive."""

    def __init__(self, channel: AsyncChannel) -> None:
        self.channel = channel

    async def send(self, sender_id: str, message: Outgoing, *, scope: str | None = None) -> str:
        stored = await self.channel.accept(
            Submission(
                sender_id=sender_id,
                message_type=MessageType(message.message_type),
                service_id=message.service_id,
                data_kind=DataKind.STRING if message.payload else DataKind.EMPTY,
                payload=message.payload or None,
                correlation_id=message.correlation_id,
                properties=tuple(message.properties),
                scope=resolve(scope),  # None: the session of the request that sends it
            )
        )
        return stored.message_id
