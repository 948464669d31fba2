"""ЕНИС (ENIS, БНАЖ): the Unified Notarial Information System, asked whether a power of attorney exists and is usable.

No public contract exists (kz_egov.md §2.2): this one is shlyuz's design, in the style of GBD FL (unqualified fields
under a root in :data:`shlyuz.shep.ns.ENIS_POA`, ``messageResult`` ``{code, nameRu, nameKz}``). Contract:
docs/systems/enis.md, schema: schemas/enis/enis-poa.xsd. Sans-IO: :func:`parse_query`, :func:`search`,
:func:`poa_status` and :func:`build_response` are pure; ``handle`` glues them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lxml import etree

from shlyuz.fixtures.models import DictValue, PowerOfAttorney
from shlyuz.fixtures.store import FixtureSet
from shlyuz.shep import ns
from shlyuz.shep.events import Status, SyncRequest
from shlyuz.shep.reader import payload_root
from shlyuz.shep.writer import format_datetime
from shlyuz.systems.base import HandlerContext, HandlerResult
from shlyuz.systems.dictionaries import (
    ENIS_PARTICIPANT,
    POA_STATUSES,
    RESULT_NOT_FOUND,
    RESULT_OK,
    PayloadError,
    bad_request,
    check_message_date,
    parse_date,
    read_fields,
    sub,
    sub_dict,
    sub_opt,
)
from shlyuz.systems.gbdfl import iin_problem

SERVICE_IDS = ("ENIS_POA_CHECK",)
REQUEST_FIELDS = (
    "messageId", "messageDate", "senderCode", "poaNumber", "principalIin", "principalBin", "attorneyIin", "checkDate",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Query:
    mode: str  # "number" | "parties"
    check_date: date
    number: str | None = None
    principal_iin: str | None = None
    principal_bin: str | None = None
    attorney_iin: str | None = None

    def describe(self) -> str:
        if self.mode == "number":
            return f"number {self.number}"
        principal = f"IIN {self.principal_iin}" if self.principal_iin else f"BIN {self.principal_bin}"
        return f"principal {principal} and attorney IIN {self.attorney_iin}"


def parse_query(fields: dict[str, str], today: date) -> Query:
    """The check a PoaCheckRequest asks for; raises PayloadError 00002 on any invalid request."""
    check_message_date(fields)
    check_date = parse_date(fields, "checkDate") or today
    parties = [f for f in ("principalIin", "principalBin", "attorneyIin") if f in fields]
    if "poaNumber" in fields:
        if parties:
            raise bad_request(
                f"conflicting criteria: poaNumber and {', '.join(parties)} given; send poaNumber alone, "
                "or principalIin/principalBin with attorneyIin",
                "заданы одновременно номер доверенности и стороны",
                fields,
            )
        return Query("number", check_date, number=fields["poaNumber"])
    if not parties:
        raise bad_request(
            "no search criteria: send poaNumber, or principalIin/principalBin with attorneyIin",
            "не заданы критерии поиска",
            fields,
        )
    if "principalIin" in fields and "principalBin" in fields:
        raise bad_request(
            "conflicting criteria: principalIin and principalBin given; the principal is a person or an organisation",
            "заданы одновременно ИИН и БИН доверителя",
            fields,
        )
    if "attorneyIin" not in fields or len(parties) < 2:
        missing = "attorneyIin" if "attorneyIin" not in fields else "principalIin or principalBin"
        raise bad_request(
            f"a search by parties needs principalIin/principalBin and attorneyIin ({missing} missing)",
            "для поиска по сторонам нужны доверитель и поверенный",
            fields,
        )
    for name, label in (("principalIin", "IIN"), ("principalBin", "BIN"), ("attorneyIin", "IIN")):
        if name in fields and (problem := iin_problem(fields[name], label)):
            ru = "ИИН" if label == "IIN" else "БИН"
            raise bad_request(f"{name}: {problem}", f"{name}: некорректный {ru} {fields[name][:40]}", fields)
    return Query(
        "parties", check_date, principal_iin=fields.get("principalIin"),
        principal_bin=fields.get("principalBin"), attorney_iin=fields["attorneyIin"],
    )  # fmt: skip


def search(query: Query, fixtures: FixtureSet) -> list[PowerOfAttorney]:
    """By number: the one power of attorney (exact, then case-insensitive). By parties: all of them, most recent
    registration first (then the latest validFrom, then the number)."""
    if query.mode == "number":
        number = query.number or ""
        poa = fixtures.powers_of_attorney.get(number)
        if poa is None:
            key = number.casefold()
            poa = next((p for n, p in fixtures.powers_of_attorney.items() if n.casefold() == key), None)
        return [poa] if poa else []
    found = [
        p
        for p in fixtures.powers_of_attorney.values()
        if p.attorney_iin == query.attorney_iin
        and (p.principal_iin == query.principal_iin if query.principal_iin else p.principal_bin == query.principal_bin)
    ]
    return sorted(found, key=lambda p: (p.registration_date, p.valid_from, p.number), reverse=True)


def poa_status(poa: PowerOfAttorney, on: date) -> str:
    """VALID, EXPIRED, REVOKED or NOT_YET_VALID on the date ``on``. A revocation counts from its date (inclusive);
    a revoked record without a revocation date counts as revoked on every date."""
    if poa.revoked and (poa.revocation_date is None or poa.revocation_date <= on):
        return "REVOKED"
    if on < poa.valid_from:
        return "NOT_YET_VALID"
    if on > poa.valid_to:
        return "EXPIRED"
    return "VALID"


def status_phrase(poa: PowerOfAttorney, on: date) -> str:
    """e.g. ``is REVOKED since 2025-03-01``; says ``not notarised`` when it is not."""
    status = poa_status(poa, on)
    phrase = {
        "REVOKED": f"is REVOKED since {poa.revocation_date}" if poa.revocation_date else "is REVOKED",
        "NOT_YET_VALID": f"is NOT_YET_VALID (valid from {poa.valid_from})",
        "EXPIRED": f"is EXPIRED (valid to {poa.valid_to})",
        "VALID": f"is VALID until {poa.valid_to}",
    }[status]
    if not poa.notarised:
        phrase += " but is not notarised"
    return phrase


def _person_name(fixtures: FixtureSet, iin: str) -> str | None:
    p = fixtures.persons.get(iin)
    return " ".join(x for x in (p.surname, p.name, p.patronymic) if x) if p else None


def _party(parent: etree._Element, tag: str, id_tag: str, id_value: str, name: str | None) -> None:
    el = sub(parent, tag)
    sub(el, id_tag, id_value)
    sub_opt(el, "name", name)


def _poa(parent: etree._Element, poa: PowerOfAttorney, on: date, fixtures: FixtureSet) -> None:
    el = sub(parent, "powerOfAttorney")
    sub(el, "number", poa.number)
    sub_dict(el, "status", POA_STATUSES[poa_status(poa, on)])
    sub(el, "notarised", "true" if poa.notarised else "false")
    sub_opt(el, "registrationDate", poa.registration_date)
    sub_opt(el, "validFrom", poa.valid_from)
    sub_opt(el, "validTo", poa.valid_to)
    sub_opt(el, "revocationDate", poa.revocation_date if poa.revoked else None)
    if poa.principal_iin is not None:
        _party(el, "principal", "iin", poa.principal_iin, _person_name(fixtures, poa.principal_iin))
    else:
        org = fixtures.organisations.get(poa.principal_bin or "")
        _party(el, "principal", "bin", poa.principal_bin or "", org.name_ru if org else None)
    _party(el, "attorney", "iin", poa.attorney_iin, _person_name(fixtures, poa.attorney_iin))
    if poa.notary is not None:
        notary = sub(el, "notary")
        sub(notary, "name", poa.notary.name)
        sub(notary, "licenseNumber", poa.notary.license_number)
        sub(notary, "region", poa.notary.region)
    powers = sub(el, "powers")
    for power in poa.powers:
        sub_dict(powers, "power", power)


def build_response(
    *,
    message_id: str,
    message_date: str,
    request_id: str,
    result: DictValue,
    check_date: date | None,
    poas: list[PowerOfAttorney],
    fixtures: FixtureSet,
) -> etree._Element:
    """``{http://poa.enis.notariat.kz/v1}PoaCheckResponse``; ``checkDate`` (the date the statuses are computed for)
    and ``powersOfAttorney`` are omitted when the request was invalid or nothing was found."""
    root = etree.Element(ns.q(ns.ENIS_POA, "PoaCheckResponse"), nsmap={"enis": ns.ENIS_POA})
    sub(root, "messageId", message_id)
    sub(root, "messageDate", message_date)
    sub(root, "requestId", request_id)
    sub_dict(root, "sender", ENIS_PARTICIPANT)
    sub_dict(root, "messageResult", result)
    sub_opt(root, "checkDate", check_date)
    if poas and check_date is not None:
        holder = sub(root, "powersOfAttorney")
        for poa in poas:
            _poa(holder, poa, check_date, fixtures)
    return root


def principal_death(poa: PowerOfAttorney, fixtures: FixtureSet, on: date) -> date | None:
    """The principal's date of death when the persons fixtures record one on or before ``on``. The status does not
    change (ENIS registers notarial acts, not deaths), but the message and the verdict say so."""
    p = fixtures.persons.get(poa.principal_iin or "")
    return p.death_date if p is not None and p.death_date is not None and p.death_date <= on else None


def _found_message(query: Query, poas: list[PowerOfAttorney], fixtures: FixtureSet) -> str:
    first = poas[0]
    phrase = status_phrase(first, query.check_date)
    if died := principal_death(first, fixtures, query.check_date):
        phrase += f"; the principal died on {died}"
    if len(poas) == 1:
        return f"Power of attorney {first.number} {phrase} (checked on {query.check_date})"
    return (
        f"Found {len(poas)} powers of attorney for {query.describe()}; the most recent, {first.number}, "
        f"{phrase} (checked on {query.check_date})"
    )


class EnisSystem:
    name = "ENIS"
    service_ids = SERVICE_IDS
    signing_identity = "system/ENIS"  # the PKI identity whose key signs this system's data

    async def handle(self, request: SyncRequest, ctx: HandlerContext) -> HandlerResult:
        fields: dict[str, str] = {}
        poas: list[PowerOfAttorney] = []
        check_date: date | None = None
        try:
            fields = read_fields(
                payload_root(request.payload), ns.ENIS_POA, "PoaCheckRequest", REQUEST_FIELDS, "enis"
            )
            query = parse_query(fields, ctx.now().date())
        except PayloadError as exc:
            fields = fields or exc.fields
            status, result = Status.FAILURE, exc.message_result()
            message = f"Invalid ENIS request: {exc.reason}"
            verdict: dict[str, object] = {"found": 0, "messageResult": exc.result.code, "reason": exc.reason}
        else:
            check_date = query.check_date
            poas = search(query, ctx.fixtures)
            verdict = {"search": query.mode, "found": len(poas), "checkDate": check_date.isoformat()}
            if poas:
                status, result, message = Status.SUCCESS, RESULT_OK, _found_message(query, poas, ctx.fixtures)
                verdict |= {"status": poa_status(poas[0], check_date), "notarised": poas[0].notarised}
                if principal_death(poas[0], ctx.fixtures, check_date):
                    verdict["principalDeceased"] = True
            else:
                status, result = Status.FAILURE, RESULT_NOT_FOUND
                message = f"Power of attorney not found: no record with {query.describe()}"
            verdict["messageResult"] = result.code
        payload = build_response(
            message_id=ctx.response_message_id,
            message_date=format_datetime(ctx.now()),
            request_id=fields.get("messageId") or request.info.message_id,
            result=result,
            check_date=check_date,
            poas=poas,
            fixtures=ctx.fixtures,
        )
        return HandlerResult(status, payload=payload, message=message[:250], verdict=verdict)
