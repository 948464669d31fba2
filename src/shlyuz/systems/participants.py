"""The contract between the SHEP async channel and the participants that live inside shlyuz.

E-sobes, E-licensing, the regional gateway workstation (АРМ РШЭП), the State Corporation workstation (АРМ ИИС ЦОН)
and the egov.kz portal are SHEP participants: each has a senderId, may serve serviceIds, and exchanges messages with
the others over the async channel, exactly as an external participant would over ``/bip-async/``. The channel
persists every accepted message, routes it, and delivers it:

- a REQUEST goes to the participant serving its ``service_id`` (inside: :meth:`AsyncParticipant.on_message`;
  outside: pulled with getMessages or pushed to the participant's registered endpoint);
- a RESPONSE, NOTIFICATION or UPDATE carries the REQUEST's messageId as ``correlation_id`` and goes back to the
  REQUEST's sender.

Delivery is at least once: ``on_message`` is called again (with backoff) until it returns without raising, also
after a restart, so it must be idempotent by ``message.message_id``. A participant answers later — a decision taken
days after in a workstation — with :meth:`Outbox.send`, which returns once the message is durably accepted.

Payloads are the business documents as bytes (XML, possibly signed): they are stored and delivered byte for byte.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from shlyuz.storage.records import DEFAULT_SCOPE, RecordStore

if TYPE_CHECKING:
    from shlyuz.dsig.signer import Signer
    from shlyuz.fixtures.store import FixtureSet


class MessageType(str, enum.Enum):
    """``messageInfo/messageType`` of AsyncChannel v10 (official spellings)."""

    REQUEST = "REQUEST"
    RESPONSE = "RESPONSE"
    NOTIFICATION = "NOTIFICATION"
    UPDATE = "UPDATE"


@dataclass(frozen=True, slots=True)
class AsyncMessage:
    """One message as the channel accepted it."""

    message_id: str
    message_type: MessageType
    service_id: str
    sender_id: str
    created_at: datetime
    payload: bytes | None
    correlation_id: str | None = None  # the REQUEST's messageId, for RESPONSE / NOTIFICATION / UPDATE
    properties: tuple[tuple[str, str], ...] = ()
    session_id: str | None = None
    scope: str = DEFAULT_SCOPE  # isolated session (issue #6); "default" otherwise


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What a participant asks the channel to send; the channel assigns messageId and date."""

    message_type: MessageType
    service_id: str
    payload: bytes | None
    correlation_id: str | None = None
    properties: tuple[tuple[str, str], ...] = ()


class Outbox(Protocol):
    async def send(self, sender_id: str, message: Outgoing, *, scope: str | None = None) -> str:
        """Accept ``message`` from ``sender_id`` (persisted when this returns) and return its messageId. ``scope``
        None: the current request's session (:func:`shlyuz.storage.scope.current_scope`)."""
        ...


@dataclass(frozen=True, slots=True)
class ParticipantContext:
    """What an inside participant may use. ``signers``: fixture identity name → :class:`Signer` (keys loaded once)."""

    fixtures: FixtureSet
    now: Callable[[], datetime]
    records: RecordStore
    outbox: Outbox
    signers: Mapping[str, Signer]


class AsyncParticipant(Protocol):
    name: str  # e.g. "E-sobes"
    participant_id: str  # its senderId on SHEP, e.g. "esobes"
    service_ids: tuple[str, ...]  # REQUESTs to these serviceIds are delivered to it (may be empty)

    async def on_message(self, message: AsyncMessage, ctx: ParticipantContext) -> None:
        """Handle one delivered message; idempotent by ``message.message_id``; raise to have it retried."""
        ...
