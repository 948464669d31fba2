"""What one journal append costs, and what a thread hop adds to it: CPU µs per append (this process, all threads).

    .venv/bin/python bench/journal_write.py [-n 3000]

Rows are shaped like a GBD FL exchange with its bodies (request 4,000 B, response 6,000 B, random so that they do
not compress into fewer pages). Cases:

- ``sqlite3, one row per commit``: plain sqlite3, ``BEGIN IMMEDIATE`` / INSERT / ``COMMIT`` with the journal's schema
  and pragmas, in a loop — the floor; then the same with ``synchronous=FULL`` (fsync per commit), and with SQLite's
  automatic checkpoint left on;
- ``JournalDb.try_insert on the loop`` vs ``JournalDb.insert via run_in_executor``: one row per commit, the way
  ``SqliteStorage`` commits on the event loop, or through a thread hop (as before 2026-11-25, when every statement of
  a commit was a hop of its own through aiosqlite);
- ``empty run_in_executor round trip``: the hop alone;
- ``SqliteStorage.append_exchange``: one caller at a time, then 8 concurrent callers (group commit).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Self

from shlyuz.storage.base import ExchangeRecord
from shlyuz.storage.sqlite import SqliteStorage
from shlyuz.storage.sqlite_journal import _INSERT, META, SCHEMA, JournalDb, row_of


def record() -> ExchangeRecord:
    return ExchangeRecord(
        received_at=datetime.now(timezone.utc), endpoint="/bip-sync/", session_id=f"{{{uuid.uuid4()}}}",
        outcome="SCSS001", http_status=200, duration_ms=1.0, sender_id="bench", service_id="GBDFL_UniversalServiceSync",
        message_id=str(uuid.uuid4()), response_message_id=str(uuid.uuid4()), remote="127.0.0.1",
        content_type="text/xml; charset=utf-8", verdicts={"data": "xml", "signature": {"wsse": "absent"}},
        timings={"parse": 0.1, "build": 0.4}, request=os.urandom(2000).hex().encode(),
        response=os.urandom(3000).hex().encode(),
    )  # fmt: skip


class Meter:
    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> Self:
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu_us = (time.process_time() - self.cpu) / self.n * 1e6
        self.wall_us = (time.perf_counter() - self.wall) / self.n * 1e6


def plain(path: Path, rows: list[tuple], sync: str = "NORMAL", autocheckpoint: bool = False) -> Meter:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(f"PRAGMA synchronous={sync}")
    if not autocheckpoint:
        con.execute("PRAGMA wal_autocheckpoint=0")
    con.executescript(SCHEMA)
    con.executescript(META)
    with Meter(len(rows)) as m:
        for row in rows:
            con.execute("BEGIN IMMEDIATE")
            con.execute(_INSERT, row)
            con.execute("COMMIT")
    con.close()
    return m


async def main(n: int) -> None:
    rows = [row_of(record()) for _ in range(n)]
    results: list[tuple[str, Meter]] = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(("sqlite3, one row per commit (NORMAL, no autocheckpoint)", plain(Path(tmp) / "a.db", rows)))
        results.append(("the same, synchronous=FULL", plain(Path(tmp) / "b.db", rows, sync="FULL")))
        results.append(("the same, automatic checkpoint on (1,000 pages)", plain(Path(tmp) / "c.db", rows,
                                                                                    autocheckpoint=True)))  # fmt: skip
        loop = asyncio.get_running_loop()
        thread = ThreadPoolExecutor(1)
        db = JournalDb(Path(tmp) / "d.db")
        await loop.run_in_executor(thread, db.open)
        with Meter(n) as m:
            for row in rows:
                assert db.try_insert([row]) is not None
        results.append(("JournalDb.try_insert on the event loop", m))
        with Meter(n) as m:
            for row in rows:
                await loop.run_in_executor(thread, db.insert, [row])
        results.append(("JournalDb.insert via run_in_executor", m))
        with Meter(n) as m:
            for _ in range(n):
                await loop.run_in_executor(thread, int)
        results.append(("empty run_in_executor round trip", m))
        await loop.run_in_executor(thread, db.close)
        thread.shutdown()
        recs = [record() for _ in range(n)]
        storage = SqliteStorage(Path(tmp) / "e.db")
        await storage.open()
        with Meter(n) as m:
            for rec in recs:
                await storage.append_exchange(rec)
        results.append(("SqliteStorage.append_exchange, 1 caller", m))
        recs = [record() for _ in range(n)]
        gate = asyncio.Semaphore(8)

        async def one(rec: ExchangeRecord) -> None:
            async with gate:
                await storage.append_exchange(rec)

        with Meter(n) as m:
            await asyncio.gather(*(one(rec) for rec in recs))
        results.append(("SqliteStorage.append_exchange, 8 concurrent callers", m))
        await storage.close()
    print(f"n={n}, SQLite {sqlite3.sqlite_version}, load average {os.getloadavg()[0]:.2f}\n")
    print("| case | CPU µs per append | wall µs per append |\n|---|---:|---:|")
    for name, m in results:
        print(f"| {name} | {m.cpu_us:.0f} | {m.wall_us:.0f} |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=3000)
    asyncio.run(main(ap.parse_args().n))
