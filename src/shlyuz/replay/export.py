"""``shlyuz journal export``: any journal (not only recordings) as a replayable JSONL recording.

Reads a SQLite journal directly (``--db``) or a running gateway's ``/__admin/journal`` (``--url``), pages through it
oldest-last, and writes the entries oldest first.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from shlyuz.replay import format as fmt
from shlyuz.storage.base import ExchangeRecord, JournalQuery

PAGE = 1000


def register_export(journal_parser: argparse.ArgumentParser) -> None:
    sub = journal_parser.add_subparsers(dest="journal_action", metavar="ACTION")
    p = sub.add_parser("export", help="write journal entries as a replayable recording (JSONL)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--url", default="http://127.0.0.1:8080", help="a running gateway (default http://127.0.0.1:8080)")
    src.add_argument("--db", type=Path, help="read this SQLite journal directly (e.g. var/shlyuz.db)")
    p.add_argument("--out", type=Path, required=True, help="the recording to write (FILE.jsonl)")
    p.add_argument("--message-id")
    p.add_argument("--service")
    p.add_argument("--sender")
    p.add_argument("--session", help="the SHEP sessionId")
    p.add_argument("--scope", help="only this isolated session's exchanges (X-Shlyuz-Scope)")
    p.add_argument("--outcome", help="SCSS001, SCSE001 or an error code")
    p.add_argument("--since", type=datetime.fromisoformat, help="ISO date-time with zone")
    p.add_argument("--until", type=datetime.fromisoformat, help="ISO date-time with zone")
    p.add_argument("--recorded", action="store_true", help="only entries written by `shlyuz record`")
    p.add_argument("--limit", type=int, default=0, help="at most this many (newest); 0: all (default)")
    p.set_defaults(func=run_export)


def _filters(args: argparse.Namespace) -> dict[str, str]:
    out = {k: str(v) for k, v in {
        "messageId": args.message_id, "serviceId": args.service, "sender": args.sender, "sessionId": args.session,
        "scope": args.scope, "outcome": args.outcome, "from": args.since.isoformat() if args.since else None,
        "to": args.until.isoformat() if args.until else None,
    }.items() if v is not None}  # fmt: skip
    if args.recorded:
        out["recorded"] = "true"
    return out


async def _from_db(args: argparse.Namespace) -> AsyncIterator[ExchangeRecord]:
    from shlyuz.storage.sqlite import SqliteStorage

    if not args.db.exists():
        raise RuntimeError(f"{args.db} does not exist")
    storage = SqliteStorage(args.db)
    await storage.open()
    try:
        before = None
        while True:
            page = await storage.query_exchanges(JournalQuery(
                message_id=args.message_id, service_id=args.service, sender_id=args.sender, session_id=args.session,
                scope=args.scope, outcome=args.outcome, since=args.since, until=args.until, limit=PAGE,
                before_id=before,
            ))  # fmt: skip
            for record in page:
                yield record
            if len(page) < PAGE:
                return
            before = page[-1].id
    finally:
        await storage.close()


def record_from_json(item: dict[str, Any]) -> ExchangeRecord:
    """An entry of ``GET /__admin/journal`` (bodies as text) back into an :class:`ExchangeRecord`."""
    def raw(key: str) -> bytes | None:
        value = item.get(key)
        return value.encode("utf-8") if isinstance(value, str) else None

    return ExchangeRecord(
        received_at=datetime.fromisoformat(item["received_at"]), endpoint=item["endpoint"],
        session_id=item["session_id"], outcome=item["outcome"], http_status=item["http_status"],
        duration_ms=item["duration_ms"], sender_id=item.get("sender_id"), service_id=item.get("service_id"),
        message_id=item.get("message_id"), correlation_id=item.get("correlation_id"),
        response_message_id=item.get("response_message_id"), remote=item.get("remote"),
        content_type=item.get("content_type"), verdicts=item.get("verdicts") or {}, timings=item.get("timings") or {},
        request=raw("request"), response=raw("response"), id=item.get("id"), scope=item.get("scope") or "default",
    )  # fmt: skip


async def _from_url(args: argparse.Namespace) -> AsyncIterator[ExchangeRecord]:
    params = {k: v for k, v in _filters(args).items() if k != "recorded"}
    params.update(limit=str(PAGE), bodies="true")
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(args.url.rstrip("/") + "/__admin/journal", params=params) as resp:
                body = await resp.json()
                if resp.status != 200:
                    raise RuntimeError(body.get("error", {}).get("message", f"HTTP {resp.status}"))
            for item in body["exchanges"]:
                yield record_from_json(item)
            if "nextBeforeId" not in body:
                return
            params["beforeId"] = str(body["nextBeforeId"])


async def export(args: argparse.Namespace) -> tuple[int, int]:
    """Write the recording; (exchanges written, entries skipped for lack of bodies)."""
    records: list[ExchangeRecord] = []
    source = _from_db(args) if args.db else _from_url(args)
    async for record in source:
        if args.recorded and not isinstance(record.verdicts.get("recording"), dict):
            continue
        records.append(record)
        if args.limit and len(records) >= args.limit:
            break
    records.reverse()  # oldest first: the order they happened in
    from shlyuz.replay.proxy import exchange_from_record

    header = fmt.new_header(fmt.Provenance(kind="journal-export", journal=str(args.db or args.url),
                                           filters=_filters(args)), datetime.now(UTC))  # fmt: skip
    written = skipped = 0
    with args.out.open("w", encoding="utf-8") as out:
        out.write(fmt.dump_line(header))
        for record in records:
            try:
                line = exchange_from_record(record, written + 1)
            except ValueError as exc:
                print(f"shlyuz journal export: skipped: {exc}", file=sys.stderr)
                skipped += 1
                continue
            written += 1
            out.write(fmt.dump_line(line))
    return written, skipped


def run_export(args: argparse.Namespace) -> int:
    try:
        written, skipped = asyncio.run(export(args))
    except (aiohttp.ClientError, RuntimeError, OSError) as exc:
        print(f"shlyuz journal export: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {written} exchange(s) to {args.out}" + (f" ({skipped} skipped: no bodies)" if skipped else ""))
    return 0
