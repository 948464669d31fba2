"""ГБД ФЛ (GBD FL, ЖТ МДҚ): the state database of individuals, searched by IIN, by name + birth date, or by document.

Contract: docs/systems/gbdfl.md, schema: schemas/gbdfl/gbdfl-message.xsd. The payload shapes follow the published
JAXB-generated schemas (kz_egov.md §2.1): every element below ``Request``/``Response`` is *unqualified* (those schemas
set no ``elementFormDefault``; only the types live in the person/document/dictionaries namespaces, which never shows
on the wire). Sans-IO: :func:`parse_query`, :func:`search` and :func:`build_response` are pure; ``handle`` glues them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lxml import etree

from shlyuz.fixtures.iin import parse_bin, parse_iin
from shlyuz.fixtures.models import DictValue, Person
from shlyuz.fixtures.store import FixtureSet
from shlyuz.shep import ns
from shlyuz.shep.events import Status, SyncRequest
from shlyuz.shep.reader import payload_root
from shlyuz.shep.writer import format_datetime
from shlyuz.systems.base import HandlerContext, HandlerResult
from shlyuz.systems.dictionaries import (
    ADDRESS_REGISTERED,
    GBDFL_PARTICIPANT,
    RESULT_BAD_IIN,
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

SERVICE_IDS = ("GBDFL_UniversalServiceSync", "GBDFLUniversal_token")
REQUEST_FIELDS = (
    "messageId", "messageDate", "senderCode", "iin", "surname", "name", "patronymic",
    "birthDate", "birthDateFrom", "birthDateTo", "documentNumber", "kdpToken", "publicKey",
)  # fmt: skip
_NAME_FIELDS = ("surname", "name", "patronymic", "birthDate", "birthDateFrom", "birthDateTo")


def iin_problem(value: str, label: str = "IIN") -> str | None:
    """Why ``value`` is not a valid IIN (or BIN, ``label="BIN"``), in English, or None when it is valid."""
    try:
        (parse_bin if label == "BIN" else parse_iin)(value)
    except ValueError as exc:
        return f"{label} {value[:40]!r} is invalid: {exc}"
    return None


# --- request -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    mode: str  # "iin" | "name" | "document"
    iin: str | None = None
    surname: str | None = None
    name: str | None = None
    patronymic: str | None = None
    birth_date: date | None = None
    date_from: date | None = None
    date_to: date | None = None
    document_number: str | None = None

    def describe(self) -> str:
        if self.mode == "iin":
            return f"IIN {self.iin}"
        if self.mode == "document":
            return f"document number {self.document_number}"
        who = " ".join(x for x in (self.surname, self.name, self.patronymic) if x)
        if self.birth_date is not None:
            return f"name {who}, born {self.birth_date}"
        return f"name {who}, born {self.date_from or '…'}..{self.date_to or '…'}"


def parse_query(fields: dict[str, str]) -> Query:
    """The search a Request asks for; raises PayloadError 00002 (bad request) or 00003 (bad IIN)."""
    check_message_date(fields)
    modes = [m for m, present in (
        ("iin", "iin" in fields),
        ("surname/name/birth date", any(f in fields for f in _NAME_FIELDS)),
        ("documentNumber", "documentNumber" in fields),
    ) if present]  # fmt: skip
    if not modes:
        raise bad_request(
            "no search criteria: send iin, or surname + name with birthDate or birthDateFrom/birthDateTo, "
            "or documentNumber",
            "не заданы критерии поиска",
            fields,
        )
    if len(modes) > 1:
        raise bad_request(
            f"conflicting search criteria: {' and '.join(modes)} given; send exactly one of iin, "
            "surname + name + birth date, documentNumber",
            f"заданы несовместимые критерии поиска ({', '.join(modes)})",
            fields,
        )
    if "iin" in fields:
        problem = iin_problem(fields["iin"])
        if problem:
            raise PayloadError(RESULT_BAD_IIN, problem, f"ИИН {fields['iin'][:40]} не прошёл проверку", fields)
        return Query("iin", iin=fields["iin"])
    if "documentNumber" in fields:
        return Query("document", document_number=fields["documentNumber"])
    birth, lo, hi = (parse_date(fields, f) for f in ("birthDate", "birthDateFrom", "birthDateTo"))
    if "surname" not in fields or "name" not in fields:
        missing = " and ".join(f for f in ("surname", "name") if f not in fields)
        raise bad_request(
            f"a name search needs both surname and name ({missing} missing)",
            "для поиска по ФИО нужны фамилия и имя",
            fields,
        )
    if birth is None and lo is None and hi is None:
        raise bad_request(
            "a name search needs birthDate or a birthDateFrom/birthDateTo range",
            "для поиска по ФИО нужна дата рождения или диапазон дат",
            fields,
        )
    if birth is not None and (lo is not None or hi is not None):
        raise bad_request(
            "conflicting search criteria: birthDate and a birthDateFrom/birthDateTo range given; send one",
            "заданы одновременно дата рождения и диапазон дат",
            fields,
        )
    if lo is not None and hi is not None and lo > hi:
        raise bad_request(f"birthDateFrom {lo} is after birthDateTo {hi}", "birthDateFrom позже birthDateTo", fields)
    return Query(
        "name", surname=fields["surname"], name=fields["name"], patronymic=fields.get("patronymic"),
        birth_date=birth, date_from=lo, date_to=hi,
    )  # fmt: skip


# --- search ------------------------------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Case-insensitive, ё/е-insensitive, whitespace-normalised form of a name."""
    return " ".join(text.casefold().replace("ё", "е").split())


def _doc_key(number: str) -> str:
    return "".join(number.split()).casefold()


def search(query: Query, fixtures: FixtureSet) -> list[Person]:
    """The persons matching ``query``; name searches are ordered by birth date then IIN."""
    if query.mode == "iin":
        person = fixtures.persons.get(query.iin or "")
        return [person] if person else []
    if query.mode == "document":
        key = _doc_key(query.document_number or "")
        return [p for p in fixtures.persons.values() if any(_doc_key(d.number) == key for d in p.documents)]
    want = (fold(query.surname or ""), fold(query.name or ""), fold(query.patronymic) if query.patronymic else None)
    found = []
    for p in fixtures.persons.values():
        if (fold(p.surname), fold(p.name)) != want[:2]:
            continue
        if want[2] is not None and fold(p.patronymic or "") != want[2]:
            continue
        if query.birth_date is not None and p.birth_date != query.birth_date:
            continue
        if query.date_from is not None and p.birth_date < query.date_from:
            continue
        if query.date_to is not None and p.birth_date > query.date_to:
            continue
        found.append(p)
    return sorted(found, key=lambda p: (p.birth_date, p.iin))


# --- response ----------------------------------------------------------------------------------------------------


def _person(parent: etree._Element, p: Person) -> None:
    el = sub(parent, "person")
    sub(el, "iin", p.iin)
    for tag, value in (("surname", p.surname), ("name", p.name), ("patronymic", p.patronymic),
                       ("engFirstName", p.eng_first_name), ("engSurname", p.eng_surname),
                       ("birthDate", p.birth_date), ("deathDate", p.death_date)):  # fmt: skip
        sub_opt(el, tag, value)
    sub_dict(el, "gender", p.gender)
    sub_dict(el, "nationality", p.nationality)
    sub_dict(el, "citizenship", p.citizenship)
    sub_dict(el, "lifeStatus", p.life_status)
    # birthCertificate: the fixtures hold no birth-certificate data, so it is omitted.
    if p.death_certificate_number is not None:
        sub(sub(el, "deathCertificate"), "number", p.death_certificate_number)
    place = sub(el, "birthPlace")  # required by the schema; shlyuz knows only a free-text place
    sub_opt(place, "city", p.birth_place)
    if p.reg_address is not None:
        a = p.reg_address
        addr = sub(el, "regAddress")
        sub_dict(addr, "country", a.country)
        sub_dict(addr, "district", a.district)
        sub_dict(addr, "region", a.region)
        for tag, value in (("city", a.city), ("street", a.street), ("building", a.building),
                           ("corpus", a.corpus), ("flat", a.flat), ("beginDate", a.begin_date)):  # fmt: skip
            sub_opt(addr, tag, value)
        sub_dict(addr, "status", ADDRESS_REGISTERED)
        sub(addr, "arCode", a.ar_code)
    if p.capable_status is not None:
        c = p.capable_status
        cap = sub(el, "personCapableStatus")
        sub_dict(cap, "capableStatus", c.status)
        sub_opt(cap, "capableDate", c.capable_date)
        sub(cap, "capableNumber", c.capable_number)
        sub_dict(cap, "court", c.court)
    docs = sub(el, "documents")
    for d in p.documents:
        doc = sub(docs, "document")
        sub_dict(doc, "type", d.type)
        sub(doc, "number", d.number)
        sub_opt(doc, "series", d.series)
        sub_opt(doc, "beginDate", d.begin_date)
        sub_opt(doc, "endDate", d.end_date)
        sub_dict(doc, "issueOrganization", d.issue_organization)
        sub_dict(doc, "status", d.status)
        for tag, value in (("invalidityDate", d.invalidity_date), ("surname", p.surname), ("name", p.name),
                           ("patronymic", p.patronymic), ("birthDate", p.birth_date)):  # fmt: skip
            sub_opt(doc, tag, value)
    sub(el, "addresses")
    sub(el, "removed", "false")


def build_response(
    *,
    message_id: str,
    message_date: str,
    request_id: str,
    receiver: DictValue,
    result: DictValue,
    persons: list[Person],
) -> etree._Element:
    """``{http://message.persistence.interactive.nat}Response``. ``persons`` is omitted when empty: the published
    schema has ``persons`` minOccurs=0 but ``person`` minOccurs=1, so an empty ``<persons/>`` would be invalid."""
    root = etree.Element(ns.q(ns.GBDFL_MESSAGE, "Response"), nsmap={"ns2": ns.GBDFL_MESSAGE})
    sub(root, "messageId", message_id)
    sub(root, "messageDate", message_date)
    sub(root, "requestId", request_id)
    sub_dict(root, "sender", GBDFL_PARTICIPANT)
    sub_dict(root, "receiver", receiver)
    sub_dict(root, "messageResult", result)
    if persons:
        holder = sub(root, "persons")
        for p in persons:
            _person(holder, p)
    return root


def _found_message(query: Query, persons: list[Person]) -> str:
    n = len(persons)
    text = f"Found {n} person{'s' if n != 1 else ''} by {query.describe()}"
    if n == 1:
        p = persons[0]
        notes = []
        if p.death_date is not None or p.life_status.code == "1":
            notes.append(f"deceased {p.death_date}" if p.death_date else "deceased")
        if p.capable_status is not None:
            notes.append(f"legal capacity: {p.capable_status.status.name_ru}")
        if any(d.status.code != "00" for d in p.documents):
            notes.append("has an invalid document")
        if notes:
            text += f" ({'; '.join(notes)})"
    return text


class GbdflSystem:
    name = "GBD FL"
    service_ids = SERVICE_IDS
    signing_identity = "system/GBDFL"  # the PKI identity whose key signs this system's data

    async def handle(self, request: SyncRequest, ctx: HandlerContext) -> HandlerResult:
        fields: dict[str, str] = {}
        persons: list[Person] = []
        try:
            fields = read_fields(payload_root(request.payload), ns.GBDFL_MESSAGE, "Request", REQUEST_FIELDS, "cs")
            query = parse_query(fields)
        except PayloadError as exc:
            fields = fields or exc.fields
            status, result = Status.FAILURE, exc.message_result()
            message = f"Invalid GBD FL request: {exc.reason}"
            verdict: dict[str, object] = {"found": 0, "messageResult": exc.result.code, "reason": exc.reason}
        else:
            persons = search(query, ctx.fixtures)
            if persons:
                status, result, message = Status.SUCCESS, RESULT_OK, _found_message(query, persons)
            else:
                status, result = Status.FAILURE, RESULT_NOT_FOUND
                message = f"Person not found: no record with {query.describe()}"
            verdict = {"search": query.mode, "found": len(persons), "messageResult": result.code}
        code = fields.get("senderCode") or request.info.sender.sender_id
        sender = ctx.fixtures.senders.get(code)
        label = (sender.description if sender and sender.description else code)[:200]
        payload = build_response(
            message_id=ctx.response_message_id,
            message_date=format_datetime(ctx.now()),
            request_id=fields.get("messageId") or request.info.message_id,
            receiver=DictValue(code=code, name_ru=label, name_kz=label),
            result=result,
            persons=persons,
        )
        return HandlerResult(status, payload=payload, message=message[:250], verdict=verdict)
