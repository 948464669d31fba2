"""GBD FL handler, called directly with SyncRequests parsed from hand-written envelopes; every payload XSD-validated."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree
from shepmsg import fields, send_message

from shlyuz.fixtures.models import Address, CapableStatus, DictValue, Document, Person, Sender
from shlyuz.fixtures.store import FixtureSet
from shlyuz.shep import ns
from shlyuz.shep.events import DataKind, Status, SyncResponse
from shlyuz.shep.reader import read_sync_request
from shlyuz.shep.writer import write_sync_response
from shlyuz.systems.base import HandlerContext, HandlerResult
from shlyuz.systems.gbdfl import GbdflSystem

XSD = Path(__file__).resolve().parents[1] / "schemas" / "gbdfl" / "gbdfl-message.xsd"
SCHEMA = etree.XMLSchema(etree.parse(str(XSD)))
NOW = datetime(2025, 1, 15, 10, 0, 0, tzinfo=timezone(timedelta(hours=5)))
REQUEST_TYPE = (ns.GBDFL_MESSAGE, "Request")
SERVICE = "GBDFL_UniversalServiceSync"


def d(code: str, ru: str, kz: str | None = None) -> DictValue:
    return DictValue(code=code, name_ru=ru, name_kz=kz or ru)


MALE, FEMALE = d("1", "Мужской", "Ер"), d("2", "Женский", "Әйел")
KAZAKH, KZ = d("005", "КАЗАХ", "ҚАЗАҚ"), d("398", "КАЗАХСТАН", "ҚАЗАҚСТАН")
ALIVE, DEAD = d("0", "Нормальный", "Қалыпты"), d("1", "Умерший", "Қайтыс болған")
MVD = d("002", "МИНИСТЕРСТВО ВНУТРЕННИХ ДЕЛ РК", "ҚР ІШКІ ІСТЕР МИНИСТРЛІГІ")
VALID, UNFIT = d("00", "ДОКУМЕНТ ДЕЙСТВИТЕЛЕН"), d("07", "НЕПРИГОДНОСТЬ ДЛЯ ДАЛЬНЕЙШЕГО ИСПОЛЬЗОВАНИЯ")
PASSPORT, ID_CARD = d("001", "ПАСПОРТ РК"), d("002", "УДОСТОВЕРЕНИЕ РК")


def doc(type_: DictValue, number: str, status: DictValue = VALID, invalid_since: date | None = None) -> Document:
    return Document(
        type=type_, number=number, begin_date=date(2015, 6, 1), end_date=date(2025, 5, 31),
        issue_organization=MVD, status=status, invalidity_date=invalid_since,
    )  # fmt: skip


ADDRESS = Address(
    country=KZ, region=d("1913", "АЛМАТЫ"), district=d("1913000", "АЛМАЛИНСКИЙ РАЙОН"), city="Алматы",
    street="ул. Абая", building="10", corpus="2", flat="15", ar_code="0201300000012345", begin_date=date(2010, 3, 1),
)  # fmt: skip


def person(iin: str, surname: str, name: str, born: date, **kw) -> Person:
    base = dict(gender=MALE, nationality=KAZAKH, citizenship=KZ, life_status=ALIVE)
    return Person(iin=iin, surname=surname, name=name, birth_date=born, **{**base, **kw})


SEMENOV = person(
    "900101300007", "СЕМЁНОВ", "АЛЕКСЕЙ", date(1990, 1, 1), patronymic="ПЕТРОВИЧ", eng_surname="SEMENOV",
    eng_first_name="ALEKSEI", birth_place="г. Алматы", reg_address=ADDRESS,
    documents=[doc(PASSPORT, "N12345678"), doc(ID_CARD, "045678912")],
)  # fmt: skip
SEMENOV_2 = person("920505300017", "Семенов", "Алексей", date(1992, 5, 5), documents=[doc(ID_CARD, "045678913")])
DECEASED = person(
    "851231400120", "ИВАНОВА", "МАРИЯ", date(1985, 12, 31), gender=FEMALE, life_status=DEAD,
    death_date=date(2023, 6, 10), death_certificate_number="2301234", tags=["deceased"],
)  # fmt: skip
INCAPABLE = person(
    "000201500015", "ЖУМАБЕКОВ", "ЕРЛАН", date(2000, 2, 1), tags=["incapable"],
    capable_status=CapableStatus(
        status=d("1", "Недееспособный", "Әрекетке қабілетсіз"), capable_date=date(2021, 4, 12),
        capable_number="2-1234/2021", court=d("1913", "Алмалинский районный суд г. Алматы"),
    ),
)  # fmt: skip
INVALID_DOC = person(
    "780715400024", "СЕЙТКАЛИЕВА", "АЙГУЛЬ", date(1978, 7, 15), gender=FEMALE, tags=["invalid-document"],
    documents=[doc(ID_CARD, "034567890", UNFIT, date(2024, 2, 20))],
)  # fmt: skip
FIXTURES = FixtureSet.from_records(
    persons=[SEMENOV, SEMENOV_2, DECEASED, INCAPABLE, INVALID_DOC],
    senders=[Sender(sender_id="ARM_TSON", password="x", description="АРМ ЦОН")],
)
CTX = HandlerContext(fixtures=FIXTURES, now=lambda: NOW, session_id="{00000000-0000-4000-8000-000000000001}",
                     response_message_id="gbdfl-resp-1")  # fmt: skip


async def ask(data: str | None, *, data_type=REQUEST_TYPE, **kw) -> HandlerResult:
    body = send_message(SERVICE, data, data_type=data_type, **kw)
    result = await GbdflSystem().handle(read_sync_request(body, "text/xml"), CTX)
    assert result.payload is not None
    SCHEMA.assertValid(result.payload)
    assert result.message and len(result.message) <= 250
    return result


def req(**criteria: str) -> str:
    return fields(messageId="req-1", messageDate="2025-01-15T10:00:00+05:00", senderCode="ARM_TSON", **criteria)


def text(el: etree._Element, path: str) -> str | None:
    return el.findtext(path)


def dict_of(el: etree._Element, path: str) -> tuple[str | None, str | None, str | None]:
    return (el.findtext(f"{path}/code"), el.findtext(f"{path}/nameRu"), el.findtext(f"{path}/nameKz"))


def result_code(r: HandlerResult) -> str | None:
    return r.payload.findtext("messageResult/code")


def iins(r: HandlerResult) -> list[str | None]:
    return [p.findtext("iin") for p in r.payload.findall("persons/person")]


async def test_by_iin_found_with_all_key_fields_and_dictionaries():
    r = await ask(req(iin="900101300007"))
    assert r.status is Status.SUCCESS
    assert r.message == "Found 1 person by IIN 900101300007"
    assert r.verdict == {"search": "iin", "found": 1, "messageResult": "00000"}
    p = r.payload
    assert p.tag == f"{{{ns.GBDFL_MESSAGE}}}Response"
    assert [etree.QName(c).localname for c in p] == [
        "messageId", "messageDate", "requestId", "sender", "receiver", "messageResult", "persons"]
    assert all(etree.QName(c).namespace is None for c in p.iter() if c is not p)  # everything below is unqualified
    assert (text(p, "messageId"), text(p, "messageDate"), text(p, "requestId")) == (
        "gbdfl-resp-1", "2025-01-15T10:00:00.000+05:00", "req-1")
    assert dict_of(p, "sender") == ("GBDFL", "ГБД ФЛ", "ЖТ МДҚ")
    assert dict_of(p, "receiver") == ("ARM_TSON", "АРМ ЦОН", "АРМ ЦОН")
    assert dict_of(p, "messageResult") == ("00000", "Сообщение успешно обработано", "Хабарлама сәтті өңделді")
    [person] = p.findall("persons/person")
    assert [(c.tag, c.text) for c in person[:7]] == [
        ("iin", "900101300007"), ("surname", "СЕМЁНОВ"), ("name", "АЛЕКСЕЙ"), ("patronymic", "ПЕТРОВИЧ"),
        ("engFirstName", "ALEKSEI"), ("engSurname", "SEMENOV"), ("birthDate", "1990-01-01")]
    assert dict_of(person, "gender") == ("1", "Мужской", "Ер")
    assert dict_of(person, "nationality") == ("005", "КАЗАХ", "ҚАЗАҚ")
    assert dict_of(person, "citizenship") == ("398", "КАЗАХСТАН", "ҚАЗАҚСТАН")
    assert dict_of(person, "lifeStatus") == ("0", "Нормальный", "Қалыпты")
    assert person.find("deathDate") is None and person.find("deathCertificate") is None
    assert person.find("birthCertificate") is None and person.find("personCapableStatus") is None
    assert text(person, "birthPlace/city") == "г. Алматы"
    addr = person.find("regAddress")
    assert [c.tag for c in addr] == ["country", "district", "region", "city", "street", "building", "corpus",
                                     "flat", "beginDate", "status", "arCode"]  # fmt: skip
    assert dict_of(addr, "region") == ("1913", "АЛМАТЫ", "АЛМАТЫ")
    assert dict_of(addr, "status") == ("1", "Зарегистрирован", "Тіркелген")
    assert (text(addr, "flat"), text(addr, "arCode"), text(addr, "beginDate")) == ("15", "0201300000012345", "2010-03-01")
    docs = person.findall("documents/document")
    assert [text(x, "number") for x in docs] == ["N12345678", "045678912"]
    assert dict_of(docs[0], "type") == ("001", "ПАСПОРТ РК", "ПАСПОРТ РК")
    assert dict_of(docs[0], "status")[0] == "00" and dict_of(docs[0], "issueOrganization")[0] == "002"
    assert [text(docs[0], f) for f in ("beginDate", "endDate", "surname", "name", "patronymic", "birthDate")] == [
        "2015-06-01", "2025-05-31", "СЕМЁНОВ", "АЛЕКСЕЙ", "ПЕТРОВИЧ", "1990-01-01"]
    assert person.find("addresses") is not None and len(person.find("addresses")) == 0
    assert text(person, "removed") == "false"
    assert [c.tag for c in person][-3:] == ["documents", "addresses", "removed"]


async def test_by_name_and_birth_date_ignores_case_and_yo():
    r = await ask(req(surname="семенов", name="Алексей", birthDate="1990-01-01"))
    assert r.status is Status.SUCCESS and iins(r) == ["900101300007"]
    assert r.verdict == {"search": "name", "found": 1, "messageResult": "00000"}
    assert r.message == "Found 1 person by name семенов Алексей, born 1990-01-01"


async def test_by_name_and_date_range_returns_all_matches_by_birth_date():
    r = await ask(req(surname="СЕМЕНОВ", name="АЛЕКСЕЙ", birthDateFrom="1989-01-01", birthDateTo="1993-12-31"))
    assert r.status is Status.SUCCESS and iins(r) == ["900101300007", "920505300017"]
    assert r.message.startswith("Found 2 persons by name СЕМЕНОВ АЛЕКСЕЙ, born 1989-01-01..1993-12-31")
    narrow = await ask(req(surname="СЕМЕНОВ", name="АЛЕКСЕЙ", birthDateFrom="1991-01-01", birthDateTo="1993-12-31"))
    assert iins(narrow) == ["920505300017"]
    with_patronymic = await ask(req(surname="Семёнов", name="Алексей", patronymic="петрович", birthDateFrom="1980-01-01"))
    assert iins(with_patronymic) == ["900101300007"]


async def test_by_document_number():
    r = await ask(req(documentNumber="045678912"))
    assert r.status is Status.SUCCESS and iins(r) == ["900101300007"]
    assert r.verdict == {"search": "document", "found": 1, "messageResult": "00000"}
    assert r.message == "Found 1 person by document number 045678912"


async def test_not_found_is_scse001_with_00001_and_no_persons():
    r = await ask(req(iin="950303300034"))
    assert r.status is Status.FAILURE
    assert r.message == "Person not found: no record with IIN 950303300034"
    assert r.verdict == {"search": "iin", "found": 0, "messageResult": "00001"}
    assert dict_of(r.payload, "messageResult") == ("00001", "Данные не найдены", "Деректер табылмады")
    assert r.payload.find("persons") is None
    by_name = await ask(req(surname="СЕМЕНОВ", name="АЛЕКСЕЙ", birthDate="1991-01-01"))
    assert by_name.status is Status.FAILURE and result_code(by_name) == "00001"


async def test_invalid_checksum_is_00003_naming_the_reason():
    r = await ask(req(iin="900101300008"))
    assert r.status is Status.FAILURE
    assert result_code(r) == "00003"
    assert r.payload.findtext("messageResult/nameRu") == "Некорректный ИИН: ИИН 900101300008 не прошёл проверку"
    assert "checksum" in r.message and "expected 7" in r.message and "900101300008" in r.message
    assert r.verdict["messageResult"] == "00003" and r.verdict["found"] == 0
    malformed = await ask(req(iin="9001013000"))
    assert result_code(malformed) == "00003" and "12 digits" in malformed.message


@pytest.mark.parametrize(
    ("criteria", "reason"),
    [
        ({"surname": "СЕМЕНОВ", "name": "АЛЕКСЕЙ"}, "needs birthDate or a birthDateFrom/birthDateTo range"),
        ({}, "no search criteria"),
        ({"iin": "900101300007", "documentNumber": "045678912"}, "conflicting search criteria"),
        ({"surname": "СЕМЕНОВ", "birthDate": "1990-01-01"}, "needs both surname and name (name missing)"),
        ({"surname": "С", "name": "А", "birthDate": "1990-01-01", "birthDateFrom": "1989-01-01"}, "conflicting"),
        ({"surname": "С", "name": "А", "birthDate": "01.01.1990"}, "is not an xsd:date"),
        ({"surname": "С", "name": "А", "birthDateFrom": "1991-01-01", "birthDateTo": "1990-01-01"}, "is after"),
    ],
)
async def test_invalid_requests_are_00002(criteria, reason):
    r = await ask(req(**criteria))
    assert r.status is Status.FAILURE and result_code(r) == "00002"
    assert r.message.startswith("Invalid GBD FL request: ") and reason in r.message
    assert r.payload.findtext("messageResult/nameRu").startswith("Некорректный запрос: ")
    assert r.payload.findtext("requestId") == "req-1"


async def test_payload_that_is_not_a_request_is_00002():
    wrong_type = await ask(req(iin="900101300007"), data_type=(ns.GBDFL_MESSAGE, "Response"))
    assert result_code(wrong_type) == "00002" and "not a {http://message" in wrong_type.message
    wrong_ns = await ask(req(iin="900101300007"), data_type=("urn:other", "Request"))
    assert result_code(wrong_ns) == "00002"
    empty = await ask(None, message_id="shep-42")
    assert empty.status is Status.FAILURE and result_code(empty) == "00002" and "empty" in empty.message
    assert empty.payload.findtext("requestId") == "shep-42"  # falls back to the SHEP messageId
    assert dict_of(empty.payload, "receiver")[0] == "shlyuz-demo"  # and to the SHEP senderId
    unknown = await ask(req(iin="900101300007") + "<foo>1</foo>")
    assert result_code(unknown) == "00002" and "'foo'" in unknown.message


async def test_deceased_person_has_life_status_1_and_death_date():
    r = await ask(req(iin="851231400120"))
    assert r.status is Status.SUCCESS and result_code(r) == "00000"
    person = r.payload.find("persons/person")
    assert dict_of(person, "lifeStatus")[0] == "1"
    assert text(person, "deathDate") == "2023-06-10"
    assert text(person, "deathCertificate/number") == "2301234"
    assert "deceased 2023-06-10" in r.message


async def test_incapable_person_has_capable_status():
    r = await ask(req(iin="000201500015"))
    assert r.status is Status.SUCCESS
    cap = r.payload.find("persons/person/personCapableStatus")
    assert [c.tag for c in cap] == ["capableStatus", "capableDate", "capableNumber", "court"]
    assert dict_of(cap, "capableStatus") == ("1", "Недееспособный", "Әрекетке қабілетсіз")
    assert (text(cap, "capableDate"), text(cap, "capableNumber")) == ("2021-04-12", "2-1234/2021")
    assert text(cap, "court/code") == "1913"
    assert "legal capacity: Недееспособный" in r.message


async def test_invalid_document_has_status_07_and_invalidity_date():
    r = await ask(req(documentNumber="034567890"))
    assert r.status is Status.SUCCESS and iins(r) == ["780715400024"]
    document = r.payload.find("persons/person/documents/document")
    assert dict_of(document, "status") == ("07", "НЕПРИГОДНОСТЬ ДЛЯ ДАЛЬНЕЙШЕГО ИСПОЛЬЗОВАНИЯ",
                                           "НЕПРИГОДНОСТЬ ДЛЯ ДАЛЬНЕЙШЕГО ИСПОЛЬЗОВАНИЯ")  # fmt: skip
    assert text(document, "invalidityDate") == "2024-02-20"
    assert "has an invalid document" in r.message


async def test_escaped_string_and_qualified_fields_are_accepted():
    escaped = await ask(req(iin="900101300007"), escaped=True)
    assert escaped.status is Status.SUCCESS and iins(escaped) == ["900101300007"]
    qualified = '<cs:iin>900101300007</cs:iin><cs:messageId>q-1</cs:messageId>'
    r = await ask(qualified)
    assert r.status is Status.SUCCESS and r.payload.findtext("requestId") == "q-1"
    wrapped = await ask(f'<cs:Request xmlns:cs="{ns.GBDFL_MESSAGE}">{req(iin="900101300007")}</cs:Request>',
                        data_type=None)  # fmt: skip
    assert wrapped.status is Status.SUCCESS
    untyped = await ask("<iin>900101300007</iin>", data_type=None)  # a plain <data> without xsi:type is tolerated
    assert untyped.status is Status.SUCCESS
    signed = await ask(req(iin="900101300007") + f'<ds:Signature xmlns:ds="{ns.DS}"><ds:SignedInfo/></ds:Signature>')
    assert signed.status is Status.SUCCESS  # an enveloped business-data signature is not a field


async def test_serviceid_token_variant_is_served_too():
    system = GbdflSystem()
    assert system.service_ids == ("GBDFL_UniversalServiceSync", "GBDFLUniversal_token")
    body = send_message("GBDFLUniversal_token", req(iin="900101300007"), data_type=REQUEST_TYPE)
    assert (await system.handle(read_sync_request(body, "text/xml"), CTX)).status is Status.SUCCESS


async def test_shep_round_trip_writes_data_with_xsi_type_response():
    r = await ask(req(iin="900101300007"))
    out = write_sync_response(SyncResponse(
        message_id="m", response_date=NOW, status=r.status, status_message=r.message, session_id=CTX.session_id,
        payload=r.payload, data_kind=DataKind.XML,
    ))  # fmt: skip
    root = etree.fromstring(out)
    data = root.find(".//responseData/data")
    prefix = data.get(f"{{{ns.XSI}}}type").split(":")[0]
    assert data.nsmap[prefix] == ns.GBDFL_MESSAGE and data.get(f"{{{ns.XSI}}}type").endswith(":Response")
    assert data.findtext("persons/person/iin") == "900101300007"
    assert root.findtext(".//status/code") == "SCSS001"
    # The data element, retyped as the payload root, is valid against the payload schema.
    data.tag = f"{{{ns.GBDFL_MESSAGE}}}Response"
    SCHEMA.assertValid(data)
    # And the whole SOAP body is valid against the official SHEP v10 XSDs, xsi:type resolving to our Response.
    from xsdcheck import official_available, validate_sync_body

    if not official_available():
        pytest.skip("the official SHEP v10 XSD set is not available")
    validate_sync_body(out, extra_xsds=[XSD])
