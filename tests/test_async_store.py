"""The message store under several workers: a due delivery is claimed by exactly one of them, a lease that expires
passes the delivery on, and the late owner's outcome no longer counts."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from asyncfix import ECHO_SERVICE, Echo, app_factory, shep

from shlyuz.clock import KZ
from shlyuz.shep.async_events import MessageState
from shlyuz.storage.messages import SqliteMessages, StatusStep, StoredMessage

NOW = datetime(2026, 1, 15, 10, 0, tzinfo=KZ)


def message(i: int) -> StoredMessage:
    return StoredMessage(
        message_id=f"m-{i}", message_type="REQUEST", service_id="S", sender_id="a", recipient_id="b",
        correlation_id=f"m-{i}", message_date=NOW, accepted_at=NOW, data_kind="string", payload=b"<x/>",
        mode="push", state=MessageState.ON_DELIVERY, state_changed_at=NOW, status_message="", due_at=NOW,
    )  # fmt: skip


@pytest.fixture
async def two_stores(tmp_path):
    a, b = SqliteMessages(tmp_path / "db.sqlite"), SqliteMessages(tmp_path / "db.sqlite")
    await a.open()
    await b.open()
    yield a, b
    await a.close()
    await b.close()


async def test_each_due_delivery_is_claimed_by_exactly_one_worker(two_stores):
    a, b = two_stores
    for i in range(40):
        await a.accept(message(i))
    lease = NOW + timedelta(seconds=60)
    claims = await asyncio.gather(*(
        store.claim_deliveries(now=NOW, owner=owner, lease_until=lease, limit=7)
        for _ in range(6) for store, owner in ((a, "A"), (b, "B"))
    ))  # fmt: skip
    ids = [m.message_id for batch in claims for m in batch]
    assert sorted(ids) == sorted(f"m-{i}" for i in range(40)) and len(ids) == len(set(ids))
    assert all(m.attempts == 1 for batch in claims for m in batch)


async def test_an_expired_lease_passes_the_delivery_on_and_the_late_owner_loses(two_stores):
    a, b = two_stores
    await a.accept(message(1))
    [_claimed] = await a.claim_deliveries(now=NOW, owner="A", lease_until=NOW + timedelta(seconds=60), limit=5)
    assert await b.claim_deliveries(now=NOW + timedelta(seconds=30), owner="B",
                                    lease_until=NOW + timedelta(seconds=90), limit=5) == []  # fmt: skip
    later = NOW + timedelta(seconds=61)  # worker A died mid-attempt
    [again] = await b.claim_deliveries(now=later, owner="B", lease_until=later + timedelta(seconds=60), limit=5)
    assert again.attempts == 2 and again.lease_owner == "B"
    step = [StatusStep(MessageState.DELIVERED, "delivered")]
    assert await a.change_state("m-1", expect=MessageState.ON_DELIVERY, steps=step, at=later, owner="A") is None
    assert not await a.retry_later("m-1", owner="A", due_at=later, error="late")
    done = await b.change_state("m-1", expect=MessageState.ON_DELIVERY, steps=step, at=later, owner="B")
    assert done is not None and done.state is MessageState.DELIVERED and done.due_at is None


async def test_two_gateways_on_one_database_deliver_each_message_once(settings, session_pki, app_client):
    make = app_factory(settings, session_pki, app_client)
    echo1, echo2 = Echo(), Echo()
    gw1, client1 = await make([echo1])
    gw2, _ = await make([echo2])
    sent = [await shep(client1).send_message(ECHO_SERVICE, payload=f"<n>{i}</n>".encode()) for i in range(12)]
    await asyncio.gather(gw1.async_channel.run_due(), gw2.async_channel.run_due())
    delivered = [m.message_id for m in echo1.seen + echo2.seen]
    assert sorted(delivered) == sorted(s.message_id for s in sent)  # every one, none twice
    assert echo1.calls + echo2.calls == 12
