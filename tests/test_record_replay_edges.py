"""Record and replay at the edges: hostile recordings refused with the line and the reason; an unreachable, slow,
garbage or oversized upstream answered with a precise UPSTREAM_* fault (and journaled); the comparison's rules
(namespaces by URI, masks, escaped data, XPaths); the published JSON Schema."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from pathlib import Path

import pytest
from aiohttp import web
from conftest import GATEWAY_NOW, REPO

from shlyuz.cli import main
from shlyuz.client import SendMessage, payload, send
from shlyuz.clock import FixedClock
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.replay import format as fmt
from shlyuz.replay.format import RecordingError, read_recording
from shlyuz.replay.proxy import RecordConfig, RecordProxy, create_record_app
from shlyuz.replay.xmldiff import Mask, compare_bodies
from shlyuz.shep import ns
from shlyuz.storage.base import JournalQuery
from shlyuz.storage.sqlite import SqliteStorage
from shlyuz.xml.safe import XmlLimits

DEMO_IINS_APPLICANT, DEMO_IINS_ATTORNEY = DEMO_IINS["applicant"], DEMO_IINS["attorney"]
HEADER = {"type": "header", "format": "shlyuz-recording", "formatVersion": 1, "createdAt": "2026-01-15T10:00:00+05:00",
          "generator": "test", "provenance": {"kind": "record", "upstream": "http://127.0.0.1:1"}}  # fmt: skip
EXCHANGE = {"type": "exchange", "seq": 1, "endpoint": "/bip-sync/", "request": {"contentType": "text/xml", "body": "<a/>"},
            "response": {"status": 200, "body": "<b/>"}}  # fmt: skip


def jsonl(*items) -> io.BytesIO:
    return io.BytesIO("".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items).encode())


# -- hostile recordings ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ((HEADER, "{not json"), "line 2: not JSON: Expecting property name enclosed in double quotes at column 2"),
        (({**HEADER, "formatVersion": 2}, EXCHANGE),
         "line 1: formatVersion 2 is not supported: this shlyuz reads formatVersion 1"),
        (({**HEADER, "format": "har"},), "line 1: format 'har' is not 'shlyuz-recording'"),
        ((EXCHANGE,), "line 1: the first line must be the header (type 'header'), found type 'exchange'"),
        ((HEADER, [1, 2]), "line 2: a line must be a JSON object, this one is a list"),
        ((HEADER, {**EXCHANGE, "seq": 0}), "line 2: bad exchange: seq: Input should be greater than or equal to 1"),
        ((HEADER, {**EXCHANGE, "response": {"status": 200}}), "line 2: bad exchange: response.body: Field required"),
        ((HEADER, {**EXCHANGE, "surprise": 1}), "line 2: bad exchange: surprise: Extra inputs are not permitted"),
        ((HEADER, {**EXCHANGE, "request": {"body": "***", "bodyEncoding": "base64"}}),
         "line 2: a body declared base64 is not base64"),
        ((HEADER, "[" * 100_000 + "]" * 100_000), "line 2: not JSON this reader accepts: nested too deeply"),
        ((), "the recording is empty: it needs a header line"),
        ((HEADER, {**EXCHANGE, "endpoint": "@evil.example/x"}),
         "line 2: bad exchange: endpoint: String should match pattern '^/[^\\s#]*$'"),
    ],
)
def test_hostile_recordings_are_refused_with_the_line_and_the_reason(lines, message):
    with pytest.raises(RecordingError) as info:
        read_recording(jsonl(*lines))
    assert str(info.value) == message


def test_an_oversized_line_is_refused_before_it_is_parsed():
    big = {**EXCHANGE, "response": {"status": 200, "body": "x" * 5000}}
    with pytest.raises(RecordingError, match=r"^line 3: the line is longer than the cap of 4096 bytes$"):
        read_recording(jsonl(HEADER, EXCHANGE, big), max_line_bytes=4096)


def test_non_utf8_lines_are_refused():
    with pytest.raises(RecordingError, match=r"^line 2: not UTF-8 \(byte 0\)$"):
        read_recording(io.BytesIO(json.dumps(HEADER).encode() + b"\n\xff\xfe\n"))


def test_the_replay_command_exits_2_with_the_files_line_and_reason(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**HEADER, "formatVersion": 99}) + "\n")
    assert main(["replay", str(bad), "--against", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err == f"shlyuz replay: {bad}: line 1: formatVersion 99 is not supported: this shlyuz reads formatVersion 1\n"
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(HEADER) + "\n")
    assert main(["replay", str(good), "--mask", "//[", "--against", "http://127.0.0.1:9"]) == 2
    assert "mask '//[' is not a valid XPath" in capsys.readouterr().err


def test_bodies_that_are_not_utf8_round_trip_as_base64():
    msg = fmt.Message.of(b"\xff<a/>", "text/xml")
    assert msg.body_encoding == "base64" and msg.raw() == b"\xff<a/>"


# -- upstream failures -----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def proxy_to(app_client, tmp_path: Path, upstream: str, **kw):
    db = tmp_path / "rec.db"
    proxy = RecordProxy(RecordConfig(upstream=upstream, **kw), storage=SqliteStorage(db), clock=FixedClock(GATEWAY_NOW))
    client = await app_client(create_record_app(proxy))
    return str(client.make_url("/bip-sync/")), db


async def journaled(db: Path):
    storage = SqliteStorage(db)
    await storage.open()
    try:
        return await storage.query_exchanges(JournalQuery(limit=10))
    finally:
        await storage.close()


def message() -> bytes:
    return SendMessage("GBDFL_UniversalServiceSync", payload(ns.GBDFL_MESSAGE, "Request", {"iin": "900101300017"})).to_bytes()


async def test_unreachable_upstream_is_answered_upstream_unavailable_and_journaled(app_client, tmp_path):
    url, db = await proxy_to(app_client, tmp_path, f"http://127.0.0.1:{free_port()}")
    reply = await send(url, message())
    assert reply.http_status == 500
    err = reply.parsed.error
    assert err.error_code == "UPSTREAM_UNAVAILABLE" and "is unreachable: ClientConnectorError" in err.error_message
    [row] = await journaled(db)
    assert row.outcome == "UPSTREAM_UNAVAILABLE" and row.verdicts["recording"]["error"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert row.service_id == "GBDFL_UniversalServiceSync" and row.request is not None


async def upstream_app(app_client, handler) -> str:
    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    client = await app_client(app)
    return str(client.make_url("")).rstrip("/")


async def test_a_slow_upstream_is_answered_upstream_timeout(app_client, tmp_path):
    release = asyncio.Event()

    async def stuck(request):
        await release.wait()  # never set while the proxy waits: its timeout decides
        return web.Response(text="late")

    url, db = await proxy_to(app_client, tmp_path, await upstream_app(app_client, stuck), timeout=0.2)
    reply = await send(url, message())
    release.set()
    assert reply.parsed.error.error_code == "UPSTREAM_TIMEOUT"
    assert reply.parsed.error.error_message.endswith("did not answer within 0.2 s")
    assert (await journaled(db))[0].outcome == "UPSTREAM_TIMEOUT"


@pytest.mark.parametrize(
    ("status", "body", "code", "says"),
    [
        (200, b"hello", "UPSTREAM_BAD_RESPONSE", "answered HTTP 200 with a body that is not a SyncChannel reply: MALFORMED_XML"),
        (200, b'<!DOCTYPE x [<!ENTITY a "b">]><x/>', "UPSTREAM_BAD_RESPONSE", "XML_DTD_FORBIDDEN"),
        (200, b"<html><body>proxy error</body></html>", "UPSTREAM_BAD_RESPONSE", "NOT_SOAP_ENVELOPE"),
        (503, b"busy", "UPSTREAM_UNAVAILABLE", "answered HTTP 503"),
        (200, b"<x>" + b"a" * 5000 + b"</x>", "UPSTREAM_RESPONSE_TOO_LARGE", "the cap is 4096 bytes"),
    ],
)
async def test_garbage_from_the_upstream_is_answered_with_a_precise_fault(app_client, tmp_path, status, body, code, says):
    async def garbage(request):
        await request.read()
        return web.Response(body=body, status=status, content_type="text/xml")

    url, db = await proxy_to(app_client, tmp_path, await upstream_app(app_client, garbage), max_body_bytes=4096,
                             limits=XmlLimits(max_bytes=4096))  # fmt: skip
    reply = await send(url, message())
    assert reply.http_status == 500
    assert reply.parsed.error.error_code == code and says in reply.parsed.error.error_message
    [row] = await journaled(db)
    assert row.outcome == code and row.verdicts["recording"]["httpStatus"] == status


async def test_an_oversized_request_is_refused_by_the_proxy_without_forwarding(app_client, tmp_path):
    calls = []

    async def upstream(request):
        calls.append(1)
        return web.Response(text="unused")

    url, _ = await proxy_to(app_client, tmp_path, await upstream_app(app_client, upstream), max_body_bytes=2048)
    reply = await send(url, message() + b" " * 4096)
    assert reply.parsed.error.error_code == "BODY_TOO_LARGE" and calls == []


# -- the comparison --------------------------------------------------------------------------------------------------

REPLY = """<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<ns2:SendMessageResponse xmlns:ns2="http://bip.bee.kz/SyncChannel/v10/Types"><response><responseInfo>
<messageId>{mid}</messageId><correlationId>{corr}</correlationId><responseDate>{date}</responseDate>
<status><code>SCSS001</code><message>ok</message></status></responseInfo><responseData>{data}</responseData>
</response></ns2:SendMessageResponse></soap:Body></soap:Envelope>"""


def reply(mid="m1", corr="req-1", date="2026-01-15T10:00:00.000+05:00", data="") -> bytes:
    return REPLY.format(mid=mid, corr=corr, date=date, data=data).encode()


def test_prefixes_and_attribute_order_do_not_matter_namespace_uris_do():
    a = reply(data='<data xmlns:p="urn:x" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="p:T" b="1" c="2"><p:v>1</p:v></data>')
    b = reply(data='<data xmlns:q="urn:x" xmlns:i="http://www.w3.org/2001/XMLSchema-instance" c="2" b="1" i:type="q:T"><q:v>1</q:v></data>')
    assert compare_bodies(a, b) == ([], {})
    c = reply(data='<data xmlns:p="urn:y"><p:v>1</p:v></data>')
    found, namespaces = compare_bodies(reply(data='<data xmlns:p="urn:x"><p:v>1</p:v></data>'), c)
    assert [str(d) for d in found] == [
        "/soap:Envelope/soap:Body/sync:SendMessageResponse/response/responseData/data/p:v: expected '<p:v>1</p:v>', got nothing",
        "/soap:Envelope/soap:Body/sync:SendMessageResponse/response/responseData/data/ns1:v: expected nothing, got '<p:v>1</p:v>'",
    ]
    assert namespaces["p"] == "urn:x" and namespaces["ns1"] == "urn:y"


def test_volatile_fields_are_masked_and_a_derived_correlation_id_is_mapped_back():
    recorded = reply(mid="m1", corr="req-1")
    actual = reply(mid="m2", corr="req-2", date="2027-02-02T00:00:00.000+05:00")
    assert compare_bodies(recorded, actual, substitutions={"req-2": "req-1"}) == ([], {})
    found, _ = compare_bodies(recorded, actual)  # without the mapping the correlationId differs
    assert [d.xpath.rsplit("/", 2)[-2] for d in found] == ["correlationId"]


def test_user_masks_with_a_namespace_map_and_escaped_data_compared_as_xml():
    def escaped(iin, when):
        inner = f'&lt;cs:Request xmlns:cs="urn:gbd"&gt;&lt;iin&gt;{iin}&lt;/iin&gt;&lt;at&gt;{when}&lt;/at&gt;&lt;/cs:Request&gt;'
        return reply(data=f'<data xmlns:xs="{ns.XS}" xmlns:xsi="{ns.XSI}" xsi:type="xs:string">{inner}</data>')

    found, _ = compare_bodies(escaped("1", "a"), escaped("2", "b"))
    # the escaped document is compared as XML, named with its own prefix
    assert [d.xpath.split("/data/")[1] for d in found] == ["cs:Request/iin/text()", "cs:Request/at/text()"]
    from shlyuz.replay.xmldiff import RESPONSE_MASKS

    masks = (*RESPONSE_MASKS, Mask("//g:Request/at", {"g": "urn:gbd"}))
    found, _ = compare_bodies(escaped("1", "a"), escaped("1", "b"), masks)
    assert found == []


def test_a_non_xml_reply_is_reported_as_such():
    found, _ = compare_bodies(reply(), b"<<garbage")
    assert found[0].xpath == "body" and "not XML the safe parser accepts: MALFORMED_XML" in found[0].actual


# -- the published schema ----------------------------------------------------------------------------------------------


def test_the_published_schema_is_the_models_and_validates_a_real_recording_line():
    import jsonschema

    path = REPO / "schemas" / "replay" / "recording.schema.json"
    published = json.loads(path.read_text())
    assert published == json.loads(json.dumps(fmt.json_schema()))  # regenerate: see docs/record-replay.md
    jsonschema.Draft202012Validator(published).validate(HEADER)
    jsonschema.Draft202012Validator(published).validate(EXCHANGE)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(published).validate({**EXCHANGE, "seq": "one"})


# -- re-signing ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("escaped", [False, True])
def test_refresh_renews_the_identifiers_and_both_signatures(session_pki, escaped):
    from shlyuz.dsig.enveloped import verify_enveloped
    from shlyuz.dsig.signer import signer_for
    from shlyuz.dsig.wsse import verify_envelope
    from shlyuz.replay.refresh import refresh_request
    from shlyuz.replay.signing import message_facts
    from shlyuz.shep.reader import payload_root, read_sync_request
    from shlyuz.xml.safe import parse

    applicant = f"person/{DEMO_IINS_APPLICANT}/sign"
    other = f"person/{DEMO_IINS_ATTORNEY}/sign"
    signer = signer_for(session_pki, applicant)
    msg = SendMessage("GBDFL_UniversalServiceSync", payload(ns.GBDFL_MESSAGE, "Request", {"iin": DEMO_IINS_APPLICANT}),
                      escaped=escaped, wsse_signer=signer, data_signer=signer, message_id="old-id")  # fmt: skip
    body = msg.to_bytes()
    wsse, data = message_facts(body)
    assert wsse.serial == data.serial == f"{signer.cert.serial_number:x}" and wsse.purpose == "sign"
    fresh = refresh_request(body, now=GATEWAY_NOW, wsse_signer=signer_for(session_pki, other),
                            data_signer=signer_for(session_pki, other))  # fmt: skip
    assert fresh.resigned == {"wsse": other, "data": other}
    assert fresh.substitutions == {fresh.message_id: "old-id"}
    request = read_sync_request(fresh.body, "text/xml")
    assert request.info.message_id == fresh.message_id and request.info.message_date == GATEWAY_NOW
    assert verify_envelope(parse(fresh.body)).certificate == session_pki.identity(other).cert
    assert verify_enveloped(payload_root(request.payload)).certificate == session_pki.identity(other).cert


async def test_wsdl_through_the_proxy_names_the_proxy(app_client, tmp_path, session_pki):
    from shlyuz.config import load_settings
    from shlyuz.gateway.app import build_gateway, create_app

    gw = build_gateway(load_settings(data_dir=tmp_path / "up"), clock=FixedClock(GATEWAY_NOW), pki=session_pki)
    upstream = str((await app_client(create_app(gw))).make_url("")).rstrip("/")
    url, db = await proxy_to(app_client, tmp_path, upstream)
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url + "?wsdl") as resp:
        wsdl = await resp.read()
    assert resp.status == 200 and f'location="{url}"'.encode() in wsdl
    assert await journaled(db) == []  # GETs are not journaled
