"""ENIS power-of-attorney check, called directly with SyncRequests parsed from hand-written envelopes; XSD-validated."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree
from shepmsg import fields, send_message

from shlyuz.fixtures.models import DictValue, Notary, Organisation, Person, PowerOfAttorney
from shlyuz.fixtures.store import FixtureSet
from shlyuz.shep import ns
from shlyuz.shep.events import DataKind, Status, SyncResponse
from shlyuz.shep.reader import read_sync_request
from shlyuz.shep.writer import write_sync_response
from shlyuz.systems.base import HandlerContext, HandlerResult
from shlyuz.systems.enis import EnisSystem, poa_status

XSD = Path(__file__).resolve().parents[1] / "schemas" / "enis" / "enis-poa.xsd"
SCHEMA = etree.XMLSchema(etree.parse(str(XSD)))
NOW = datetime(2025, 1, 15, 10, 0, 0, tzinfo=timezone(timedelta(hours=5)))
REQUEST_TYPE = (ns.ENIS_POA, "PoaCheckRequest")

PRINCIPAL, ATTORNEY, OTHER, BIN = "900101300007", "880808400040", "701010300053", "150440012344"
DEAD = "851231400120"
KZ = DictValue(code="398", name_ru="КАЗАХСТАН", name_kz="ҚАЗАҚСТАН")


def person(iin: str, surname: str, name: str, patronymic: str | None = None, **kw) -> Person:
    g = DictValue(code="1", name_ru="Мужской", name_kz="Ер")
    return Person(
        iin=iin, surname=surname, name=name, patronymic=patronymic, birth_date=date(1990, 1, 1), gender=g,
        nationality=DictValue(code="005", name_ru="КАЗАХ", name_kz="ҚАЗАҚ"), citizenship=KZ,
        life_status=DictValue(code="0", name_ru="Нормальный", name_kz="Қалыпты"), **kw,
    )  # fmt: skip


NOTARY = Notary(name="Ахметова Гульнара Сериковна", license_number="0001234", region="г. Алматы")
APPLY = DictValue(code="SERVICE_APPLY", name_ru="Подача заявлений на госуслуги", name_kz="Мемлекеттік қызметтерге өтініш беру")


def poa(number: str, valid_from: date, valid_to: date, *, registered: date | None = None, **kw) -> PowerOfAttorney:
    base = dict(principal_iin=PRINCIPAL, attorney_iin=ATTORNEY, notarised=True, notary=NOTARY, powers=[APPLY])
    return PowerOfAttorney(
        number=number, valid_from=valid_from, valid_to=valid_to, registration_date=registered or valid_from,
        **{**base, **kw},
    )  # fmt: skip


POAS = [
    poa("ДОВ-2024-0001", date(2024, 6, 1), date(2026, 5, 31)),
    poa("ДОВ-2022-0002", date(2022, 1, 10), date(2023, 1, 9), tags=["expired"]),
    poa("ДОВ-2024-0003", date(2024, 3, 1), date(2027, 3, 1), attorney_iin=OTHER, revoked=True,
        revocation_date=date(2024, 12, 1), tags=["revoked"]),
    poa("ДОВ-2025-0004", date(2025, 2, 1), date(2026, 1, 31), registered=date(2025, 1, 10), attorney_iin=OTHER,
        tags=["not-yet-valid"]),
    poa("ДОВ-2024-0005", date(2024, 9, 1), date(2025, 8, 31), notarised=False, notary=None, attorney_iin=OTHER,
        powers=[], tags=["not-notarised"]),
    poa("ДОВ-2024-0006", date(2024, 2, 1), date(2025, 12, 31), principal_iin=None, principal_bin=BIN),
    poa("ДОВ-2024-0007", date(2024, 1, 1), date(2026, 1, 1), principal_iin=DEAD, attorney_iin=OTHER),
]  # fmt: skip
FIXTURES = FixtureSet.from_records(
    persons=[person(PRINCIPAL, "СЕМЁНОВ", "АЛЕКСЕЙ", "ПЕТРОВИЧ"), person(ATTORNEY, "ОМАРОВА", "ДИНАРА"),
             person(DEAD, "ИВАНОВ", "ПЁТР", death_date=date(2024, 10, 5))],
    organisations=[Organisation(bin=BIN, name_ru="ТОО «Синтетика»", name_kz="«Синтетика» ЖШС", kind="company",
                                registration_date=date(2015, 4, 1))],
    powers_of_attorney=POAS,
)  # fmt: skip
CTX = HandlerContext(fixtures=FIXTURES, now=lambda: NOW, session_id="{00000000-0000-4000-8000-000000000002}",
                     response_message_id="enis-resp-1")  # fmt: skip


async def ask(data: str | None, *, data_type=REQUEST_TYPE, **kw) -> HandlerResult:
    body = send_message("ENIS_POA_CHECK", data, data_type=data_type, prefix="enis", **kw)
    result = await EnisSystem().handle(read_sync_request(body, "text/xml"), CTX)
    assert result.payload is not None
    SCHEMA.assertValid(result.payload)
    assert result.message and len(result.message) <= 250
    return result


def req(**criteria: str) -> str:
    return fields(messageId="req-1", messageDate="2025-01-15T10:00:00+05:00", senderCode="ARM_TSON", **criteria)


def code(r: HandlerResult) -> str | None:
    return r.payload.findtext("messageResult/code")


def numbers(r: HandlerResult) -> list[str | None]:
    return [p.findtext("number") for p in r.payload.findall("powersOfAttorney/powerOfAttorney")]


def status_of(r: HandlerResult, i: int = 0) -> str | None:
    return r.payload.findall("powersOfAttorney/powerOfAttorney")[i].findtext("status/code")


async def test_by_number_valid_with_all_fields():
    r = await ask(req(poaNumber="ДОВ-2024-0001"))
    assert r.status is Status.SUCCESS
    assert r.message == "Power of attorney ДОВ-2024-0001 is VALID until 2026-05-31 (checked on 2025-01-15)"
    assert r.verdict == {"search": "number", "found": 1, "checkDate": "2025-01-15", "status": "VALID",
                         "notarised": True, "messageResult": "00000"}  # fmt: skip
    p = r.payload
    assert p.tag == f"{{{ns.ENIS_POA}}}PoaCheckResponse"
    assert [c.tag for c in p] == ["messageId", "messageDate", "requestId", "sender", "messageResult", "checkDate",
                                  "powersOfAttorney"]  # fmt: skip
    assert [p.findtext(t) for t in ("messageId", "messageDate", "requestId", "checkDate")] == [
        "enis-resp-1", "2025-01-15T10:00:00.000+05:00", "req-1", "2025-01-15"]
    assert [p.findtext(f"sender/{t}") for t in ("code", "nameRu", "nameKz")] == ["ENIS", "ЕНИС", "БНАЖ"]
    assert p.findtext("messageResult/nameRu") == "Сообщение успешно обработано"
    [item] = p.findall("powersOfAttorney/powerOfAttorney")
    assert [c.tag for c in item] == ["number", "status", "notarised", "registrationDate", "validFrom", "validTo",
                                     "principal", "attorney", "notary", "powers"]  # fmt: skip
    assert [item.findtext(f"status/{t}") for t in ("code", "nameRu", "nameKz")] == ["VALID", "Действительна", "Жарамды"]
    assert item.findtext("notarised") == "true"
    assert (item.findtext("validFrom"), item.findtext("validTo")) == ("2024-06-01", "2026-05-31")
    assert (item.findtext("principal/iin"), item.findtext("principal/name")) == (PRINCIPAL, "СЕМЁНОВ АЛЕКСЕЙ ПЕТРОВИЧ")
    assert (item.findtext("attorney/iin"), item.findtext("attorney/name")) == (ATTORNEY, "ОМАРОВА ДИНАРА")
    assert [item.findtext(f"notary/{t}") for t in ("name", "licenseNumber", "region")] == [
        "Ахметова Гульнара Сериковна", "0001234", "г. Алматы"]
    assert item.findtext("powers/power/code") == "SERVICE_APPLY"


async def test_expired():
    r = await ask(req(poaNumber="ДОВ-2022-0002"))
    assert r.status is Status.SUCCESS and code(r) == "00000" and status_of(r) == "EXPIRED"
    assert r.message == "Power of attorney ДОВ-2022-0002 is EXPIRED (valid to 2023-01-09) (checked on 2025-01-15)"
    assert r.verdict["status"] == "EXPIRED"


async def test_revoked_as_of_the_check_date():
    r = await ask(req(poaNumber="ДОВ-2024-0003"))
    assert r.status is Status.SUCCESS and code(r) == "00000" and status_of(r) == "REVOKED"
    assert r.message.startswith("Power of attorney ДОВ-2024-0003 is REVOKED since 2024-12-01")
    assert r.payload.findtext("powersOfAttorney/powerOfAttorney/revocationDate") == "2024-12-01"
    before = await ask(req(poaNumber="ДОВ-2024-0003", checkDate="2024-11-30"))
    assert status_of(before) == "VALID" and before.payload.findtext("checkDate") == "2024-11-30"
    on_the_day = await ask(req(poaNumber="ДОВ-2024-0003", checkDate="2024-12-01"))
    assert status_of(on_the_day) == "REVOKED"


async def test_not_yet_valid():
    r = await ask(req(poaNumber="ДОВ-2025-0004"))
    assert r.status is Status.SUCCESS and status_of(r) == "NOT_YET_VALID"
    assert "is NOT_YET_VALID (valid from 2025-02-01)" in r.message
    later = await ask(req(poaNumber="ДОВ-2025-0004", checkDate="2025-02-01"))
    assert status_of(later) == "VALID"


async def test_not_notarised_is_reported_as_such():
    r = await ask(req(poaNumber="ДОВ-2024-0005"))
    assert r.status is Status.SUCCESS and status_of(r) == "VALID"
    item = r.payload.find("powersOfAttorney/powerOfAttorney")
    assert item.findtext("notarised") == "false" and item.find("notary") is None
    assert item.find("powers") is not None and len(item.find("powers")) == 0
    assert item.findtext("attorney/name") is None  # the attorney is not in the persons fixtures
    assert "but is not notarised" in r.message and r.verdict["notarised"] is False


async def test_not_found_is_scse001_00001():
    r = await ask(req(poaNumber="ДОВ-0000-0000"))
    assert r.status is Status.FAILURE and code(r) == "00001"
    assert r.message == "Power of attorney not found: no record with number ДОВ-0000-0000"
    assert r.payload.find("powersOfAttorney") is None and r.payload.findtext("checkDate") == "2025-01-15"
    assert r.verdict == {"search": "number", "found": 0, "checkDate": "2025-01-15", "messageResult": "00001"}
    parties = await ask(req(principalIin=ATTORNEY, attorneyIin=PRINCIPAL))
    assert parties.status is Status.FAILURE and code(parties) == "00001"


async def test_by_principal_and_attorney_most_recent_first():
    r = await ask(req(principalIin=PRINCIPAL, attorneyIin=ATTORNEY))
    assert r.status is Status.SUCCESS and numbers(r) == ["ДОВ-2024-0001", "ДОВ-2022-0002"]
    assert [status_of(r, 0), status_of(r, 1)] == ["VALID", "EXPIRED"]
    assert r.message.startswith("Found 2 powers of attorney for principal IIN 900101300007 and attorney IIN "
                                "880808400040; the most recent, ДОВ-2024-0001, is VALID")  # fmt: skip
    assert r.verdict["search"] == "parties" and r.verdict["found"] == 2
    other = await ask(req(principalIin=PRINCIPAL, attorneyIin=OTHER))
    assert numbers(other) == ["ДОВ-2025-0004", "ДОВ-2024-0005", "ДОВ-2024-0003"]


async def test_by_principal_bin_names_the_organisation():
    r = await ask(req(principalBin=BIN, attorneyIin=ATTORNEY))
    assert numbers(r) == ["ДОВ-2024-0006"]
    item = r.payload.find("powersOfAttorney/powerOfAttorney")
    assert (item.findtext("principal/bin"), item.findtext("principal/name")) == (BIN, "ТОО «Синтетика»")
    assert item.find("principal/iin") is None


async def test_a_deceased_principal_is_flagged_but_the_status_is_kept():
    r = await ask(req(poaNumber="ДОВ-2024-0007"))
    assert r.status is Status.SUCCESS and status_of(r) == "VALID"
    assert r.message == ("Power of attorney ДОВ-2024-0007 is VALID until 2026-01-01; the principal died on 2024-10-05 "
                         "(checked on 2025-01-15)")  # fmt: skip
    assert r.verdict["principalDeceased"] is True
    before = await ask(req(poaNumber="ДОВ-2024-0007", checkDate="2024-10-04"))
    assert "died" not in before.message and "principalDeceased" not in before.verdict


@pytest.mark.parametrize(
    ("criteria", "reason"),
    [
        ({}, "no search criteria"),
        ({"poaNumber": "ДОВ-2024-0001", "attorneyIin": ATTORNEY}, "conflicting criteria: poaNumber and attorneyIin"),
        ({"principalIin": PRINCIPAL, "principalBin": BIN, "attorneyIin": ATTORNEY}, "principalIin and principalBin"),
        ({"principalIin": PRINCIPAL}, "(attorneyIin missing)"),
        ({"attorneyIin": ATTORNEY}, "(principalIin or principalBin missing)"),
        ({"principalIin": "900101300008", "attorneyIin": ATTORNEY}, "principalIin: IIN '900101300008' is invalid: bad checksum"),
        ({"principalBin": "150440012345", "attorneyIin": ATTORNEY}, "principalBin: BIN '150440012345' is invalid"),
        ({"principalIin": PRINCIPAL, "attorneyIin": "12345"}, "attorneyIin: IIN '12345' is invalid"),
        ({"poaNumber": "ДОВ-2024-0001", "checkDate": "15.01.2025"}, "checkDate '15.01.2025' is not an xsd:date"),
        ({"poaNumber": "ДОВ-2024-0001", "checkDate": "2025-02-30"}, "is not an xsd:date"),
    ],
)
async def test_invalid_requests_are_00002(criteria, reason):
    r = await ask(req(**criteria))
    assert r.status is Status.FAILURE and code(r) == "00002"
    assert r.message.startswith("Invalid ENIS request: ") and reason in r.message, r.message
    assert r.payload.findtext("messageResult/nameRu").startswith("Некорректный запрос: ")
    assert r.payload.find("checkDate") is None and r.payload.find("powersOfAttorney") is None
    assert r.verdict["messageResult"] == "00002" and r.verdict["found"] == 0


async def test_not_an_enis_request_is_00002():
    gbdfl = await ask(req(poaNumber="ДОВ-2024-0001"), data_type=(ns.GBDFL_MESSAGE, "Request"))
    assert code(gbdfl) == "00002" and "not a {http://poa.enis.notariat.kz/v1}PoaCheckRequest" in gbdfl.message
    empty = await ask(None)
    assert code(empty) == "00002"


def test_status_precedence_revoked_beats_dates():
    revoked_and_expired = POAS[2].model_copy(update={"valid_to": date(2024, 12, 31)})
    assert poa_status(revoked_and_expired, date(2025, 6, 1)) == "REVOKED"
    no_date = POAS[0].model_copy(update={"revoked": True})
    assert poa_status(no_date, date(2025, 1, 1)) == "REVOKED"
    assert poa_status(POAS[0], date(2026, 5, 31)) == "VALID" and poa_status(POAS[0], date(2026, 6, 1)) == "EXPIRED"


async def test_escaped_string_and_shep_round_trip():
    r = await ask(req(poaNumber="ДОВ-2024-0001"), escaped=True)
    assert r.status is Status.SUCCESS
    out = write_sync_response(SyncResponse(
        message_id="m", response_date=NOW, status=r.status, status_message=r.message, session_id=CTX.session_id,
        payload=r.payload, data_kind=DataKind.XML,
    ))  # fmt: skip
    data = etree.fromstring(out).find(".//responseData/data")
    prefix, _, local = data.get(f"{{{ns.XSI}}}type").partition(":")
    assert (data.nsmap[prefix], local) == (ns.ENIS_POA, "PoaCheckResponse")
    assert data.findtext("powersOfAttorney/powerOfAttorney/number") == "ДОВ-2024-0001"
