"""The application a chain run submits: built from the run's options with the egov documents module, signed with the
run's identity (the applicant's SIGN key by default; a ``bad/…`` identity to exercise a refusal)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from shlyuz.dsig.signer import signer_for
from shlyuz.egov.documents import Applicant, Application, AttachedDocument, Representative, build_application
from shlyuz.errors import ErrorCode, ShlyuzError
from shlyuz.services.model import Service

if TYPE_CHECKING:
    from shlyuz.chains.driver import RunOptions
    from shlyuz.gateway.app import Gateway


def application(gateway: Gateway, service: Service, options: RunOptions) -> Application:
    if options.is_employer():
        applicant = Applicant(bin=options.applicant, signer_iin=options.signer_iin())
    else:
        applicant = Applicant(iin=options.applicant)
    rep = None
    if options.representative:
        poa = gateway.fixtures.powers_of_attorney.get(options.poa or "")
        rep = Representative(iin=options.representative, poa_number=options.poa or "-", notarised=bool(poa and poa.notarised))
    wanted = {d.id: d.en for d in service.required_documents.items}
    given = options.documents if options.documents is not None else [d.id for d in service.required_documents.items if not d.optional]
    docs = tuple(AttachedDocument(code=d, name=wanted.get(d, d)[:4000]) for d in given)
    channel = "portal" if options.channel == "portal" else "state-corp"
    return Application(
        reference=f"chain-run:{options.run_ref}" if options.run_ref else None, service=service.id, channel=channel,
        applicant=applicant, representative=rep, submitted_at=gateway.clock.now(), documents=docs,
    )  # fmt: skip


def default_identity(options: RunOptions) -> str:
    """Whose SIGN key signs: the employee for an employer, the representative when there is one, else the applicant."""
    if options.is_employer():
        return f"org/{options.applicant}/{options.signer_iin()}/sign"
    return f"person/{options.signer_iin()}/sign"


def operator_identity(gateway: Gateway) -> str | None:
    """A State Corporation operator's SIGN identity (the first operator of the fixtures that has one)."""
    from shlyuz.workstations.con_entry import operators

    for iin, op in sorted(operators(gateway.fixtures).items()):
        name = f"org/{op['bin']}/{iin}/sign"
        if gateway.pki is not None and name in gateway.pki:
            return name
    return None


def signed_application(gateway: Gateway, service: Service, options: RunOptions, *,
                       sign_as: str | None = None) -> tuple[etree._Element, str]:  # fmt: skip
    identity = sign_as or options.sign_as or default_identity(options)
    if gateway.pki is None:
        raise ShlyuzError(ErrorCode.PROVIDER_ERROR, "the gateway runs without a PKI: nothing can be signed")
    if identity not in gateway.pki:
        raise ShlyuzError(ErrorCode.INVALID_PARAMETER, f"no identity {identity!r} in the test PKI (docs/pki.md lists them)")
    root = build_application(application(gateway, service, options))
    signer_for(gateway.pki, identity).data(root)
    return root, identity
