"""Fault injection on the AsyncChannel's sendMessage (``/bip-async/``): latency, SHEP faults and the transport kinds
fire there; the kinds that make no sense there (SCSE001, revocation) do not, nor do rules on the other operations."""

from __future__ import annotations

import aiohttp
import pytest
from conftest import GATEWAY_NOW

from shlyuz.asyncch.client import AsyncChannelClient, AsyncFault
from shlyuz.clock import FixedClock
from shlyuz.errors import ShlyuzError
from shlyuz.storage.base import JournalQuery

SERVICE = "ESOBES_APPLICATION"


def client(shep) -> AsyncChannelClient:
    return AsyncChannelClient(str(shep.client.make_url("/bip-async/")), "shlyuz-demo", "demo-password",
                              shep.client.session, clock=FixedClock(GATEWAY_NOW))  # fmt: skip


async def install(shep, **rule) -> dict:
    r = await shep.client.post("/__admin/faults", json=rule)
    assert r.status == 201, await r.text()
    return await r.json()


async def rules(shep) -> list[dict]:
    return (await (await shep.client.get("/__admin/faults")).json())["rules"]


async def last_record(shep):
    """The newest /bip-async/ exchange (the delivery to the inside participant is journaled too)."""
    records = await shep.gateway.storage.query_exchanges(JournalQuery(limit=20))
    return next(r for r in records if r.endpoint == "/bip-async/")


async def test_send_message_meets_a_shep_fault(shep):
    await install(shep, match={"endpoint": "/bip-async/"}, fault={"kind": "shep-fault", "code": "ESOBES-DOWN", "message": "later"})
    with pytest.raises(AsyncFault) as caught:
        await client(shep).send_message(SERVICE, payload=b"<x/>")
    assert caught.value.code == "ESOBES-DOWN" and caught.value.http_status == 500
    record = await last_record(shep)
    assert record.endpoint == "/bip-async/" and record.verdicts["fault"]["kind"] == "shep-fault"
    assert record.verdicts["failed_stage"] == "faults"


async def test_send_message_latency_is_journaled(shep):
    await install(shep, fault={"kind": "latency"}, latency={"type": "fixed", "ms": 3})
    reply = await client(shep).send_message(SERVICE, payload=b"<x/>")
    assert reply.message_id
    assert (await last_record(shep)).verdicts["fault"] == {"id": "f1", "kind": "latency", "latencyMs": 3.0}


async def test_send_message_reset_and_truncated(shep):
    await install(shep, fault={"kind": "reset"}, times=1)
    await install(shep, fault={"kind": "truncated"}, times=1)
    with pytest.raises((aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)):
        await client(shep).send_message(SERVICE, payload=b"<x/>")
    c = client(shep)
    with pytest.raises(ShlyuzError, match="MALFORMED_XML"):
        await c.send_message(SERVICE, payload=b"<x/>")
    assert c.last.http_status == 200 and c.last.reply.startswith(b"<?xml") and not c.last.reply.rstrip().endswith(b"Envelope>")
    assert (await last_record(shep)).response == c.last.reply
    assert [r["hits"] for r in await rules(shep)] == [1, 1]


async def test_kinds_of_the_sync_channel_only_do_not_fire_on_async(shep):
    await install(shep, fault={"kind": "status-error"})
    await install(shep, fault={"kind": "crl-stale"})
    assert (await client(shep).send_message(SERVICE, payload=b"<x/>")).message_id
    assert [r["hits"] for r in await rules(shep)] == [0, 0]


async def test_other_async_operations_are_untouched(shep):
    await install(shep, match={"endpoint": "/bip-async/"}, fault={"kind": "shep-fault"})
    c = client(shep)
    messages = await c.get_messages(SERVICE)
    assert messages is not None and [r["hits"] for r in await rules(shep)] == [0]
