"""``shlyuz run SERVICE``: run one channel of a service's chain and print its trace.

Without ``--url`` the chain runs in this process against an embedded gateway on the data directory (the same PKI,
fixtures, journal and record store as ``make serve``); with ``--url`` a running gateway runs it
(``POST /chains/{service}/runs``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import ValidationError

from shlyuz.config import ConfigError, load_settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a service's chain and print its trace",
                       description="Run one channel of a regulation's chain (docs/chains.md) and print the trace.")  # fmt: skip
    p.add_argument("service", help="service id or 2017 annex number (`shlyuz services` lists them)")
    p.add_argument("--channel", required=True, choices=["portal", "state-corp", "provider"])
    p.add_argument("--applicant", required=True, metavar="IIN|BIN")
    p.add_argument("--signer", metavar="IIN", help="for an employer (BIN): the employee who signs")
    p.add_argument("--representative", metavar="IIN", help="a representative acting for the applicant")
    p.add_argument("--poa", metavar="NUMBER", help="the representative's power of attorney (ENIS number)")
    p.add_argument("--procedure", help="the provider procedure / sub-flow to follow (e.g. annex 4: issue, extend)")
    p.add_argument("--sign-as", metavar="IDENTITY", help="PKI identity that signs the application (e.g. bad/revoked)")
    p.add_argument("--portal-password", help="check the portal login with this password")
    p.add_argument("--documents", help="comma-separated document ids submitted (default: the whole checklist)")
    p.add_argument("--decide", choices=["approve", "refuse", "wait"], default="approve")
    p.add_argument("--reason", help="the refusal's text")
    rules = p.add_argument_group("inputs of the rules with memory (docs/chains.md)")
    rules.add_argument("--changes", help="annex 1: comma-separated residence,family,income changed since an earlier application")
    rules.add_argument("--fee-paid-after", type=int, metavar="WD", help="annex 4: working days until the fee proof comes")
    rules.add_argument("--picked-up", choices=["yes", "no"], help="annex 4: the recipient came for the permit")
    rules.add_argument("--missing-documents", choices=["requested", "lost"], help="annex 6: documents missing")
    rules.add_argument("--documents-supplied-after", type=int, metavar="WD", help="annex 6: working days to supply them")
    rules.add_argument("--subflow", help="annex 7: recognition, certificate, duplicate or compensation")
    rules.add_argument("--extra-checks", action="store_true", help="annex 7: extra requests or checks (+1 month)")
    p.add_argument("--json", action="store_true", help="print the run as JSON")
    p.add_argument("--url", help="a running gateway (e.g. http://127.0.0.1:8080) instead of an embedded one")
    p.add_argument("--data-dir", type=Path, help="the embedded gateway's data directory (default var/)")
    p.add_argument("--config", type=Path)
    p.set_defaults(func=run)


def options_json(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": args.channel, "applicant": args.applicant, "decide": args.decide}
    for key, name in (("signer", "signer"), ("representative", "representative"), ("poa", "poa"),
                      ("procedure", "procedure"), ("sign_as", "signAs"), ("portal_password", "portalPassword"),
                      ("reason", "reason")):  # fmt: skip
        if getattr(args, key):
            body[name] = getattr(args, key)
    if args.documents is not None:
        body["documents"] = [d for d in args.documents.split(",") if d]
    if args.changes:
        body["changes"] = [c for c in args.changes.split(",") if c]
    for key, name in (("fee_paid_after", "feePaidAfterWorkingDays"), ("missing_documents", "missingDocuments"),
                      ("documents_supplied_after", "documentsSuppliedAfterWorkingDays"), ("subflow", "subflow")):  # fmt: skip
        if getattr(args, key) is not None:
            body[name] = getattr(args, key)
    if args.picked_up is not None:
        body["pickedUp"] = args.picked_up == "yes"
    if args.extra_checks:
        body["extraChecks"] = True
    return body


async def _embedded(args: argparse.Namespace) -> dict[str, Any]:
    from shlyuz.chains.driver import ChainDriver, RunOptions
    from shlyuz.gateway.app import build_gateway
    from shlyuz.services.loader import ServiceCatalogue

    from shlyuz.logs import configure_logging

    settings = load_settings(args.config, data_dir=args.data_dir)
    configure_logging("warning", settings.log_format)
    gateway = build_gateway(settings)
    catalogue = ServiceCatalogue.load()
    service = catalogue.find(args.service)
    await gateway.storage.open()
    await gateway.records.open()
    if gateway.async_channel is not None:  # the chain sends the application over the async channel
        await gateway.async_channel.start()
    try:
        driver = ChainDriver(gateway, {s.id: s for s in catalogue})
        return await driver.start(service.id, RunOptions.model_validate(options_json(args)))
    finally:
        if gateway.async_channel is not None:
            await gateway.async_channel.stop()
        await gateway.records.close()
        await gateway.storage.close()


async def _remote(args: argparse.Namespace) -> dict[str, Any]:
    url = f"{args.url.rstrip('/')}/chains/{args.service}/runs"
    async with aiohttp.ClientSession() as session, session.post(url, json=options_json(args)) as resp:
        body = await resp.json()
        if resp.status != 201:
            raise RuntimeError(f"{body.get('error', {}).get('code')}: {body.get('error', {}).get('message')}")
        return body


def table(record: dict[str, Any]) -> str:
    t = record["trace"]
    rows = [("ref", "start", "end", "duration", "branch", "calls")]
    for s in t["steps"]:
        calls = "; ".join(f"{c['system']}{'' if c['ok'] else ' FAIL'}" for c in s["calls"])
        rows.append((s["ref"], s["started_at"][5:16].replace("T", " "), s["ended_at"][5:16].replace("T", " "),
                     s["duration"], s["branch"] or "", calls))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    outcome = t["outcome"] or record["status"]
    if t.get("refusal"):
        outcome += f" {t['refusal']['code']}: {t['refusal']['text']}"
    total = " + ".join(f"{v} {k.replace('_', ' ')}" for k, v in t["regulation_total"].items()) or "0"
    lines.append("")
    lines.append(f"{record['id']} {record['service']} / {t['channel']}: {outcome}")
    lines.append(f"regulation time on this path: {total}; simulated: {t['working_days']} working days "
                 f"({t['started_at'][:16]} → {(t['ended_at'] or '')[:16]})")  # fmt: skip
    for d in t["deadlines"]:
        lines.append(f"deadline {d['total']} ({d['basis']}): {'met' if d['met'] else 'MISSED'}")
    if record["status"] == "waiting":
        lines.append(f"waiting for a decision at {record['waitingFor']}: POST /chains/runs/{record['id']}/decision")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        record = asyncio.run(_remote(args) if args.url else _embedded(args))
    except (ConfigError, ValidationError, RuntimeError, KeyError, ValueError) as exc:
        print(f"shlyuz run: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a ShlyuzError from the driver: its code and message
        code = getattr(getattr(exc, "code", None), "value", type(exc).__name__)
        print(f"shlyuz run: {code}: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    print(json.dumps(record, ensure_ascii=False, indent=2) if args.json else table(record))
    return 0
