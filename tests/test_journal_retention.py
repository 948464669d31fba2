"""Journal retention: the count and age limits, the eviction counters, GET /__admin/journal/stats.

Time is driven by the records' received_at and the gateway's FixedClock (the age limit is measured with the clock
given to the storage); sweeps are asked for with ``SqliteStorage.sweep()``, which runs in the writer task after
everything appended before it — no sleeping.
"""

from __future__ import annotations

import sqlite3
import tempfile
from datetime import timedelta
from pathlib import Path

from conftest import GATEWAY_NOW
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shlyuz.client import SendMessage, payload
from shlyuz.clock import FixedClock
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.gateway.app import build_gateway, create_app
from shlyuz.shep import ns
from shlyuz.storage.base import ExchangeRecord, JournalQuery, Retention
from shlyuz.storage.sqlite import SqliteStorage

DAY = timedelta(days=1)


def record(n: int, age: timedelta = timedelta(0), **kw) -> ExchangeRecord:
    return ExchangeRecord(
        received_at=GATEWAY_NOW - age, endpoint="/bip-sync/", session_id=f"{{s-{n}}}", outcome="SCSS001",
        http_status=200, duration_ms=1.0, message_id=f"m-{n}", service_id="GBDFL_UniversalServiceSync",
        request=b"<r/>", response=b"<a/>", **kw,
    )  # fmt: skip


def storage(path: Path, clock: FixedClock | None = None, **kw) -> SqliteStorage:
    kw.setdefault("sweep_every", 10**9)  # only the sweeps a test asks for, unless it says otherwise
    kw.setdefault("sweep_interval", 3600)
    return SqliteStorage(path, now=(clock or FixedClock(GATEWAY_NOW)).now, **kw)


async def message_ids(s: SqliteStorage) -> list[str]:
    return [r.message_id for r in reversed(await s.query_exchanges(JournalQuery(limit=1000)))]


async def test_count_limit_evicts_the_oldest_and_counts_them(tmp_path):
    s = storage(tmp_path / "j.db", retention=Retention(max_rows=5, max_age=None), sweep_batch=2)
    await s.open()
    try:
        for n in range(12):
            await s.append_exchange(record(n))
        assert (await s.stats()).rows == 12
        assert await s.sweep() == (0, 7)  # four batches of at most 2 rows, appends could commit in between
        assert await message_ids(s) == [f"m-{n}" for n in range(7, 12)]
        stats = await s.stats()
        assert (stats.rows, stats.evicted_by_count, stats.evicted_by_age) == (5, 7, 0)
        assert await s.sweep() == (0, 0)  # within the limits: nothing more
    finally:
        await s.close()


async def test_age_limit_evicts_by_received_at_measured_with_the_gateway_clock(tmp_path):
    clock = FixedClock(GATEWAY_NOW)
    s = storage(tmp_path / "j.db", clock, retention=Retention(max_rows=0, max_age=30 * DAY))
    await s.open()
    try:
        for n, age in enumerate([40 * DAY, 31 * DAY, 30 * DAY, 29 * DAY, DAY, timedelta(0)]):
            await s.append_exchange(record(n, age))
        assert await s.sweep() == (2, 0)  # older than 30 days; exactly 30 days old is not older
        assert await message_ids(s) == ["m-2", "m-3", "m-4", "m-5"]
        clock.advance(2 * DAY)  # the gateway clock moves on: two more are now too old
        assert await s.sweep() == (2, 0)
        assert await message_ids(s) == ["m-4", "m-5"]
        stats = await s.stats()
        assert (stats.rows, stats.evicted_by_age, stats.evicted_by_count) == (2, 4, 0)
        assert stats.oldest_received_at == GATEWAY_NOW - DAY and stats.newest_received_at == GATEWAY_NOW
    finally:
        await s.close()


async def test_the_writer_sweeps_on_its_own_after_commits(tmp_path):
    """sweep_every=1: every commit is followed by a sweep in the writer task; sweep() queued after the appends
    then finds nothing left to do."""
    s = storage(tmp_path / "j.db", retention=Retention(max_rows=3, max_age=None), sweep_every=1)
    await s.open()
    try:
        for n in range(10):
            await s.append_exchange(record(n))
        assert await s.sweep() == (0, 0)
        stats = await s.stats()
        assert (stats.rows, stats.evicted_by_count) == (3, 7)
    finally:
        await s.close()


async def test_counters_and_row_count_are_in_the_database_and_survive_a_reopen(tmp_path):
    path = tmp_path / "j.db"
    s = storage(path, retention=Retention(max_rows=2, max_age=None))
    await s.open()
    for n in range(5):
        await s.append_exchange(record(n))
    await s.sweep()
    await s.close()
    reader = SqliteStorage(path)  # no retention: what `shlyuz journal --db` opens
    await reader.open()
    try:
        stats = await reader.stats()
        assert (stats.rows, stats.evicted_by_count, stats.retention) == (2, 3, None)
        assert await reader.sweep() == (0, 0)
    finally:
        await reader.close()


async def test_an_existing_journal_gets_its_row_count_on_first_open(tmp_path):
    """A database made before retention existed (no journal_meta): the count starts from the rows already there."""
    path = tmp_path / "old.db"
    s = SqliteStorage(path)
    await s.open()
    for n in range(4):
        await s.append_exchange(record(n))
    await s.close()
    with sqlite3.connect(path) as con:
        con.executescript("DROP TRIGGER exchanges_count_insert; DROP TRIGGER exchanges_count_delete; "
                          "DROP TABLE journal_meta;")  # fmt: skip
    s = SqliteStorage(path)
    await s.open()
    try:
        assert (await s.stats()).rows == 4
    finally:
        await s.close()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    ages=st.lists(st.integers(0, 60), max_size=25),
    max_rows=st.integers(0, 12),
    max_age_days=st.sampled_from([None, 1, 10, 30]),
    batch=st.integers(1, 7),
)
async def test_eviction_never_removes_a_row_within_the_limits(ages, max_rows, max_age_days, batch):
    """Whatever the rows and limits: after a sweep exactly the rows within both limits are left — received no
    longer ago than max_age, and among the newest max_rows of those — and the counters add up."""
    max_age = max_age_days * DAY if max_age_days is not None else None
    with tempfile.TemporaryDirectory() as tmp:
        s = storage(Path(tmp) / "j.db", retention=Retention(max_rows=max_rows, max_age=max_age), sweep_batch=batch)
        await s.open()
        try:
            for n, age in enumerate(ages):
                await s.append_exchange(record(n, age * DAY - timedelta(minutes=1)))
            by_age, by_count = await s.sweep()
            young = [f"m-{n}" for n, age in enumerate(ages) if max_age is None or age * DAY - timedelta(minutes=1) <= max_age]
            expected = young[-max_rows:] if max_rows else young
            assert await message_ids(s) == expected
            assert (by_age, by_count) == (len(ages) - len(young), len(young) - len(expected))
            stats = await s.stats()
            assert (stats.rows, stats.evicted_by_age, stats.evicted_by_count) == (len(expected), by_age, by_count)
        finally:
            await s.close()


def gbdfl(message_id: str) -> bytes:
    body = payload(ns.GBDFL_MESSAGE, "Request", {"messageId": "1", "senderCode": "t", "iin": DEMO_IINS["applicant"]})
    return SendMessage("GBDFL_UniversalServiceSync", body, message_id=message_id).to_bytes()


async def test_stats_endpoint_shape_and_limits_from_settings(settings, session_pki):
    from aiohttp.test_utils import TestClient, TestServer

    clock = FixedClock(GATEWAY_NOW)
    settings = settings.model_copy(update={"journal": settings.journal.model_copy(
        update={"max_rows": 2, "max_age_days": 7.5, "sweep_batch": 10})})  # fmt: skip
    gateway = build_gateway(settings, clock=clock, pki=session_pki)
    async with TestClient(TestServer(create_app(gateway), host="127.0.0.1")) as client:
        empty = await (await client.get("/__admin/journal/stats")).json()
        assert empty["rows"] == 0 and empty["oldestReceivedAt"] is None and empty["newestReceivedAt"] is None
        for n in range(3):
            assert (await client.post("/bip-sync/", data=gbdfl(f"st-{n}"), headers={"Content-Type": "text/xml"})).status == 200
            clock.advance(timedelta(hours=1))
        await gateway.storage.sweep()
        resp = await client.get("/__admin/journal/stats")
        assert resp.status == 200
        body = await resp.json()
        assert set(body) == {"rows", "oldestReceivedAt", "newestReceivedAt", "evicted", "dbBytes", "limits"}
        assert body["rows"] == 2 and body["evicted"] == {"byCount": 1, "byAge": 0}
        assert body["limits"] == {"maxRows": 2, "maxAgeDays": 7.5}
        assert body["oldestReceivedAt"] == (GATEWAY_NOW + timedelta(hours=1)).isoformat(timespec="milliseconds")
        assert body["newestReceivedAt"] == (GATEWAY_NOW + timedelta(hours=2)).isoformat(timespec="milliseconds")
        assert isinstance(body["dbBytes"], int) and body["dbBytes"] > 0
        listed = await (await client.get("/__admin/journal", params={"bodies": "false"})).json()
        assert [e["message_id"] for e in listed["exchanges"]] == ["st-2", "st-1"]
        clock.advance(8 * DAY)  # all older than 7.5 days now
        await gateway.storage.sweep()
        body = await (await client.get("/__admin/journal/stats")).json()
        assert body["rows"] == 0 and body["evicted"] == {"byCount": 1, "byAge": 2}
        assert (await client.get("/__admin/journal/12345")).status == 404  # {id} still routed


def test_journal_settings_validate_and_map_to_retention(monkeypatch, tmp_path):
    from shlyuz.config import ConfigError, load_settings

    for key in [k for k in __import__("os").environ if k.startswith("SHLYUZ_")]:
        monkeypatch.delenv(key)
    default = load_settings(data_dir=tmp_path).journal.retention()
    assert default == Retention(max_rows=1_000_000, max_age=30 * DAY)
    monkeypatch.setenv("SHLYUZ_JOURNAL__MAX_AGE_DAYS", "0")
    monkeypatch.setenv("SHLYUZ_JOURNAL__MAX_ROWS", "0")
    monkeypatch.setenv("SHLYUZ_JOURNAL_BODIES", "false")
    s = load_settings(data_dir=tmp_path)
    assert s.journal.retention() == Retention(max_rows=0, max_age=None) and not s.journal.retention().active
    assert s.journal_bodies is False
    monkeypatch.delenv("SHLYUZ_JOURNAL__MAX_AGE_DAYS")  # the environment would win over the file
    (tmp_path / "bad.toml").write_text("[journal]\nmax_age_days = inf\n")
    try:
        load_settings(tmp_path / "bad.toml")
    except ConfigError as exc:
        assert "journal.max_age_days" in str(exc)
    else:
        raise AssertionError("inf days accepted")
