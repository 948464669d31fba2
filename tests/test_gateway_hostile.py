"""Malformed, hostile and out-of-contract input: each gets a SOAP fault with its own stable code, never a crash."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from conftest import GATEWAY_NOW, Shep
from shlyuz.clock import FixedClock
from shlyuz.gateway.app import build_gateway, create_app
from shlyuz.shep.responses import Fault

ENV = '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>{}</soap:Body></soap:Envelope>'
INFO = (
    "<messageId>m-1</messageId><serviceId>GBDFL_UniversalServiceSync</serviceId>"
    "<messageDate>2026-03-02T10:00:00+05:00</messageDate>"
    "<sender><senderId>shlyuz-demo</senderId><password>demo-password</password></sender>"
)
DATA = '<requestData><data><messageId>1</messageId><iin>900101300007</iin></data></requestData>'


def send_message(info: str = INFO, data: str = DATA, wrapper_ns: str = "http://bip.bee.kz/SyncChannel/v10/Types") -> str:
    return ENV.format(
        f'<ns3:SendMessage xmlns:ns3="{wrapper_ns}"><request><requestInfo>{info}</requestInfo>{data}</request></ns3:SendMessage>'
    )


async def expect_fault(shep, body, code: str, *, faultcode: str = "soap:Client", content_type="text/xml; charset=utf-8") -> Fault:
    reply = await shep.post(body, content_type=content_type)
    assert reply.status == 500, reply.body
    parsed = reply.parsed
    assert isinstance(parsed, Fault), reply.body
    assert parsed.error is not None and parsed.error.error_code == code, parsed
    assert parsed.faultcode == faultcode
    assert b"Traceback" not in reply.body and b"root:" not in reply.body
    return parsed


async def test_malformed_xml(shep):
    f = await expect_fault(shep, "<soap:Envelope><unclosed>", "MALFORMED_XML")
    assert "line 1" in f.error.error_message


async def test_empty_body(shep):
    await expect_fault(shep, b"", "EMPTY_BODY")


async def test_xxe_external_entity_is_refused_without_reading_the_file(shep):
    body = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        + send_message(INFO.replace("m-1", "&xxe;"))
    )
    f = await expect_fault(shep, body, "XML_DTD_FORBIDDEN")
    assert "root:" not in f.error.error_message


async def test_billion_laughs_is_refused(shep):
    lol = "".join(f'<!ENTITY lol{i} "{"&lol%d;" % (i - 1) * 10}">' for i in range(1, 10))
    body = f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{lol}]><r>&lol9;</r>'
    await expect_fault(shep, body, "XML_DTD_FORBIDDEN")


async def test_external_dtd_is_refused(shep):
    body = '<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">' + send_message()
    await expect_fault(shep, body, "XML_DTD_FORBIDDEN")


async def test_deeply_nested_elements_are_refused(shep):
    deep = "<a>" * 5000 + "</a>" * 5000
    await expect_fault(shep, send_message(data=f"<requestData><data>{deep}</data></requestData>"), "XML_TOO_DEEP")


async def test_deep_nesting_inside_an_escaped_string_is_refused(shep):
    deep = ("&lt;a&gt;" * 100) + ("&lt;/a&gt;" * 100)
    data = (
        '<requestData><data xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">' + deep + "</data></requestData>"
    )
    await expect_fault(shep, send_message(data=data), "XML_TOO_DEEP")


async def test_doctype_inside_an_escaped_string_is_refused(shep):
    inner = "&lt;!DOCTYPE r [&lt;!ENTITY x SYSTEM 'file:///etc/passwd'&gt;]&gt;&lt;r&gt;&amp;x;&lt;/r&gt;"
    data = (
        '<requestData><data xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">' + inner + "</data></requestData>"
    )
    await expect_fault(shep, send_message(data=data), "XML_DTD_FORBIDDEN")


@pytest.fixture
async def small_shep(settings, session_pki):
    settings.limits.max_body_bytes = 4096
    gateway = build_gateway(settings, clock=FixedClock(GATEWAY_NOW), pki=session_pki)
    async with TestClient(TestServer(create_app(gateway), host="127.0.0.1")) as client:
        yield Shep(client, gateway)


async def test_oversize_body_is_refused_by_content_length(small_shep):
    body = send_message(data="<requestData><data>" + "x" * 8000 + "</data></requestData>")
    f = await expect_fault(small_shep, body, "BODY_TOO_LARGE")
    assert "4096" in f.error.error_message


async def test_oversize_chunked_body_is_refused(small_shep):
    async def chunks():
        for _ in range(10):
            yield b"<a>" + b"x" * 1000 + b"</a>"

    resp = await small_shep.client.post("/bip-sync/", data=chunks(), headers={"Content-Type": "text/xml"})
    body = await resp.read()
    assert resp.status == 500
    assert b"<errorCode>BODY_TOO_LARGE</errorCode>" in body


async def test_soap12_envelope_gets_version_mismatch(shep):
    body = send_message().replace("http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope")
    f = await expect_fault(shep, body, "SOAP_VERSION_MISMATCH", faultcode="soap:VersionMismatch",
                           content_type="application/soap+xml; charset=utf-8")
    assert "SOAP 1.2" in f.error.error_message


async def test_wrong_content_type(shep):
    await expect_fault(shep, send_message(), "UNSUPPORTED_MEDIA_TYPE", content_type="application/json")


async def test_non_utf8_charset(shep):
    await expect_fault(shep, send_message(), "UNSUPPORTED_MEDIA_TYPE", content_type="text/xml; charset=koi8-r")


async def test_not_an_envelope(shep):
    await expect_fault(shep, "<SendMessage/>", "NOT_SOAP_ENVELOPE")


async def test_body_with_two_elements(shep):
    await expect_fault(shep, ENV.format("<a/><b/>"), "SOAP_BODY_INVALID")


async def test_envelope_without_body(shep):
    await expect_fault(
        shep, '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/></soap:Envelope>',
        "SOAP_BODY_INVALID",
    )


async def test_unknown_operation(shep):
    f = await expect_fault(shep, send_message(wrapper_ns="urn:other"), "UNKNOWN_OPERATION")
    assert "urn:other" in f.error.error_message


async def test_unknown_must_understand_header(shep):
    body = send_message().replace(
        "<soap:Body>", '<soap:Header><x:Trace xmlns:x="urn:x" soap:mustUnderstand="1"/></soap:Header><soap:Body>'
    )
    await expect_fault(shep, body, "MUST_UNDERSTAND", faultcode="soap:MustUnderstand")


@pytest.mark.parametrize(
    ("info", "needle"),
    [
        (INFO.replace("<messageId>m-1</messageId>", ""), "messageId is required"),
        (INFO.replace("<messageDate>2026-03-02T10:00:00+05:00</messageDate>", "<messageDate>yesterday</messageDate>"), "xsd:dateTime"),
        ("<serviceId>X</serviceId>" + INFO.replace("<serviceId>GBDFL_UniversalServiceSync</serviceId>", ""), "messageId is required"),
        (INFO + "<sessionId>not-a-guid</sessionId>", "braced GUID"),
        (INFO + "<properties><key>" + "k" * 31 + "</key><value>v</value></properties>", "maximum is 30"),
        (INFO + "<properties><key>k</key><value>" + "v" * 501 + "</value></properties>", "maximum is 500"),
        (INFO.replace("<messageId>m-1</messageId>", '<messageId xmlns="urn:q">m-1</messageId>'), "unqualified"),
        (INFO + "<surprise/>", "unexpected element 'surprise'"),
    ],
    ids=["missing-messageId", "bad-date", "wrong-order", "bad-guid", "long-key", "long-value", "qualified", "unknown-element"],
)
async def test_schema_invalid_request_info(shep, info, needle):
    f = await expect_fault(shep, send_message(info), "SCHEMA_VALIDATION")
    assert needle in f.error.error_message


async def test_missing_request_data(shep):
    f = await expect_fault(shep, send_message(data=""), "SCHEMA_VALIDATION")
    assert "requestData is required" in f.error.error_message


async def test_escaped_string_that_is_not_xml(shep):
    data = (
        '<requestData><data xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">&lt;open</data></requestData>'
    )
    f = await expect_fault(shep, send_message(data=data), "MALFORMED_XML")
    assert "escaped XML string" in f.error.error_message


async def test_every_fault_is_journaled_with_its_code(shep):
    await expect_fault(shep, "<broken", "MALFORMED_XML")
    records = await shep.gateway.storage.query_exchanges(__import__("shlyuz.storage.base", fromlist=["JournalQuery"]).JournalQuery())
    assert records[0].outcome == "MALFORMED_XML" and records[0].http_status == 500
    assert records[0].request == b"<broken"
