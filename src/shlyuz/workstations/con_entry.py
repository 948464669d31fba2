"""АРМ ИИС ЦОН (МК ЫАЖ АЖО): the State Corporation operator's side of the seed's SC chain.

1 процесс — the operator logs in with login (IIN) + password; 2 процесс — chooses the service and enters the
applicant's data, and the representative's with the power of attorney (a notarised one by its number; any other by
its data); 3 процесс / 1 шарт / 4 процесс — GBD FL and ENIS are asked over SHEP (:mod:`con_checks`), and a failure
stops the flow with "the data cannot be obtained"; 5 процесс — the Application, signed with the operator's EDS, goes
through SHEP to the regional gateway workstation (async REQUEST ``arm-con`` → ``RSHEP_DOCUMENT``). The result comes
back as the RESPONSE (8 процесс), to :class:`shlyuz.workstations.con_participant.ConParticipant`.

Operators are the State Corporation's head and employees in ``fixtures/organisations.json`` (kind
``state-corporation``); their test password is ``tson-<IIN>`` (documented in docs/workstations.md; never a real one).
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shlyuz.dsig.signer import Signer, signer_for
from shlyuz.egov.documents import (
    Applicant,
    Application,
    AttachedDocument,
    NameValue,
    Representative,
    build_application,
    to_bytes,
)
from shlyuz.errors import ErrorCode
from shlyuz.fixtures.store import FixtureSet
from shlyuz.gateway.jsonapi import ApiError
from shlyuz.portal.applications import outbox_of, send_tracked
from shlyuz.portal.models import CatalogueEntry
from shlyuz.systems.participants import MessageType, Outgoing
from shlyuz.workstations.con_checks import check_person, check_poa
from shlyuz.workstations.con_models import ConApplicationIn

if TYPE_CHECKING:
    from shlyuz.gateway.app import Gateway

KIND = "con-application"
PARTICIPANT_ID = "arm-con"
RSHEP_SERVICE = "RSHEP_DOCUMENT"


def test_password(iin: str) -> str:
    """The documented test password of an operator (shlyuz's own; no real system has it)."""
    return f"tson-{iin}"


def operators(fixtures: FixtureSet) -> dict[str, dict[str, str]]:
    """IIN → operator data, for every head and employee of a State Corporation organisation."""
    out: dict[str, dict[str, str]] = {}
    for org in fixtures.organisations.values():
        if org.kind != "state-corporation":
            continue
        for iin in [org.head_iin, *org.employee_iins]:
            person = fixtures.persons.get(iin or "")
            if person is None or person.death_date is not None:
                continue
            name = " ".join(x for x in (person.surname, person.name, person.patronymic) if x)
            out[iin] = {"iin": iin, "name": name, "bin": org.bin, "branch": org.name_ru,
                        "signingIdentity": f"org/{org.bin}/{iin}/sign"}  # fmt: skip
    return out


def authenticate(fixtures: FixtureSet, login: str, password: str) -> dict[str, str]:
    operator = operators(fixtures).get(login)
    if operator is None:
        raise ApiError(ErrorCode.ACCOUNT_NOT_FOUND, f"IIN {login} is not a State Corporation operator", status=401)
    if not hmac.compare_digest(password.encode(), test_password(login).encode()):
        raise ApiError(ErrorCode.LOGIN_FAILED, f"wrong password for operator {login}", status=401)
    return operator


def operator_signer(gateway: Gateway, operator: Mapping[str, str], cache: dict[str, Signer]) -> Signer:
    name = operator["signingIdentity"]
    if name not in cache:
        if gateway.pki is None or name not in gateway.pki:
            raise ApiError(ErrorCode.PROVIDER_ERROR, f"the operator's EDS {name} is not in the PKI", status=503)
        cache[name] = signer_for(gateway.pki, name)
    return cache[name]


async def enter(gateway: Gateway, operator: Mapping[str, str], body: ConApplicationIn,
                catalogue: Mapping[str, CatalogueEntry], signers: dict[str, Signer]) -> dict[str, Any]:  # fmt: skip
    entry = catalogue.get(body.service)
    if entry is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"service {body.service!r} is not in the service definitions")
    if "state-corp" not in entry.channels:
        raise ApiError(ErrorCode.FORBIDDEN, f"service {body.service!r} is not rendered through the State Corporation "
                                            f"(channels: {', '.join(entry.channels)})")  # fmt: skip
    outbox_of(gateway)  # no channel, no entry: refuse before GBD FL and ENIS are asked
    signer = operator_signer(gateway, operator, signers)
    applicant = await check_person(gateway, PARTICIPANT_ID, body.applicant.iin)
    checks: dict[str, Any] = {"gbdfl": applicant.as_dict()}
    representative = None
    rep = body.representative
    if rep is not None:
        if rep.iin == body.applicant.iin:
            raise ApiError(ErrorCode.INVALID_PARAMETER, "representative.iin: the applicant cannot represent themself")
        if rep.poa.notarised:
            poa = await check_poa(gateway, PARTICIPANT_ID, rep.poa.number, principal=body.applicant.iin,
                                  attorney=rep.iin)  # fmt: skip
            checks["enis"] = poa.as_dict()
        else:
            today = gateway.clock.now().date()
            assert rep.poa.issued_on is not None and rep.poa.valid_to is not None
            if not rep.poa.issued_on <= today <= rep.poa.valid_to:
                raise ApiError(ErrorCode.POA_NOT_VALID,
                               f"the power of attorney {rep.poa.number} entered by the operator is valid "
                               f"{rep.poa.issued_on}..{rep.poa.valid_to}, not on {today}", status=422)  # fmt: skip
            checks["poaEntered"] = rep.poa.model_dump(mode="json", by_alias=True, exclude_none=True)
        representative = Representative(iin=rep.iin, poa_number=rep.poa.number, notarised=rep.poa.notarised)
    now = gateway.clock.now()
    app_id = str(uuid.uuid4())
    reference = body.reference or f"CON-{now:%Y%m%d}-{await gateway.records.next_number(f'con-case-{now:%Y}'):06d}"
    app = Application(
        reference=reference, service=body.service, channel="state-corp",
        applicant=Applicant(iin=body.applicant.iin, name=applicant.name), representative=representative,
        submitted_at=now, fields=tuple(NameValue(name=f.name, value=f.value) for f in body.fields),
        documents=tuple(AttachedDocument(code=d.code, name=d.name) for d in body.documents),
    )  # fmt: skip
    root = build_application(app)
    signer.data(root)  # 5 процесс: the operator's EDS
    raw = to_bytes(root)
    data = {
        "id": app_id, "operator": operator["iin"], "branch": operator["bin"], "reference": reference,
        "service": body.service, "serviceId": RSHEP_SERVICE, "system": "arm-rshep", "status": "SENT",
        "submittedAt": now.isoformat(), "messageId": None,
        "applicant": {"iin": body.applicant.iin, "name": applicant.name},
        "representative": representative.model_dump(mode="json", by_alias=True) if representative else None,
        "checks": checks, "application": raw.decode("utf-8"), "history": [], "seen": [],
    }  # fmt: skip
    outgoing = Outgoing(MessageType.REQUEST, RSHEP_SERVICE, raw, properties=(("applicationId", app_id),))
    return await send_tracked(gateway, KIND, data, PARTICIPANT_ID, outgoing)
