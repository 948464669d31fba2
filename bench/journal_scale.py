"""The journal at scale: fill a SQLite journal with realistic exchanges, then time the queries the admin API makes,
the retention sweep, and look at the size on disk and the process's memory.

    .venv/bin/python bench/journal_scale.py [--rows 1000000] [--bodies on|off|both] [--lookups 1000] [--dir DIR]

The exchanges are real ones — a GBD FL search answered with a signed payload, an ENIS check, a fault — made once by
the gateway's pipeline and repeated with fresh messageIds, sessionIds and times spread over the last 30 days (bodies
as journaled: ~3.5 KB a row with ``journal_bodies``, or none). The fill is a bulk insert with plain sqlite3 into the
schema SqliteStorage makes (its triggers keep the row count); everything measured afterwards goes through
SqliteStorage, the way ``GET /__admin/journal`` and ``/__admin/journal/stats`` reach it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from shlyuz.client import SendMessage, payload
from shlyuz.clock import KZ, FixedClock
from shlyuz.config import load_settings
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.gateway.app import build_gateway
from shlyuz.shep import ns
from shlyuz.storage.base import JournalQuery, Retention
from shlyuz.storage.sqlite import _INSERT, SqliteStorage, _row, _utc

SERVICES = ("GBDFL_UniversalServiceSync", "ENIS_POA_CHECK", "GBDFLUniversal_token")
SENDERS = ("shlyuz-demo", "ARM_TSON", "EGOV_PORTAL", "BANK_X")
SPAN = timedelta(days=30)


def rss() -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def ms(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return statistics.median(values) * 1000, values[min(len(values) - 1, int(len(values) * 0.99))] * 1000


async def templates(now) -> list:
    """Three real exchange records from the pipeline: GBD FL found (signed data), ENIS, a SERVICE_NOT_FOUND fault."""
    with tempfile.TemporaryDirectory() as tmp:
        gw = build_gateway(load_settings(data_dir=Path(tmp)), clock=FixedClock(now))
        await gw.records.open()  # the faults stage reads the session's fault rules there (docs/faults.md)
        gbdfl = payload(ns.GBDFL_MESSAGE, "Request", {"messageId": "1", "senderCode": "shlyuz-demo",
                                                      "iin": DEMO_IINS["applicant"]})  # fmt: skip
        enis = payload(ns.ENIS_POA, "PoaCheckRequest", {"poaNumber": "1", "principalIin": DEMO_IINS["applicant"]})
        out = []
        for msg in (SendMessage(SERVICES[0], gbdfl), SendMessage(SERVICES[1], enis), SendMessage("NOPE", None)):
            outcome = await gw.sync.process(msg.to_bytes(), "text/xml; charset=utf-8", endpoint="/bip-sync/")
            out.append(outcome.record)
        if gw.revocation is not None:
            await gw.revocation.close()
        await gw.records.close()
        return out


def fill(path: Path, n: int, records, now, bodies: bool, sample: int) -> tuple[float, list[str], list[str]]:
    """Bulk insert ``n`` rows, oldest first over the last 30 days; returns (seconds, sample messageIds, sample
    response messageIds)."""
    rnd = random.Random(1)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous=NORMAL")
    picks = set(rnd.sample(range(n), min(sample, n)))
    ids, resp_ids = [], []
    started = time.perf_counter()
    step = SPAN / n
    at = now - SPAN
    chunk = 20_000
    for first in range(0, n, chunk):
        rows = []
        for i in range(first, min(n, first + chunk)):
            rec = records[0 if i % 20 < 16 else 1 if i % 20 < 19 else 2]
            mid, rid = str(uuid.UUID(int=rnd.getrandbits(128), version=4)), str(uuid.uuid4())
            row = list(_row(rec))
            row[0] = _utc(at + step * i)
            row[2], row[6] = "{" + str(uuid.uuid4()) + "}", SENDERS[i % 4]
            row[7], row[8] = (rec.service_id and SERVICES[i % 3]), mid
            row[10] = rid if rec.response_message_id else None
            if bodies:
                row[15] = rec.request.replace(rec.message_id.encode(), mid.encode())
                row[16] = rec.response
            else:
                row[15] = row[16] = None
            rows.append(row)
            if i in picks:
                ids.append(mid)
                if row[10]:
                    resp_ids.append(rid)
        con.execute("BEGIN")
        con.executemany(_INSERT.replace(" RETURNING id", ""), rows)
        con.execute("COMMIT")
        if first and first % 200_000 == 0:
            print(f"  … {first:,} rows, {first / (time.perf_counter() - started):,.0f} rows/s", flush=True)
    seconds = time.perf_counter() - started
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return seconds, ids, resp_ids


async def timed(fn, args_list) -> tuple[float, float]:
    times = []
    for args in args_list:
        t0 = time.perf_counter()
        await fn(*args)
        times.append(time.perf_counter() - t0)
    return ms(times)


async def measure(path: Path, n: int, bodies: bool, lookups: int, batch: int) -> dict:
    now = datetime.now(KZ)
    records = await templates(now)
    row_bytes = sum(len(r.request or b"") + len(r.response or b"") for r in records[:1])
    s = SqliteStorage(path)
    await s.open()  # the schema, with the row-count triggers
    await s.close()
    fill_s, ids, resp_ids = fill(path, n, records, now, bodies, lookups)
    size = sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    clock = FixedClock(now)
    storage = SqliteStorage(path, retention=Retention(max_rows=n, max_age=SPAN), now=clock.now,
                            sweep_every=10**9, sweep_interval=3600, sweep_batch=batch)  # fmt: skip
    await storage.open()
    out: dict = {"loadavg_start": os.getloadavg(), "rows": n, "bodies": bodies, "fill_s": round(fill_s, 1), "fill_rows_per_s": round(n / fill_s),
                 "db_mb": round(size / 2**20), "bytes_per_row": round(size / n), "gbdfl_bodies_bytes": row_bytes}  # fmt: skip
    q = storage.query_exchanges
    rnd = random.Random(2)
    out["by_message_id"] = await timed(q, [(JournalQuery(message_id=m),) for m in ids])
    out["by_response_message_id"] = await timed(q, [(JournalQuery(message_id=m),) for m in resp_ids[:lookups]])
    out["by_service_limit_50"] = await timed(q, [(JournalQuery(service_id=rnd.choice(SERVICES), limit=50),)
                                                 for _ in range(200)])  # fmt: skip
    deep = [(JournalQuery(service_id=rnd.choice(SERVICES), before_id=rnd.randrange(1, n), limit=50),) for _ in range(200)]
    out["by_service_page_deep"] = await timed(q, deep)

    def window(hours: float) -> JournalQuery:
        start = now - SPAN + (SPAN - timedelta(hours=hours)) * rnd.random()
        return JournalQuery(since=start, until=start + timedelta(hours=hours), limit=50)

    out["by_time_1h_limit_50"] = await timed(q, [(window(1),) for _ in range(200)])
    out["by_time_7d_limit_50"] = await timed(q, [(window(24 * 7),) for _ in range(50)])
    out["stats"] = await timed(storage.stats, [()] * 50)
    out["sweep_noop"] = await timed(storage.sweep, [()] * 50)
    out["sweep"] = {}
    for label, prepare in (("age, clock +1 day", "age"), ("count +10,000 rows", "count")):
        if prepare == "count":  # 10,000 rows beyond max_rows
            missing = n + 10_000 - (await storage.stats()).rows
            for first in range(0, missing, 500):
                await asyncio.gather(*(storage.append_exchange(records[0]) for _ in range(min(500, missing - first))))
        else:
            clock.advance(timedelta(days=1))
        out["sweep"][label] = await sweep_cost(storage, records[0])
    out["rss_mb"], out["rss_peak_mb"] = (round(v) for v in rss())
    out["loadavg_end"] = os.getloadavg()
    out["stats_after"] = (await storage.stats()).to_json()
    out["plans"] = await plans(storage)
    await storage.close()
    return out


async def sweep_cost(storage: SqliteStorage, record) -> dict:
    """Time a whole sweep and its batches, and how late a 1 ms timer on the event loop ran meanwhile."""
    batches: list[float] = []
    original = storage._sweep_sync

    def timed_batch(*args):
        t0 = time.perf_counter()
        try:
            return original(*args)
        finally:
            batches.append(time.perf_counter() - t0)

    storage._sweep_sync = timed_batch  # type: ignore[method-assign]
    lags: list[float] = []
    done = False

    async def ticker() -> None:
        while not done:
            t0 = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - t0 - 0.001)

    appends: list[float] = []

    async def appender() -> None:  # one client appending all along: how long does an append wait for a batch?
        while not done:
            t0 = time.perf_counter()
            await storage.append_exchange(record)
            appends.append(time.perf_counter() - t0)
            await asyncio.sleep(0.005)

    tick, app = asyncio.create_task(ticker()), asyncio.create_task(appender())
    t0 = time.perf_counter()
    by_age, by_count = await storage.sweep()
    total = time.perf_counter() - t0
    done = True
    await tick
    await app
    storage._sweep_sync = original  # type: ignore[method-assign]
    deleted = by_age + by_count
    return {"deleted": deleted, "seconds": round(total, 2), "rows_per_s": round(deleted / total) if deleted else 0,
            "batches": len(batches), "batch_ms_median": round(statistics.median(batches) * 1000, 1),
            "batch_ms_max": round(max(batches) * 1000, 1), "loop_lag_ms_max": round(max(lags) * 1000, 2),
            "append_ms_median_p99_meanwhile": [round(v, 1) for v in ms(appends)] if appends else None}  # fmt: skip


async def plans(storage: SqliteStorage) -> dict:
    out = {}
    inner = "SELECT * FROM exchanges WHERE id IN (SELECT id FROM exchanges WHERE {} ORDER BY id DESC LIMIT 50) ORDER BY id DESC"
    for name, sql, args in (
        ("messageId", inner.format("(message_id = ? OR response_message_id = ?)"), ("x", "x")),
        ("serviceId", inner.format("service_id = ?"), ("x",)),
        ("time range", inner.format("received_at >= ? AND received_at < ?"), ("a", "b")),
    ):  # fmt: skip
        out[name] = "; ".join(await storage.explain(sql, args))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--bodies", choices=["on", "off", "both"], default="both")
    ap.add_argument("--lookups", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=100, help="journal.sweep_batch")
    ap.add_argument("--dir", type=Path, help="where the databases go (default: a temporary directory)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    for key in [k for k in os.environ if k.startswith("SHLYUZ_")]:
        del os.environ[key]
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"# {platform.node()}: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python "
          f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}", flush=True)  # fmt: skip
    results = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for bodies in ([True, False] if args.bodies == "both" else [args.bodies == "on"]):
            path = Path(tmp) / f"journal-{'bodies' if bodies else 'nobodies'}.db"
            print(f"## {args.rows:,} rows, bodies {'on' if bodies else 'off'}", flush=True)
            result = asyncio.run(measure(path, args.rows, bodies, args.lookups, args.batch))
            print(json.dumps(result, indent=1, default=str), flush=True)
            results.append(result)
            path.unlink()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    sys.exit(main())
