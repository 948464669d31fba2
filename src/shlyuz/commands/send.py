"""``shlyuz send``: build a SHEP SendMessage, send it, print the reply."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import aiohttp
from lxml import etree

from shlyuz.client import SendMessage, payload, send
from shlyuz.errors import ShlyuzError
from shlyuz.shep import ns
from shlyuz.shep.events import Status
from shlyuz.shep.responses import Fault
from shlyuz.xml.safe import parse

DEFAULT_URL = "http://127.0.0.1:8080/bip-sync/"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("send", help="send a SHEP SendMessage and print the reply")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    kinds = p.add_subparsers(dest="kind", metavar="SYSTEM")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--url", default=DEFAULT_URL, help=f"SyncChannel endpoint (default {DEFAULT_URL})")
        q.add_argument("--sender", default="shlyuz-demo", help="sender/senderId (default shlyuz-demo)")
        q.add_argument("--password", default="demo-password", help="sender/password (default demo-password)")
        q.add_argument("--escaped", action="store_true", help="send data as an escaped XML string")
        q.add_argument("--message-id", help="requestInfo/messageId (default: a new UUID)")
        q.add_argument("--quiet", "-q", action="store_true", help="print only the status line")
        q.set_defaults(func=run)

    g = kinds.add_parser("gbdfl", help="GBD FL person search (GBDFL_UniversalServiceSync)")
    common(g)
    g.add_argument("--iin")
    g.add_argument("--surname")
    g.add_argument("--name")
    g.add_argument("--patronymic")
    g.add_argument("--birth-date", help="YYYY-MM-DD")
    g.add_argument("--birth-from", help="YYYY-MM-DD")
    g.add_argument("--birth-to", help="YYYY-MM-DD")
    g.add_argument("--document", help="identity document number")

    e = kinds.add_parser("enis", help="ENIS power-of-attorney check (ENIS_POA_CHECK)")
    common(e)
    e.add_argument("--poa", help="power of attorney number")
    e.add_argument("--principal", help="principal IIN (or BIN with --principal-bin)")
    e.add_argument("--principal-bin")
    e.add_argument("--attorney", help="attorney IIN")
    e.add_argument("--check-date", help="YYYY-MM-DD (default: today on the gateway)")

    r = kinds.add_parser("raw", help="any serviceId with a payload from a file")
    common(r)
    r.add_argument("--service", required=True, help="requestInfo/serviceId")
    r.add_argument("--data", type=Path, help="XML file with the payload's root element")


def build(args: argparse.Namespace) -> SendMessage:
    if args.kind == "gbdfl":
        service = "GBDFL_UniversalServiceSync"
        body = payload(ns.GBDFL_MESSAGE, "Request", {
            "messageId": args.message_id or "1", "senderCode": args.sender, "iin": args.iin,
            "surname": args.surname, "name": args.name, "patronymic": args.patronymic,
            "birthDate": args.birth_date, "birthDateFrom": args.birth_from, "birthDateTo": args.birth_to,
            "documentNumber": args.document,
        })
    elif args.kind == "enis":
        service = "ENIS_POA_CHECK"
        body = payload(ns.ENIS_POA, "PoaCheckRequest", {
            "messageId": args.message_id or "1", "senderCode": args.sender, "poaNumber": args.poa,
            "principalIin": args.principal, "principalBin": args.principal_bin, "attorneyIin": args.attorney,
            "checkDate": args.check_date,
        })
    else:
        service = args.service
        body = parse(args.data.read_bytes()) if args.data else None
    msg = SendMessage(service_id=service, payload=body, sender_id=args.sender, password=args.password, escaped=args.escaped)
    if args.message_id:
        msg.message_id = args.message_id
    return msg


def run(args: argparse.Namespace) -> int:
    try:
        message = build(args).to_bytes()
    except (OSError, ShlyuzError) as exc:
        print(f"shlyuz send: cannot build the request: {exc}", file=sys.stderr)
        return 2
    try:
        reply = asyncio.run(send(args.url, message))
    except aiohttp.ClientError as exc:
        print(f"shlyuz send: {args.url}: {exc}", file=sys.stderr)
        return 2
    except ShlyuzError as exc:
        print(f"shlyuz send: the reply is not a SHEP message: {exc}", file=sys.stderr)
        return 2
    parsed = reply.parsed
    if isinstance(parsed, Fault):
        code = parsed.error.error_code if parsed.error else "?"
        print(f"HTTP {reply.http_status} FAULT {parsed.faultcode} {code}: {parsed.error.error_message if parsed.error else parsed.faultstring}")
        rc = 2
    else:
        print(f"HTTP {reply.http_status} {parsed.status.value} {parsed.status_message} (sessionId {parsed.session_id})")
        rc = 0 if parsed.status is Status.SUCCESS else 1
    if not args.quiet:
        pretty = etree.tostring(parse(reply.body), pretty_print=True, encoding="unicode")
        print(pretty, end="")
    return rc
