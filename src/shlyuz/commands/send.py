"""``shlyuz send``: build a SHEP SendMessage, send it, print the reply."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import aiohttp
from lxml import etree

from shlyuz.client import SendMessage, payload, send
from shlyuz.commands.signing import IdentityError, add_identity_options, load_signer
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.errors import ShlyuzError
from shlyuz.shep import ns
from shlyuz.shep.events import Status
from shlyuz.shep.responses import Fault
from shlyuz.xml.safe import parse

DEFAULT_URL = "http://127.0.0.1:8080/bip-sync/"
WSS_URL = "http://127.0.0.1:8080/bip-sync-wss-gost/"


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
        q.add_argument("--sign-as", metavar="IDENTITY", help="WS-Security signature over soap:Body as this PKI identity")
        q.add_argument("--sign-data-as", metavar="IDENTITY", help="enveloped signature inside data as this PKI identity")
        q.add_argument("--wss", action="store_true", help=f"send to {WSS_URL} (WS-Security required); implies --sign-as "
                       "person/<demo applicant>/sign unless given")
        add_identity_options(q)
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

    from shlyuz.commands.send_async import register_async  # `shlyuz send async …`: the AsyncChannel (/bip-async/)

    register_async(kinds)


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
    wsse_identity = args.sign_as or (f"person/{DEMO_IINS['applicant']}/sign" if args.wss else None)
    if args.key and not (args.sign_as or args.sign_data_as or args.wss):
        raise IdentityError("--key/--cert sign nothing without --sign-as, --sign-data-as or --wss")
    msg.wsse_signer = load_signer(args, wsse_identity) if (wsse_identity or (args.key and args.wss)) else None
    msg.data_signer = load_signer(args, args.sign_data_as) if args.sign_data_as else None
    return msg


def reply_signatures(body: bytes) -> list[str]:
    """Verify the signatures the reply carries (cryptographically; trust is the gateway's business) and say so."""
    from shlyuz.dsig.certcheck import describe
    from shlyuz.dsig.enveloped import verify_enveloped
    from shlyuz.dsig.wsse import verify_envelope
    from shlyuz.shep.reader import payload_root
    from shlyuz.shep.responses import read_sync_reply

    lines = []
    root = parse(body)
    if root.find(f".//{{{ns.WSSE}}}Security") is not None:
        try:
            result = verify_envelope(root)
            lines.append(f"reply WS-Security signature: valid ({result.algorithm}), signer {describe(result.certificate)}")
        except ShlyuzError as exc:
            lines.append(f"reply WS-Security signature: INVALID: {exc}")
    parsed = read_sync_reply(body)
    data = payload_root(getattr(parsed, "payload", None))
    if data is not None and data.find(f"{{{ns.DS}}}Signature") is not None:
        try:
            result = verify_enveloped(data)
            lines.append(f"reply data signature: valid ({result.algorithm}), signer {describe(result.certificate)}")
        except ShlyuzError as exc:
            lines.append(f"reply data signature: INVALID: {exc}")
    return lines


def run(args: argparse.Namespace) -> int:
    try:
        message = build(args).to_bytes()
    except (OSError, ShlyuzError, IdentityError) as exc:
        print(f"shlyuz send: cannot build the request: {exc}", file=sys.stderr)
        return 2
    url = WSS_URL if args.wss and args.url == DEFAULT_URL else args.url
    try:
        reply = asyncio.run(send(url, message))
    except aiohttp.ClientError as exc:
        print(f"shlyuz send: {url}: {exc}", file=sys.stderr)
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
    for line in reply_signatures(reply.body):
        print(line)
    if not args.quiet:
        pretty = etree.tostring(parse(reply.body), pretty_print=True, encoding="unicode")
        print(pretty, end="")
    return rc
