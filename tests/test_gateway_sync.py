"""End-to-end SyncChannel exchanges through the HTTP gateway: exact outcomes, every reply XSD-validated."""

from __future__ import annotations

from lxml import etree

from shlyuz.client import SendMessage, payload
from shlyuz.fixtures.generate import DEMO_IINS, DEMO_POAS
from shlyuz.shep import ns
from shlyuz.shep.events import DataKind, Status, SyncResponse
from shlyuz.shep.responses import Fault

GBDFL = "GBDFL_UniversalServiceSync"
P = f"{{{ns.GBDFL_PERSON}}}"


def gbdfl(**fields: str) -> etree._Element:
    return payload(ns.GBDFL_MESSAGE, "Request", {"messageId": "1", "senderCode": "shlyuz-demo", **fields})


def persons(resp: SyncResponse) -> list[etree._Element]:
    assert resp.payload is not None
    return [el for el in resp.payload.iter() if etree.QName(el).localname == "person"]


def field(person: etree._Element, name: str) -> str | None:
    for child in person:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return child.text
    return None


def message_result(resp: SyncResponse) -> str:
    assert resp.payload is not None
    mr = next(el for el in resp.payload if etree.QName(el).localname == "messageResult")
    return next(c.text for c in mr if etree.QName(c).localname == "code")


async def ok(shep, msg: SendMessage) -> SyncResponse:
    reply = await shep.post(msg.to_bytes())
    assert reply.status == 200, reply.body
    parsed = reply.parsed
    assert isinstance(parsed, SyncResponse)
    return parsed


async def fault(shep, body: bytes | str, code: str, content_type: str = "text/xml; charset=utf-8") -> Fault:
    reply = await shep.post(body, content_type=content_type)
    assert reply.status == 500, reply.body
    assert reply.headers["Content-Type"].startswith("text/xml")
    parsed = reply.parsed
    assert isinstance(parsed, Fault)
    assert parsed.error is not None and parsed.error.error_code == code, parsed
    assert b"Traceback" not in reply.body
    return parsed


async def test_person_by_iin_succeeds_with_the_person(shep):
    iin = DEMO_IINS["applicant"]
    msg = SendMessage(GBDFL, gbdfl(iin=iin), correlation_id="corr-42")
    resp = await ok(shep, msg)
    assert resp.status is Status.SUCCESS
    assert resp.status_message == "Message has been processed successfully" or resp.status_message
    assert resp.correlation_id == "corr-42"
    assert resp.message_id and resp.message_id != msg.message_id
    assert resp.session_id and resp.session_id.startswith("{") and resp.session_id.endswith("}")
    assert resp.response_date.utcoffset().total_seconds() == 5 * 3600
    assert message_result(resp) == "00000"
    [person] = persons(resp)
    expected = shep.gateway.fixtures.persons[iin]
    assert field(person, "iin") == iin
    assert field(person, "surname") == expected.surname
    assert field(person, "birthDate") == expected.birth_date.isoformat()


async def test_person_by_name_and_birth_date(shep):
    p = shep.gateway.fixtures.persons[DEMO_IINS["applicant"]]
    msg = SendMessage(GBDFL, gbdfl(surname=p.surname, name=p.name, birthDate=p.birth_date.isoformat()))
    resp = await ok(shep, msg)
    assert resp.status is Status.SUCCESS
    assert DEMO_IINS["applicant"] in [field(x, "iin") for x in persons(resp)]


async def test_person_by_document_number(shep):
    p = shep.gateway.fixtures.persons[DEMO_IINS["applicant"]]
    resp = await ok(shep, SendMessage(GBDFL, gbdfl(documentNumber=p.documents[0].number)))
    assert resp.status is Status.SUCCESS
    assert [field(x, "iin") for x in persons(resp)] == [p.iin]


async def test_person_not_found_is_scse001_with_message_result_00001(shep):
    resp = await ok(shep, SendMessage(GBDFL, gbdfl(iin="000201500015")))
    assert "000201500015" not in shep.gateway.fixtures.persons
    assert resp.status is Status.FAILURE
    assert message_result(resp) == "00001"
    assert persons(resp) == []


async def test_invalid_iin_checksum_is_scse001_with_message_result_00003(shep):
    resp = await ok(shep, SendMessage(GBDFL, gbdfl(iin="900101300008")))
    assert resp.status is Status.FAILURE
    assert message_result(resp) == "00003"
    assert "checksum" in resp.status_message.lower()


async def test_escaped_string_data_is_answered_in_kind(shep):
    iin = DEMO_IINS["applicant"]
    msg = SendMessage(GBDFL, gbdfl(iin=iin), escaped=True)
    assert b"xsi:type=\"xs:string\"" in msg.to_bytes() and b"&lt;" in msg.to_bytes()
    reply = await shep.post(msg.to_bytes())
    resp = reply.parsed
    assert resp.status is Status.SUCCESS and resp.data_kind is DataKind.STRING
    assert b'xsi:type="xs:string"' in reply.body
    assert [field(x, "iin") for x in persons(resp)] == [iin]


async def test_soap_plus_xml_content_type_is_accepted(shep):
    msg = SendMessage(GBDFL, gbdfl(iin=DEMO_IINS["applicant"]))
    reply = await shep.post(msg.to_bytes(), content_type="application/soap+xml; charset=utf-8")
    assert reply.status == 200 and reply.parsed.status is Status.SUCCESS


async def test_enis_poa_check_valid(shep):
    number = DEMO_POAS["valid"]
    body = payload(ns.ENIS_POA, "PoaCheckRequest", {"messageId": "1", "senderCode": "x", "poaNumber": number})
    resp = await ok(shep, SendMessage("ENIS_POA_CHECK", body))
    assert resp.status is Status.SUCCESS
    assert number in etree.tostring(resp.payload, encoding="unicode")


async def test_unknown_service_id(shep):
    f = await fault(shep, SendMessage("NO_SUCH_SERVICE", gbdfl(iin="900101300007")).to_bytes(), "SERVICE_NOT_FOUND")
    assert "NO_SUCH_SERVICE" in f.error.error_message
    assert f.faultcode == "soap:Client"


async def test_unknown_sender(shep):
    msg = SendMessage(GBDFL, gbdfl(iin="900101300007"), sender_id="nobody", password="x")
    await fault(shep, msg.to_bytes(), "SENDER_UNKNOWN")


async def test_wrong_password(shep):
    msg = SendMessage(GBDFL, gbdfl(iin="900101300007"), password="wrong")
    f = await fault(shep, msg.to_bytes(), "AUTH_FAILED")
    assert "wrong password" in f.error.error_message


async def test_missing_password(shep):
    msg = SendMessage(GBDFL, gbdfl(iin="900101300007"), password=None)
    f = await fault(shep, msg.to_bytes(), "AUTH_FAILED")
    assert "missing" in f.error.error_message


async def test_sha256_password_is_accepted(shep):
    import hashlib

    msg = SendMessage(GBDFL, gbdfl(iin=DEMO_IINS["applicant"]), password=hashlib.sha256(b"demo-password").hexdigest())
    assert (await ok(shep, msg)).status is Status.SUCCESS


async def test_sender_not_allowed(shep):
    msg = SendMessage(GBDFL, gbdfl(iin="900101300007"), sender_id="ENIS_ONLY", password="enis-only-password")
    f = await fault(shep, msg.to_bytes(), "SERVICE_NOT_ALLOWED")
    assert "ENIS_ONLY" in f.error.error_message and GBDFL in f.error.error_message


async def test_fault_carries_session_id_and_kazakh_time(shep):
    f = await fault(shep, SendMessage("NOPE", None).to_bytes(), "SERVICE_NOT_FOUND")
    assert f.error.session_id.startswith("{")
    assert f.error.error_date.utcoffset().total_seconds() == 5 * 3600
