"""The web console (docs/console.md): pages and static files under /ui/, the live journal stream, an entry explained,
the services' diagrams, a chain run's sequence diagram, the fixtures endpoints, and 400s for bad parameters."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC

import pytest
from lxml import etree

from shlyuz.client import SendMessage, payload
from shlyuz.console.web import STATIC
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.shep import ns

SVG = "{http://www.w3.org/2000/svg}"
PAGES = ["index.html", "journal.html", "chains.html", "services.html", "fixtures.html", "session.html"]
ASSETS = {"api.js": "text/javascript", "console.css": "text/css", "journal.js": "text/javascript",
          "chains.js": "text/javascript", "services.js": "text/javascript", "fixtures.js": "text/javascript",
          "session.js": "text/javascript", "index.js": "text/javascript"}  # fmt: skip


def gbdfl_msg(iin: str, **kw) -> SendMessage:
    body = payload(ns.GBDFL_MESSAGE, "Request", {"messageId": "1", "senderCode": "t", "iin": iin})
    return SendMessage("GBDFL_UniversalServiceSync", body, **kw)


async def read_events(resp, want: str, *, limit: int = 200) -> dict:
    """Read server-sent events until one named ``want`` arrives (at most ``limit`` lines); return its data."""
    name = None
    for _ in range(limit):
        line = (await asyncio.wait_for(resp.content.readline(), 20)).decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: ") and name == want:
            return json.loads(line[6:])
        elif line == "":
            name = None
    raise AssertionError(f"no {want!r} event in {limit} lines")


async def collect_events(resp, until: str) -> list[tuple[str, dict]]:
    """Every event up to and including the first one named ``until``."""
    events, name = [], None
    for _ in range(2000):
        line = (await asyncio.wait_for(resp.content.readline(), 20)).decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
            if name == until:
                return events
    raise AssertionError(f"no {until!r} event")


@pytest.mark.parametrize("page", PAGES)
async def test_each_page_is_served_as_html_with_the_shell(shep, page):
    resp = await shep.client.get(f"/ui/{page}" if page != "index.html" else "/ui/")
    assert resp.status == 200 and resp.content_type == "text/html"
    text = await resp.text()
    assert '<header id="shell"' in text and "/ui/console.css" in text


@pytest.mark.parametrize("name,ctype", sorted(ASSETS.items()))
async def test_static_assets_are_served_with_their_content_type(shep, name, ctype):
    resp = await shep.client.get(f"/ui/{name}")
    assert resp.status == 200 and resp.content_type == ctype
    assert await resp.read() == (STATIC / name).read_bytes()


async def test_ui_without_slash_redirects_and_unknown_files_are_json_404(shep):
    resp = await shep.client.get("/ui", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/ui/"
    for name in ("nope.html", ".hidden.js", "api.py"):
        resp = await shep.client.get(f"/ui/{name}")
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "NOT_FOUND"


def test_every_page_imports_the_shared_module_and_every_module_exists():
    for page in PAGES:
        text = (STATIC / page).read_text(encoding="utf-8")
        script = text.split('<script type="module" src="/ui/')[1].split('"')[0]
        assert (STATIC / script).is_file()
        assert 'from "/ui/api.js"' in (STATIC / script).read_text(encoding="utf-8")


async def test_overview_counts_the_fixtures(shep):
    body = await (await shep.client.get("/ui/api/overview")).json()
    assert body["services"] == 15 and body["persons"] == len(shep.gateway.fixtures.persons) and body["pki"] is True


async def test_stream_delivers_an_exchange_journaled_after_it_opened(shep):
    await shep.post(gbdfl_msg(DEMO_IINS["applicant"], message_id="before-open").to_bytes())
    async with shep.client.get("/ui/api/journal/stream", params={"backlog": "0"}) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        ready = await read_events(resp, "ready")
        assert ready["lastId"] >= 1
        await shep.post(gbdfl_msg(DEMO_IINS["applicant"], message_id="live-one").to_bytes())
        entry = await read_events(resp, "exchange")
    assert entry["message_id"] == "live-one" and entry["id"] > ready["lastId"]
    assert entry["service_id"] == "GBDFL_UniversalServiceSync" and entry["outcome"] == "SCSS001"
    assert "request" not in entry and entry["signature"] == "absent"


async def test_stream_backlog_sends_recent_entries_oldest_first_then_ready(shep):
    for k in range(3):
        await shep.post(gbdfl_msg(DEMO_IINS["applicant"], message_id=f"back-{k}").to_bytes())
    async with shep.client.get("/ui/api/journal/stream", params={"backlog": "2"}) as resp:
        events = await collect_events(resp, "ready")
    assert [d["message_id"] for name, d in events if name == "exchange"] == ["back-1", "back-2"]


async def test_stream_resumes_after_last_event_id(shep):
    for k in range(3):
        await shep.post(gbdfl_msg(DEMO_IINS["applicant"], message_id=f"resume-{k}").to_bytes())
    first = (await (await shep.client.get("/__admin/journal", params={"messageId": "resume-0"})).json())["exchanges"][0]
    async with shep.client.get("/ui/api/journal/stream", headers={"Last-Event-ID": str(first["id"])}) as resp:
        got = [await read_events(resp, "exchange"), await read_events(resp, "exchange")]
    assert [e["message_id"] for e in got] == ["resume-1", "resume-2"]


async def test_stream_filters_by_sender_service_outcome_and_status(shep):
    await shep.post(gbdfl_msg(DEMO_IINS["applicant"], message_id="f-ok").to_bytes())
    await shep.post(gbdfl_msg(DEMO_IINS["applicant"], message_id="f-tson", sender_id="ARM_TSON", password="tson-password").to_bytes())
    await shep.post(SendMessage("NOPE", None, message_id="f-nope").to_bytes())
    cases = {
        (("sender", "ARM_TSON"),): ["f-tson"],
        (("outcome", "SERVICE_NOT_FOUND"),): ["f-nope"],
        (("status", "error"),): ["f-nope"],
        (("serviceId", "GBDFL_UniversalServiceSync"), ("sender", "shlyuz-demo")): ["f-ok"],
    }
    for params, expected in cases.items():
        async with shep.client.get("/ui/api/journal/stream", params={"backlog": "50", **dict(params)}) as resp:
            events = await collect_events(resp, "ready")
        assert [d["message_id"] for n, d in events if n == "exchange"] == expected, params


async def test_stream_scope_filter_keeps_one_session(shep):
    await shep.client.post("/bip-sync/", data=gbdfl_msg(DEMO_IINS["applicant"], message_id="in-s1").to_bytes(),
                           headers={"Content-Type": "text/xml; charset=utf-8", "X-Shlyuz-Scope": "s1"})
    await shep.post(gbdfl_msg(DEMO_IINS["applicant"], message_id="in-default").to_bytes())
    async with shep.client.get("/ui/api/journal/stream", params={"scope": "s1"}) as resp:
        events = await collect_events(resp, "ready")
    assert [(d["message_id"], d["scope"]) for n, d in events if n == "exchange"] == [("in-s1", "s1")]


@pytest.mark.parametrize("query,where", [
    ({"backlog": "-1"}, "backlog"), ({"backlog": "x"}, "backlog"), ({"status": "maybe"}, "status"),
    ({"scope": "bad scope!"}, "scope"), ({"colour": "red"}, "colour"), ({"after": "-5"}, "after"),
])  # fmt: skip
async def test_stream_bad_parameters_are_400_json(shep, query, where):
    resp = await shep.client.get("/ui/api/journal/stream", params=query)
    assert resp.status == 400 and resp.content_type == "application/json"
    error = (await resp.json())["error"]
    assert error["code"] == "INVALID_PARAMETER" and where in error["message"]


async def test_stream_bad_last_event_id_is_400(shep):
    resp = await shep.client.get("/ui/api/journal/stream", headers={"Last-Event-ID": "abc"})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "INVALID_PARAMETER"


async def test_entry_has_pretty_printed_xml_and_an_absent_signature(shep):
    await shep.post(gbdfl_msg(DEMO_IINS["applicant"], message_id="pretty-me").to_bytes())
    entry = (await (await shep.client.get("/__admin/journal", params={"messageId": "pretty-me"})).json())["exchanges"][0]
    body = await (await shep.client.get(f"/ui/api/journal/{entry['id']}")).json()
    assert body["request"] == entry["request"]
    assert body["requestPretty"].count("\n") > 5 and "pretty-me" in body["requestPretty"]
    etree.fromstring(body["responsePretty"].encode())  # still XML
    assert body["signature"]["state"] == "absent" and body["scope"] == "default"


async def test_entry_of_a_revoked_signer_names_the_failed_check(shep):
    from shlyuz.dsig.signer import signer_for

    env = etree.fromstring(gbdfl_msg(DEMO_IINS["applicant"], message_id="revoked-me").to_bytes())
    signed = etree.tostring(signer_for(shep.gateway.pki, "bad/revoked").envelope(env))
    reply = await shep.post(signed, path="/bip-sync-wss-gost/")
    assert reply.status == 500
    entry = (await (await shep.client.get("/__admin/journal", params={"messageId": "revoked-me"})).json())["exchanges"][0]
    sig = (await (await shep.client.get(f"/ui/api/journal/{entry['id']}")).json())["signature"]
    assert sig["state"] == "failed" and sig["failed"]["code"] == "CERT_REVOKED"
    assert sig["failed"]["check"].startswith("revocation")


@pytest.mark.parametrize("ident,status", [("abc", 400), ("999999", 404)])
async def test_entry_bad_or_unknown_id(shep, ident, status):
    resp = await shep.client.get(f"/ui/api/journal/{ident}")
    assert resp.status == status and "error" in await resp.json()


async def test_entry_of_a_valid_signature_names_the_certificate_iin_chain_and_revocation_source(shep):
    from shlyuz.dsig.signer import signer_for

    env = etree.fromstring(gbdfl_msg(DEMO_IINS["applicant"], message_id="signed-me").to_bytes())
    signed = etree.tostring(signer_for(shep.gateway.pki, f"person/{DEMO_IINS['applicant']}/sign").envelope(env))
    reply = await shep.post(signed, path="/bip-sync-wss-gost/")
    assert reply.status == 200
    entry = (await (await shep.client.get("/__admin/journal", params={"messageId": "signed-me"})).json())["exchanges"][0]
    sig = (await (await shep.client.get(f"/ui/api/journal/{entry['id']}")).json())["signature"]
    assert sig["state"] == "valid"
    wsse = next(p for p in sig["parts"] if p["part"] == "wsse")
    assert wsse["state"] == "valid" and wsse["iin"] == DEMO_IINS["applicant"]
    assert DEMO_IINS["applicant"] in wsse["subject"] and len(wsse["chain"]) >= 2
    assert wsse["revocation"] in ("ocsp", "crl", "cache")


async def test_streams_over_the_per_process_limit_are_refused_with_503(shep, monkeypatch):
    from shlyuz.console import journal

    monkeypatch.setattr(journal, "MAX_STREAMS", 1)
    async with shep.client.get("/ui/api/journal/stream", params={"backlog": "0"}) as first:
        await read_events(first, "ready")
        second = await shep.client.get("/ui/api/journal/stream")
        assert second.status == 503 and (await second.json())["error"]["code"] == "CONFLICT"


async def test_stream_sees_an_entry_another_process_journaled_in_the_database(shep):
    """A second storage on the same file stands for another worker process: no in-process event tells the stream."""
    from datetime import datetime

    from shlyuz.storage.base import ExchangeRecord
    from shlyuz.storage.sqlite import SqliteStorage

    other = SqliteStorage(shep.gateway.settings.database_path)
    await other.open()
    try:
        async with shep.client.get("/ui/api/journal/stream", params={"backlog": "0"}) as resp:
            await read_events(resp, "ready")
            await other.append_exchange(ExchangeRecord(
                received_at=datetime.now(UTC), endpoint="/bip-sync/", session_id="{other-worker}",
                outcome="SCSS001", http_status=200, duration_ms=1.0, message_id="from-another-worker",
            ))  # fmt: skip
            entry = await read_events(resp, "exchange")
    finally:
        await other.close()
    assert entry["message_id"] == "from-another-worker" and entry["session_id"] == "{other-worker}"
