"""Acknowledged ⇒ journaled, even through ``kill -9`` of the whole gateway (supervisor and workers at once).

Eight clients send GBD FL requests to ``shlyuz serve --workers 2`` and record every messageId answered HTTP 200
SCSS001; once about 500 are acknowledged one of them kills the process group with SIGKILL while the others have
requests in flight. ``shlyuz serve`` is started again on the same data directory: every acknowledged messageId must
be in the journal, and the database must pass ``PRAGMA integrity_check``. A request in flight at the kill may or may
not be journaled; an acknowledged one must be. ``pytest -s`` prints the numbers (docs/resilience.md quotes them).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
from test_workers import Server, alive, gbdfl_request, live_workers, pytestmark  # noqa: F401 (pytestmark: Linux)

CLIENTS = 8
MAX_REQUESTS = 1500
MAX_SECONDS = 20.0
KILL_AFTER_ACKS = 500


@dataclass
class Load:
    sent: int = 0
    acked: list[str] = field(default_factory=list)  # HTTP 200 SCSS001, in the order the answers came
    failed: list[str] = field(default_factory=list)  # no answer (the kill) or not SCSS001
    killed_at: float | None = None
    in_flight_at_kill: int = 0
    in_flight: int = 0


async def run_load(url: str, pgid: int) -> Load:
    load = Load()
    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client(n: int) -> None:
            while load.killed_at is None and load.sent < MAX_REQUESTS and time.monotonic() - started < MAX_SECONDS:
                mid = f"crash-{n}-{load.sent:05d}"
                load.sent += 1
                load.in_flight += 1
                try:
                    async with session.post(f"{url}/bip-sync/", data=gbdfl_request(mid),
                                            headers={"Content-Type": "text/xml; charset=utf-8"}) as resp:  # fmt: skip
                        body = await resp.read()
                    ok = resp.status == 200 and b"<code>SCSS001</code>" in body
                except (TimeoutError, aiohttp.ClientError):
                    ok = False
                finally:
                    load.in_flight -= 1
                (load.acked if ok else load.failed).append(mid)
                if ok and len(load.acked) >= KILL_AFTER_ACKS and load.killed_at is None:
                    load.in_flight_at_kill = load.in_flight  # the other clients' requests, under way right now
                    os.killpg(pgid, signal.SIGKILL)
                    load.killed_at = time.monotonic() - started

        await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return load


async def journaled_ids(url: str, ids: list[str]) -> set[str]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def one(mid: str) -> str | None:
            async with session.get(f"{url}/__admin/journal", params={"messageId": mid, "bodies": "false"}) as resp:
                assert resp.status == 200
                found = (await resp.json())["exchanges"]
            return mid if [x["message_id"] for x in found] == [mid] else None

        return {mid for mid in await asyncio.gather(*(one(m) for m in ids)) if mid}


async def read_journal(path) -> list:
    """Every journal row, read through the storage class itself (what `shlyuz journal --db` does)."""
    from shlyuz.storage.base import JournalQuery
    from shlyuz.storage.sqlite import SqliteStorage

    storage = SqliteStorage(path)
    await storage.open()
    try:
        return await storage.query_exchanges(JournalQuery(limit=10 * MAX_REQUESTS))
    finally:
        await storage.close()


def test_every_acknowledged_exchange_survives_kill_9_of_the_whole_gateway(tmp_path):
    data = tmp_path / "var"
    first = Server(data, "--workers", "2", new_session=True)  # its own process group: killpg spares pytest
    second = None
    try:
        url = first.banner()
        workers = first.banner_pids
        load = asyncio.run(run_load(url, os.getpgid(first.proc.pid)))
        assert load.killed_at is not None, f"only {len(load.acked)} acknowledged before the limits"
        assert first.proc.wait(timeout=10) == -signal.SIGKILL
        assert not any(alive(p) for p in workers) and live_workers(first.proc.pid) == []
        assert len(load.acked) >= KILL_AFTER_ACKS

        started = time.monotonic()
        second = Server(data, "--workers", "2")
        url = second.banner()
        restart_s = time.monotonic() - started
        # The newest acknowledgements are the ones most at risk: ask the restarted gateway for them by messageId.
        newest = load.acked[-50:]
        assert asyncio.run(journaled_ids(url, newest)) == set(newest)
        assert second.stop() == 0
    finally:
        for server in (first, second):
            if server is not None:
                server.close()

    with sqlite3.connect(data / "shlyuz.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    records = asyncio.run(read_journal(data / "shlyuz.db"))
    assert {r.outcome for r in records} == {"SCSS001"}
    rows = Counter(r.message_id for r in records)
    acked = set(load.acked)
    missing = acked - set(rows)
    assert not missing, f"{len(missing)} acknowledged exchanges are not in the journal: {sorted(missing)[:5]}"
    assert max(rows.values()) == 1  # nothing journaled twice
    assert set(rows) <= acked | set(load.failed)  # nothing journaled that was never sent
    print(
        f"\ncrash-safety: {load.sent} sent, {len(load.acked)} acknowledged, {len(rows)} journaled "
        f"({len(rows) - len(acked)} of {len(load.failed)} unanswered ones too), {load.in_flight_at_kill} in flight "
        f"at the kill {load.killed_at:.2f} s into the load; restart to banner {restart_s:.2f} s"
    )
