"""The journal: written before the response, queryable with filters over /__admin/journal; health; JSON errors."""

from __future__ import annotations

from datetime import timedelta

from shlyuz.client import SendMessage, payload
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.shep import ns

from conftest import GATEWAY_NOW


def gbdfl_msg(iin: str, **kw) -> SendMessage:
    body = payload(ns.GBDFL_MESSAGE, "Request", {"messageId": "1", "senderCode": "t", "iin": iin})
    return SendMessage("GBDFL_UniversalServiceSync", body, **kw)


async def test_exchange_is_in_the_journal_when_the_response_arrives(shep):
    msg = gbdfl_msg(DEMO_IINS["applicant"], message_id="journal-me")
    reply = await shep.post(msg.to_bytes())
    assert reply.status == 200
    # no waiting: the row was committed before the response was sent
    resp = await shep.client.get("/__admin/journal", params={"messageId": "journal-me"})
    assert resp.status == 200
    body = await resp.json()
    assert body["count"] == 1
    entry = body["exchanges"][0]
    assert entry["message_id"] == "journal-me"
    assert entry["service_id"] == "GBDFL_UniversalServiceSync"
    assert entry["sender_id"] == "shlyuz-demo"
    assert entry["outcome"] == "SCSS001"
    assert entry["http_status"] == 200
    assert entry["session_id"] == reply.parsed.session_id
    assert entry["response_message_id"] == reply.parsed.message_id
    assert entry["request"] == msg.to_bytes().decode() or "journal-me" in entry["request"]
    assert entry["response"] == reply.body.decode()
    assert set(entry["timings"]) >= {"parse", "authenticate", "route", "dispatch", "build"}
    assert entry["verdicts"]["data"] == "xml"
    # the response's messageId finds it too, and by id
    by_resp = await (await shep.client.get("/__admin/journal", params={"messageId": reply.parsed.message_id})).json()
    assert by_resp["exchanges"][0]["id"] == entry["id"]
    one = await shep.client.get(f"/__admin/journal/{entry['id']}")
    assert (await one.json())["message_id"] == "journal-me"


async def test_journal_filters(shep):
    await shep.post(gbdfl_msg(DEMO_IINS["applicant"], message_id="a1").to_bytes())
    await shep.post(gbdfl_msg(DEMO_IINS["applicant"], message_id="a2", sender_id="ARM_TSON", password="tson-password").to_bytes())
    await shep.post(SendMessage("NOPE", None, message_id="a3").to_bytes())

    async def ids(**params) -> list[str]:
        resp = await shep.client.get("/__admin/journal", params={**params, "bodies": "false"})
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert all("request" not in e for e in body["exchanges"])
        return [e["message_id"] for e in body["exchanges"]]

    assert await ids() == ["a3", "a2", "a1"]
    assert await ids(sender="ARM_TSON") == ["a2"]
    assert await ids(serviceId="NOPE") == ["a3"]
    assert await ids(outcome="SERVICE_NOT_FOUND") == ["a3"]
    assert await ids(limit="2") == ["a3", "a2"]
    since = (GATEWAY_NOW - timedelta(minutes=1)).isoformat()
    until = (GATEWAY_NOW + timedelta(minutes=1)).isoformat()
    assert await ids(**{"from": since, "to": until}) == ["a3", "a2", "a1"]
    assert await ids(**{"from": until}) == []
    page = await (await shep.client.get("/__admin/journal", params={"limit": "2"})).json()
    rest = await ids(beforeId=str(page["nextBeforeId"]))
    assert rest == ["a1"]


async def test_journal_rejects_bad_parameters_with_json_errors(shep):
    for params, needle in (
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-01-01T00:00:00"}, "timezone"),
        ({"colour": "red"}, "colour"),
    ):
        resp = await shep.client.get("/__admin/journal", params=params)
        assert resp.status == 400
        body = await resp.json()
        assert body["error"]["code"] == "INVALID_PARAMETER"
        assert needle in body["error"]["message"].lower() or needle in body["error"]["message"]
    resp = await shep.client.get("/__admin/journal/abc")
    assert resp.status == 400
    resp = await shep.client.get("/__admin/journal/999999")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "NOT_FOUND"


async def test_unknown_route_and_wrong_method_are_json(shep):
    resp = await shep.client.get("/nope")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "NOT_FOUND"
    resp = await shep.client.delete("/healthz")
    assert resp.status == 405 and (await resp.json())["error"]["code"] == "METHOD_NOT_ALLOWED"
    resp = await shep.client.get("/bip-sync/")
    assert resp.status == 405 and "?wsdl" in (await resp.json())["error"]["message"]


async def test_healthz_and_index(shep):
    resp = await shep.client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ok"
    index = await (await shep.client.get("/")).json()
    assert "GBDFL_UniversalServiceSync" in index["services"] and "ENIS_POA_CHECK" in index["services"]
