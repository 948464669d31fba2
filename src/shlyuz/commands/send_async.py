"""``shlyuz send async``: drive the SHEP AsyncChannel (``/bip-async/``) by hand.

::

    shlyuz send async request --service DEMO_ASYNC --data application.xml      # → messageId, correlationId
    shlyuz send async response --service DEMO_ASYNC --correlation-id ID --data decision.xml
    shlyuz send async status MESSAGE_ID
    shlyuz send async get --service DEMO_ASYNC [--message-id ID | --correlation-id ID] [--amount N]
    shlyuz send async ack --service DEMO_ASYNC MESSAGE_ID [--refuse [--resend]]

A payload file is sent byte for byte as an escaped XML string. Exit code 0 on an answer, 2 on a fault or an error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import aiohttp

from shlyuz.asyncch.client import AsyncChannelClient, AsyncFault
from shlyuz.commands.signing import IdentityError, add_identity_options, load_signer
from shlyuz.errors import ShlyuzError
from shlyuz.shep.async_events import MessageType

DEFAULT_URL = "http://127.0.0.1:8080/bip-async/"
TYPES = {"request": MessageType.REQUEST, "response": MessageType.RESPONSE,
         "notification": MessageType.NOTIFICATION, "update": MessageType.UPDATE}  # fmt: skip


def register_async(kinds: argparse._SubParsersAction) -> None:
    """Adds ``async`` to ``shlyuz send``."""
    p = kinds.add_parser("async", help="SHEP AsyncChannel: sendMessage, getMessages, getMessageStatus, sendDeliveryNotification")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    ops = p.add_subparsers(dest="operation", metavar="OPERATION")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--url", default=DEFAULT_URL, help=f"AsyncChannel endpoint (default {DEFAULT_URL})")
        q.add_argument("--sender", default="shlyuz-demo", help="sender/senderId (default shlyuz-demo)")
        q.add_argument("--password", default="demo-password", help="sender/password (default demo-password)")
        q.add_argument("--sign-as", metavar="IDENTITY", help="WS-Security signature over soap:Body as this PKI identity")
        add_identity_options(q)
        q.set_defaults(func=run)

    for name, mtype in TYPES.items():
        q = ops.add_parser(name, help=f"sendMessage with messageType {mtype.value}")
        common(q)
        q.add_argument("--service", required=True, help="messageInfo/serviceId")
        q.add_argument("--data", type=Path, help="file with the business document (sent byte for byte)")
        q.add_argument("--message-id", help="messageInfo/messageId: your own id (SHEP assigns its own)")
        if mtype is not MessageType.REQUEST:
            q.add_argument("--correlation-id", required=True, help="the REQUEST's messageId")
    q = ops.add_parser("status", help="getMessageStatus")
    common(q)
    q.add_argument("message_id", metavar="MESSAGE_ID")
    q = ops.add_parser("get", help="getMessages addressed to the sender")
    common(q)
    q.add_argument("--service", required=True, help="serviceId")
    q.add_argument("--message-id")
    q.add_argument("--correlation-id")
    q.add_argument("--amount", type=int)
    q = ops.add_parser("ack", help="sendDeliveryNotification")
    common(q)
    q.add_argument("--service", required=True, help="the message's serviceId")
    q.add_argument("message_id", metavar="MESSAGE_ID")
    q.add_argument("--refuse", action="store_true", help="MESSAGE_NOT_ACCTEPTED (default MESSAGE_ACCEPTED)")
    q.add_argument("--resend", action="store_true", help="with --refuse: ask SHEP to deliver it again")


async def _call(args: argparse.Namespace, sign_envelope) -> list[str]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        shep = AsyncChannelClient(args.url, args.sender, args.password, http, sign_envelope=sign_envelope)
        op = args.operation
        if op in TYPES:
            payload = args.data.read_bytes() if args.data else None
            r = await shep.send_message(args.service, TYPES[op], payload=payload, message_id=args.message_id,
                                        correlation_id=getattr(args, "correlation_id", None))  # fmt: skip
            return [f"HTTP {shep.last.http_status} accepted messageId {r.message_id} correlationId {r.correlation_id}"]
        if op == "status":
            s = await shep.get_message_status(args.message_id)
            since = s.status.status_date.isoformat(timespec="seconds")
            return [f"HTTP {shep.last.http_status} {s.state.value}: {s.status.status_message} (since {since})"]
        if op == "get":
            g = await shep.get_messages(args.service, message_id=args.message_id, correlation_id=args.correlation_id,
                                        amount=args.amount)  # fmt: skip
            lines = [f"HTTP {shep.last.http_status} {len(g.messages)} message(s)"]
            for m in g.messages:
                i = m.info
                lines.append(f"{i.message_type.value} {i.message_id} correlationId {i.correlation_id} from "
                             f"{i.sender.sender_id}")  # fmt: skip
                if m.text is not None:
                    lines.append(m.text)
            return lines
        n = await shep.send_delivery_notification(args.message_id, args.service, accepted=not args.refuse,
                                                  resend=args.resend)  # fmt: skip
        return [f"HTTP {shep.last.http_status} notification {n.notification_id} noted"]


def run(args: argparse.Namespace) -> int:
    try:
        signer = load_signer(args, args.sign_as) if args.sign_as else None
    except (OSError, ShlyuzError, IdentityError) as exc:
        print(f"shlyuz send async: {exc}", file=sys.stderr)
        return 2
    try:
        lines = asyncio.run(_call(args, signer.envelope if signer else None))
    except AsyncFault as exc:
        print(f"HTTP {exc.http_status} FAULT {exc.code}: {exc.fault.error.error_message if exc.fault.error else ''}")
        return 2
    except (aiohttp.ClientError, OSError) as exc:
        print(f"shlyuz send async: {args.url}: {exc}", file=sys.stderr)
        return 2
    except ShlyuzError as exc:
        print(f"shlyuz send async: the reply is not a SHEP message: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0
