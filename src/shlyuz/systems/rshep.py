"""АЭҮШ АЖО / АРМ РШЭП, the regional e-government gateway workstation: the provider's inbox.

The State Corporation operator sends the applicant's request, signed with the operator's EDS, "through ЭҮШ to
АЭҮШ АЖО" (annexes 1 and 5, "5 процесс"); it is registered there ("6 процесс"), the provider checks it ("2 шарт")
and answers a result or a motivated refusal that the operator hands over ("8 процесс"). Here: the AsyncParticipant
``arm-rshep`` serving ``RSHEP_DOCUMENT`` registers such Applications as ``RSH-<year>-<NNNNNN>`` into the inbox that
E-sobes and E-licensing share (:mod:`.rshep_inbox`); the JSON API (:mod:`shlyuz.workstations.rshep_api`) and the
automatic provider (:mod:`.rshep_rules`) decide them. Contract: docs/systems/rshep.md.

:func:`participants` builds the three receiving participants for a gateway — the lead wires them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shlyuz.config import ProviderSettings
from shlyuz.egov.documents import Application
from shlyuz.egov.signing import SignedBy
from shlyuz.gateway.signature import SignatureVerifier
from shlyuz.systems import elicensing, esobes
from shlyuz.systems.participants import ParticipantContext
from shlyuz.systems.rshep_inbox import ReceivingSystem
from shlyuz.systems.rshep_intake import (
    Rejection,
    check_applicant_person,
    check_operator_signer,
)

PARTICIPANT_ID = "arm-rshep"
SERVICE_IDS = ("RSHEP_DOCUMENT",)
# the identities the receiving participants sign with: put them into ParticipantContext.signers
SYSTEM_IDENTITIES = ("system/ESOBES", "system/ELICENSING", "system/ARM-RSHEP")


def provider_identity(provider: ProviderSettings, fixtures: Any) -> str | None:
    """``org/<BIN>/<IIN>/sign`` of the provider's authorised person (its head unless configured)."""
    org = fixtures.organisations.get(provider.bin)
    iin = provider.authorized_iin or (org.head_iin if org else None)
    return f"org/{provider.bin}/{iin}/sign" if iin else None


@dataclass(frozen=True)
class RshepIntake:
    """АРМ РШЭП's acceptance check: a State Corporation application for a service the provider renders."""

    services: frozenset[str]

    async def __call__(self, app: Application, signed: SignedBy, ctx: ParticipantContext, scope: str) -> dict[str, Any]:
        if app.service not in self.services:
            raise Rejection("SERVICE_UNKNOWN", f"the provider renders no service {app.service!r} through АРМ РШЭП")
        if app.channel != "state-corp":
            raise Rejection("CHANNEL_MISMATCH", "АРМ РШЭП takes applications of the State Corporation channel (state-corp)")
        if app.applicant.iin is None:
            raise Rejection("APPLICANT_NOT_PERSON", "the State Corporation channel serves persons (IIN)")
        check_applicant_person(app, ctx.fixtures)
        org = check_operator_signer(app, signed, ctx.fixtures, ctx.now().date())
        return {"operatorIin": signed.iin, "operatorBin": org.bin}


def participant(*, verifier: SignatureVerifier | None, provider: ProviderSettings, services: frozenset[str]) -> ReceivingSystem:
    """The АРМ РШЭП AsyncParticipant (``arm-rshep``, serving RSHEP_DOCUMENT)."""
    return ReceivingSystem(
        name="АРМ РШЭП", participant_id=PARTICIPANT_ID, service_ids=SERVICE_IDS, prefix="RSH",
        check=RshepIntake(services), verifier=verifier, provider=provider, identity="system/ARM-RSHEP",
    )  # fmt: skip


def participants(*, verifier: SignatureVerifier | None, provider: ProviderSettings,
                 fixture_dirs: Iterable[Path]) -> dict[str, ReceivingSystem]:  # fmt: skip
    """E-sobes, E-licensing and АРМ РШЭП by participant id (the inbox API needs this mapping too)."""
    services = esobes.known_services(fixture_dirs)
    systems = (
        esobes.participant(verifier=verifier, provider=provider, services=services),
        elicensing.participant(verifier=verifier, provider=provider),
        participant(verifier=verifier, provider=provider, services=services),
    )
    return {s.participant_id: s for s in systems}
