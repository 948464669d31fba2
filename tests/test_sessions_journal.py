"""Sessions and the journal: every exchange is tagged with its session (X-Shlyuz-Scope), the admin journal API and
the CLI filter by it, a request made in a session sees only that session's journal; what a session's requests start
(internal SHEP calls, async messages, inbox items, status queries) stays in that session."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime

import pytest
from conftest import GATEWAY_NOW
from shepmsg import fields, send_message

from shlyuz.cli import main as cli_main
from shlyuz.clock import KZ, FixedClock
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.gateway.app import build_gateway, create_app
from shlyuz.storage.base import ExchangeRecord, JournalQuery
from shlyuz.storage.scope import CURRENT_SCOPE
from shlyuz.storage.sqlite import SqliteStorage

GBDFL = ("http://message.persistence.interactive.nat", "Request")
SOAP = {"Content-Type": "text/xml; charset=utf-8"}
OPERATOR = "890512397971"


def h(scope: str) -> dict[str, str]:
    return {"X-Shlyuz-Scope": scope}


def gbdfl(message_id: str) -> bytes:
    return send_message("GBDFL_UniversalServiceSync", fields(iin="900101300017"), data_type=GBDFL, message_id=message_id)


async def journal(client, headers=None, **params) -> dict:
    resp = await client.get("/__admin/journal", params={"bodies": "false", **params}, headers=headers or {})
    body = await resp.json()
    assert resp.status == 200, body
    return body


async def test_sync_exchanges_are_tagged_and_filtered_by_scope(shep):
    c = shep.client
    for scope, mid in (("s-a", "m-a"), ("s-b", "m-b"), (None, "m-d")):
        r = await c.post("/bip-sync/", data=gbdfl(mid), headers={**SOAP, **(h(scope) if scope else {})})
        assert r.status == 200
    everything = await journal(c)
    assert {e["message_id"]: e["scope"] for e in everything["exchanges"]} == {"m-a": "s-a", "m-b": "s-b", "m-d": "default"}
    only_a = await journal(c, scope="s-a")
    assert [e["message_id"] for e in only_a["exchanges"]] == ["m-a"]
    assert [e["message_id"] for e in (await journal(c, scope="default"))["exchanges"]] == ["m-d"]
    # the existing filters still work, together with the scope
    assert (await journal(c, scope="s-b", messageId="m-a"))["count"] == 0
    assert (await journal(c, scope="s-b", messageId="m-b", outcome="SCSS001"))["count"] == 1
    # one entry by id carries its scope too
    one = await (await c.get(f"/__admin/journal/{only_a['exchanges'][0]['id']}")).json()
    assert one["scope"] == "s-a"


async def test_a_request_in_a_session_sees_only_that_sessions_journal(shep):
    c = shep.client
    await c.post("/bip-sync/", data=gbdfl("seen"), headers={**SOAP, **h("mine")})
    await c.post("/bip-sync/", data=gbdfl("unseen"), headers={**SOAP, **h("theirs")})
    await c.post("/bip-sync/", data=gbdfl("unseen-default"), headers=SOAP)
    view = await journal(c, headers=h("mine"))
    assert [e["message_id"] for e in view["exchanges"]] == ["seen"]
    assert (await journal(c, headers=h("mine"), messageId="unseen"))["count"] == 0
    assert (await journal(c, headers=h("mine"), scope="mine"))["count"] == 1
    # asking a session's request for another session's entries is refused, not silently answered
    r = await c.get("/__admin/journal", params={"scope": "theirs"}, headers=h("mine"))
    body = await r.json()
    assert r.status == 400 and body["error"]["code"] == "INVALID_PARAMETER" and "X-Shlyuz-Scope" in body["error"]["message"]


@pytest.mark.parametrize("bad", ["", "has space", "x" * 65, "-lead"])
async def test_a_bad_scope_filter_is_refused(shep, bad):
    r = await shep.client.get("/__admin/journal", params={"scope": bad})
    body = await r.json()
    assert r.status == 400 and body["error"]["code"] == "INVALID_PARAMETER" and body["error"]["message"].startswith("scope")


async def test_a_refused_scope_header_is_journaled_in_the_default_scope(shep):
    r = await shep.client.post("/bip-sync/", data=gbdfl("bad-scope"), headers={**SOAP, **h("no spaces!")})
    assert r.status == 500
    # the fault is written before the request is read, so it names no messageId; find it by its outcome
    [entry] = (await journal(shep.client, outcome="INVALID_PARAMETER"))["exchanges"]
    assert entry["scope"] == "default" and entry["message_id"] is None


# -- the storage ----------------------------------------------------------------------------------------------------


def _record(n: int, **kw) -> ExchangeRecord:
    return ExchangeRecord(received_at=datetime(2026, 1, 15, 10, 0, n, tzinfo=KZ), endpoint="/bip-sync/",
                          session_id=f"{{s{n}}}", outcome="SCSS001", http_status=200, duration_ms=1.0,
                          message_id=f"m{n}", **kw)  # fmt: skip


def test_a_record_takes_the_scope_of_the_request_being_handled():
    assert _record(1).scope == "default"
    token = CURRENT_SCOPE.set("run-7")
    try:
        assert _record(2).scope == "run-7"
        assert _record(3, scope="explicit").scope == "explicit"  # a caller may name it (the delivery loop does)
    finally:
        CURRENT_SCOPE.reset(token)


OLD_SCHEMA = """
CREATE TABLE exchanges (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL, endpoint TEXT NOT NULL, session_id TEXT NOT NULL,
    outcome TEXT NOT NULL, http_status INTEGER NOT NULL, duration_ms REAL NOT NULL, sender_id TEXT, service_id TEXT,
    message_id TEXT, correlation_id TEXT, response_message_id TEXT, remote TEXT, content_type TEXT,
    verdicts TEXT NOT NULL, timings TEXT NOT NULL, request BLOB, response BLOB
);
INSERT INTO exchanges (received_at, endpoint, session_id, outcome, http_status, duration_ms, message_id, verdicts,
                       timings) VALUES ('2026-01-01T05:00:00.000000+00:00', '/bip-sync/', '{old}', 'SCSS001', 200, 1.0,
                                        'before-sessions', '{}', '{}');
"""


async def test_a_journal_made_before_sessions_is_migrated(tmp_path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as con:
        con.executescript(OLD_SCHEMA)
    storage = SqliteStorage(db)
    await storage.open()
    try:
        [old] = await storage.query_exchanges(JournalQuery())
        assert (old.message_id, old.scope) == ("before-sessions", "default")
        await storage.append_exchange(_record(1, scope="after"))
        assert [r.message_id for r in await storage.query_exchanges(JournalQuery(scope="after"))] == ["m1"]
        assert [r.message_id for r in await storage.query_exchanges(JournalQuery(scope="default"))] == ["before-sessions"]
        plan = " ".join(await storage.explain("SELECT id FROM exchanges WHERE scope = ? ORDER BY id DESC", ("after",)))
        assert "exchanges_scope" in plan
        assert (await storage.stats()).rows == 2
    finally:
        await storage.close()
    # a second open (another process, a restart) finds the column and changes nothing
    again = SqliteStorage(db)
    await again.open()
    try:
        assert len(await again.query_exchanges(JournalQuery())) == 2
    finally:
        await again.close()


def test_cli_journal_and_export_filter_by_scope(tmp_path, capsys):
    db = tmp_path / "j.db"

    async def fill() -> None:
        storage = SqliteStorage(db)
        await storage.open()
        try:
            body = gbdfl("x")
            for n, scope in ((1, "default"), (2, "run-a"), (3, "run-b"), (4, "run-a")):
                await storage.append_exchange(_record(n, scope=scope, request=body, response=b"<r/>"))
        finally:
            await storage.close()

    asyncio.run(fill())
    assert cli_main(["journal", "--db", str(db), "--scope", "run-a", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["message_id"], r["scope"]) for r in rows] == [("m4", "run-a"), ("m2", "run-a")]
    assert cli_main(["journal", "--db", str(db)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["id", "received", "scope"] and "run-b" in table[2]
    out = tmp_path / "a.jsonl"
    assert cli_main(["journal", "export", "--db", str(db), "--scope", "run-b", "--out", str(out)]) == 0
    assert "wrote 1 exchange(s)" in capsys.readouterr().out
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["provenance"]["filters"] == {"scope": "run-b"}


# -- what a session's requests start stays in the session -----------------------------------------------------------


@pytest.fixture
async def full(settings, session_pki, app_client):
    """The gateway as `shlyuz serve` wires it (portal, workstations, АРМ РШЭП, the async channel), delivery by hand."""
    settings.async_channel.delivery_loop = False
    gateway = build_gateway(settings, clock=FixedClock(GATEWAY_NOW), pki=session_pki)
    client = await app_client(create_app(gateway))
    return client, gateway


async def _operator(client, scope: str) -> dict[str, str]:
    r = await client.post("/con/auth/login", json={"login": OPERATOR, "password": f"tson-{OPERATOR}"}, headers=h(scope))
    assert r.status == 200, await r.text()
    return {"Authorization": f"Bearer {(await r.json())['token']}", **h(scope)}


async def _employee(client, gateway, scope: str) -> dict[str, str]:
    from shlyuz.workstations.rshep_api import employees

    iin = next(iter(employees(gateway.fixtures, gateway.settings.provider.bin)))
    r = await client.post("/rshep/login", json={"iin": iin, "password": f"rshep-{iin}"}, headers=h(scope))
    assert r.status == 200, await r.text()
    return {"Authorization": f"Bearer {(await r.json())['token']}", **h(scope)}


async def test_a_state_corporation_application_stays_in_its_session_end_to_end(full):
    client, gateway = full
    op = await _operator(client, "case-1")
    # a token is a session's: the same token in another session is unknown there
    r = await client.get("/con/applications", headers={**op, **h("case-2")})
    assert r.status == 401
    body = {"service": "disabled-children-home-education", "applicant": {"iin": DEMO_IINS["disabled"]},
            "documents": [{"code": "MED_CONCLUSION", "name": "Заключение ПМПК"}]}  # fmt: skip
    r = await client.post("/con/applications", json=body, headers=op)
    assert r.status == 201, await r.text()
    created = await r.json()
    # the GBD FL check the workstation made over SHEP is journaled in the session
    check = created["checks"]["gbdfl"]["exchange"]["messageId"]
    [entry] = (await journal(client, messageId=check))["exchanges"]
    assert entry["scope"] == "case-1" and entry["sender_id"] == "arm-con"
    assert await gateway.async_channel.run_due() >= 2  # REQUEST → АРМ РШЭП; its NOTIFICATION → the workstation

    # the provider's inbox: the item is in case-1 only
    emp = await _employee(client, gateway, "case-1")
    items = (await (await client.get("/rshep/items", headers=emp)).json())["items"]
    assert [i["applicantIin"] for i in items] == [DEMO_IINS["disabled"]]
    number = items[0]["number"]
    emp_default = await _employee(client, gateway, "default")
    assert (await (await client.get("/rshep/items", headers=emp_default)).json())["count"] == 0
    assert (await client.get(f"/rshep/items/{number}", headers=emp_default)).status == 404
    # take and decide in the session; the RESPONSE goes back in the session to the workstation
    assert (await client.post(f"/rshep/items/{number}/take", headers=emp)).status == 200
    r = await client.post(f"/rshep/items/{number}/decide", headers=emp, json={"decision": "approve"})
    assert r.status == 200 and (await r.json())["status"] == "approved", await r.text()
    assert await gateway.async_channel.run_due() >= 1
    out = await (await client.get(f"/con/applications/{created['id']}", headers=op)).json()
    assert out["status"] == "APPROVED", out
    # every async hop of the case was journaled in case-1 (the delivery loop names the message's session)
    hops = (await journal(client, scope="case-1", limit="200"))["exchanges"]
    assert any(e["endpoint"].startswith("/bip-async/ ") for e in hops), [e["endpoint"] for e in hops]
    assert not [e for e in (await journal(client, scope="default"))["exchanges"] if e["endpoint"].startswith("/bip-async/")]


async def test_the_async_channel_works_in_the_requests_session(full):
    """sendMessage, getMessageStatus and getMessages over /bip-async/ see only their own session's messages, and the
    messages the session's participants send back stay in it."""
    import aiohttp

    from shlyuz.asyncch.client import AsyncChannelClient, AsyncFault

    client, gateway = full
    url = str(client.make_url("/bip-async/"))

    async def channel(scope: str, op):
        async with aiohttp.ClientSession(headers=h(scope)) as http:
            return await op(AsyncChannelClient(url, "shlyuz-demo", "demo-password", http, clock=gateway.clock))

    sent = await channel("ch-1", lambda c: c.send_message("ESOBES_APPLICATION", payload=b"<notAnApplication/>"))
    status = await channel("ch-1", lambda c: c.get_message_status(sent.message_id))
    assert status.state.value
    with pytest.raises(AsyncFault) as other:
        await channel("ch-2", lambda c: c.get_message_status(sent.message_id))
    assert other.value.code == "ASYNC_MESSAGE_NOT_FOUND"
    [entry] = (await journal(client, messageId=sent.message_id, limit="5"))["exchanges"][-1:]
    assert entry["scope"] == "ch-1"
    assert await gateway.async_channel.run_due() >= 1  # E-sobes answers the unreadable application in ch-1
    mine = await channel("ch-1", lambda c: c.get_messages("ESOBES_APPLICATION"))
    theirs = await channel("ch-2", lambda c: c.get_messages("ESOBES_APPLICATION"))
    assert mine.messages and all(m.info.correlation_id == sent.message_id for m in mine.messages)
    assert theirs.messages == ()


async def test_a_sync_status_query_answers_from_its_session(full):
    """ESOBES_APPLICATION_STATUS reads the E-sobes inbox of the request's session."""
    from shlyuz.systems.rshep_inbox import INBOX

    client, gateway = full
    item = {"number": "ESB-2026-000001", "system": "esobes", "service": "disabled-children-home-education",
            "channel": "portal", "status": "new", "applicantIin": DEMO_IINS["disabled"],
            "registeredAt": GATEWAY_NOW.isoformat()}  # fmt: skip
    await gateway.records.put(INBOX, item["number"], item, scope="st-1")
    query = ('<esb:ApplicationStatusRequest xmlns:esb="urn:shlyuz:esobes:status:1.0">'
             "<applicationNumber>ESB-2026-000001</applicationNumber></esb:ApplicationStatusRequest>")  # fmt: skip
    body = send_message("ESOBES_APPLICATION_STATUS", query)
    from shlyuz.shep.responses import read_sync_reply

    found = read_sync_reply(await (await client.post("/bip-sync/", data=body, headers={**SOAP, **h("st-1")})).read())
    elsewhere = read_sync_reply(await (await client.post("/bip-sync/", data=body, headers=SOAP)).read())
    assert found.status.value == "SCSS001", found
    assert elsewhere.status.value == "SCSE001"


async def test_settle_waits_for_the_sessions_deliveries(full):
    """/__admin/sessions/{scope}/settle returns when the session's messages have reached the inside participants: the
    State Corporation's REQUEST is in АРМ РШЭП's inbox and its NOTIFICATION is back at the workstation."""
    client, gateway = full
    op = await _operator(client, "settle-1")
    body = {"service": "disabled-children-home-education", "applicant": {"iin": DEMO_IINS["disabled"]},
            "documents": [{"code": "MED_CONCLUSION", "name": "Заключение ПМПК"}]}  # fmt: skip
    created = await (await client.post("/con/applications", json=body, headers=op)).json()
    r = await client.post("/__admin/sessions/settle-1/settle", json={}, headers=h("settle-1"))
    out = await r.json()
    assert r.status == 200 and out["settled"] is True and out["inFlight"] == 0 and out["delivered"] >= 2, out
    view = await (await client.get(f"/con/applications/{created['id']}", headers=op)).json()
    assert view["status"] == "REGISTERED", view
    # nothing to wait for in an idle session; bad input is refused
    idle = await (await client.post("/__admin/sessions/idle-1/settle", json={"timeoutSeconds": 1})).json()
    assert idle == {"scope": "idle-1", "settled": True, "inFlight": 0, "delivered": 0}
    r = await client.post("/__admin/sessions/idle-1/settle", json={"timeoutSeconds": 600})
    assert r.status == 400 and (await r.json())["error"]["code"] == "INVALID_PARAMETER"
