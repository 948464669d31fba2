"""The State Corporation workstation as a SHEP async participant (``arm-con``): it serves no serviceId; the
NOTIFICATION and the RESPONSE (the provider's signed decision, 8 процесс) correlated to its REQUESTs land on the
application the operator entered."""

from __future__ import annotations

from shlyuz.portal.participant import deliver_to_tracked
from shlyuz.systems.participants import AsyncMessage, ParticipantContext


class ConParticipant:
    name = "State Corporation workstation (АРМ ИИС ЦОН)"
    participant_id = "arm-con"
    service_ids: tuple[str, ...] = ()

    async def on_message(self, message: AsyncMessage, ctx: ParticipantContext) -> None:
        from shlyuz.workstations.con_entry import KIND

        await deliver_to_tracked(KIND, self.participant_id, message, ctx)
