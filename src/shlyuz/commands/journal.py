"""``shlyuz journal``: list journaled exchanges, from a running gateway or straight from the database."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from shlyuz.clock import KZ
from shlyuz.replay.export import register_export
from shlyuz.storage.base import JournalQuery
from shlyuz.storage.sqlite import SqliteStorage


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("journal", help="list journaled exchanges")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--url", default="http://127.0.0.1:8080", help="a running gateway (default http://127.0.0.1:8080)")
    src.add_argument("--db", type=Path, help="read this SQLite journal directly instead (e.g. var/shlyuz.db)")
    p.add_argument("--message-id")
    p.add_argument("--service")
    p.add_argument("--sender")
    p.add_argument("--session", help="the SHEP sessionId")
    p.add_argument("--scope", help="the isolated session (X-Shlyuz-Scope) the exchanges belong to")
    p.add_argument("--outcome", help="SCSS001, SCSE001 or an error code")
    p.add_argument("--since", type=datetime.fromisoformat, help="ISO date-time with zone")
    p.add_argument("--until", type=datetime.fromisoformat, help="ISO date-time with zone")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true", help="print JSON (with bodies) instead of a table")
    p.set_defaults(func=run)
    register_export(p)  # `shlyuz journal export` (docs/record-replay.md)


async def _from_url(args: argparse.Namespace) -> list[dict[str, Any]]:
    params = {
        k: v
        for k, v in {
            "messageId": args.message_id, "serviceId": args.service, "sender": args.sender,
            "sessionId": args.session, "scope": args.scope, "outcome": args.outcome,
            "from": args.since.isoformat() if args.since else None,
            "to": args.until.isoformat() if args.until else None,
            "limit": str(args.limit), "bodies": "true" if args.json else "false",
        }.items()
        if v is not None
    }
    async with aiohttp.ClientSession() as session:
        async with session.get(args.url.rstrip("/") + "/__admin/journal", params=params) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise RuntimeError(body.get("error", {}).get("message", f"HTTP {resp.status}"))
            return body["exchanges"]


async def _from_db(args: argparse.Namespace) -> list[dict[str, Any]]:
    if not args.db.exists():
        raise RuntimeError(f"{args.db} does not exist")
    storage = SqliteStorage(args.db)
    await storage.open()
    try:
        records = await storage.query_exchanges(
            JournalQuery(
                message_id=args.message_id, service_id=args.service, sender_id=args.sender,
                session_id=args.session, scope=args.scope, outcome=args.outcome, since=args.since, until=args.until,
                limit=args.limit,
            )
        )
    finally:
        await storage.close()
    return [r.to_json(bodies=args.json, tz=KZ) for r in records]


def run(args: argparse.Namespace) -> int:
    try:
        rows = asyncio.run(_from_db(args) if args.db else _from_url(args))
    except (aiohttp.ClientError, RuntimeError) as exc:
        print(f"shlyuz journal: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    scopes = any(r.get("scope", "default") != "default" for r in rows)  # the column only when sessions are in it
    header = ("id", "received", *(("scope",) if scopes else ()), "sender", "serviceId", "messageId", "outcome", "ms")
    table = [header] + [
        (
            str(r["id"]), r["received_at"].replace("T", " "), *((r.get("scope") or "default",) if scopes else ()),
            r["sender_id"] or "-", r["service_id"] or "-", (r["message_id"] or "-")[:36], r["outcome"],
            f"{r['duration_ms']:.1f}",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0
