"""The portal as a SHEP async participant (``egov-portal``): it serves no serviceId; the NOTIFICATION, UPDATE and
RESPONSE messages correlated to its REQUESTs are delivered here and land in the applicant's cabinet.

A message whose correlationId matches no application yet raises, so the channel delivers it again later (the
portal writes the messageId right after the channel accepted the REQUEST; a very early answer can overtake it)."""

from __future__ import annotations

import structlog

from shlyuz.portal.tracking import apply_message
from shlyuz.storage.records import update
from shlyuz.systems.participants import AsyncMessage, MessageType, ParticipantContext

log = structlog.get_logger("shlyuz.portal")


class UnknownCorrelation(LookupError):
    """No application of this participant has this messageId (yet)."""


async def deliver_to_tracked(kind: str, participant: str, message: AsyncMessage, ctx: ParticipantContext) -> None:
    """Shared by the portal and the State Corporation workstation."""
    if message.message_type is MessageType.REQUEST or not message.correlation_id:
        log.warning("unexpected_message", participant=participant, message_id=message.message_id,
                    message_type=message.message_type.value)  # fmt: skip
        return  # nothing to do with it; raising would only have it delivered again
    found = await ctx.records.find(kind, scope=message.scope, where={"messageId": message.correlation_id}, limit=1)
    if not found:
        raise UnknownCorrelation(f"{participant}: no application with messageId {message.correlation_id}")
    key = found[0].key
    await update(ctx.records, kind, key, lambda data: apply_message(data or {}, message), scope=message.scope)
    log.info("application_message", participant=participant, application=key,
             message_type=message.message_type.value, message_id=message.message_id)  # fmt: skip


class PortalParticipant:
    name = "egov.kz portal"
    participant_id = "egov-portal"
    service_ids: tuple[str, ...] = ()

    async def on_message(self, message: AsyncMessage, ctx: ParticipantContext) -> None:
        from shlyuz.portal.applications import KIND

        await deliver_to_tracked(KIND, self.participant_id, message, ctx)
