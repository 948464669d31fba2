"""The outcome document of a chain run: a Decision (approved, or refused with its motivated reason) signed by the
provider's authorised person — the head of the Almaty Department of Employment and Social Programmes in the
fixtures (identity ``org/<BIN>/<head IIN>/sign``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shlyuz.dsig.signer import signer_for
from shlyuz.egov.documents import Applicant, DecidedBy, Decision, Reason, build_decision, to_bytes
from shlyuz.fixtures.models import Organisation
from shlyuz.services.model import Service

if TYPE_CHECKING:
    from shlyuz.chains.driver import RunOptions
    from shlyuz.gateway.app import Gateway


def provider(gateway: Gateway) -> Organisation | None:
    """The city department that provides the 15 services (tagged service-provider, not a district department)."""
    for org in gateway.fixtures.organisations.values():
        if "service-provider" in org.tags and "district-department" not in org.tags:
            return org
    return None


def signed_result(gateway: Gateway, svc: Service, options: RunOptions, *, run_id: str,
                  refusal: dict[str, str] | None = None) -> str | None:  # fmt: skip
    org = provider(gateway)
    if org is None or gateway.pki is None:
        return None
    identity = f"org/{org.bin}/{org.head_iin}/sign"
    if identity not in gateway.pki:
        return None
    head = gateway.fixtures.persons.get(org.head_iin)
    name = " ".join(x for x in (head.surname, head.name, head.patronymic) if x) if head else org.head_iin
    applicant = Applicant(bin=options.applicant, signer_iin=options.signer_iin()) if options.is_employer() else Applicant(iin=options.applicant)
    decision = Decision(
        application_number=run_id, service=svc.id, applicant=applicant,
        decision="refused" if refusal else "approved",
        reason=Reason(code=refusal["code"], text=refusal["text"][:4000]) if refusal else None,
        decided_at=gateway.clock.now(),
        decided_by=DecidedBy(iin=org.head_iin, name=name[:200], bin=org.bin, organisation=(org.name_ru or org.bin)[:500]),
        summary=svc.result.en[:4000],
    )  # fmt: skip
    root = build_decision(decision)
    signer_for(gateway.pki, identity).data(root)
    return to_bytes(root).decode("utf-8")
