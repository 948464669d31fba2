"""``shlyuz sign``: sign an XML document (enveloped XMLDSig) or a SOAP envelope (WS-Security) as an identity."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lxml import etree

from shlyuz.commands.signing import IdentityError, add_identity_options, load_signer
from shlyuz.errors import ShlyuzError
from shlyuz.xml.safe import parse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sign",
        help="sign an XML file as a fixture identity",
        description="Sign FILE: --mode enveloped appends an enveloped ds:Signature to the document element (the "
        "business-data signature); --mode wsse adds a WS-Security signature over soap:Body (the transport "
        "signature). The identity is a test-PKI name (shlyuz pki list) or your own --key/--cert.",
    )
    p.add_argument("file", type=Path, help="the XML file ('-' for standard input)")
    p.add_argument("--as", dest="identity", help="PKI identity, e.g. person/900101300017/sign or bad/expired")
    p.add_argument("--mode", choices=["enveloped", "wsse"], default="enveloped")
    p.add_argument("-o", "--out", type=Path, help="output file (default: standard output)")
    add_identity_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        signer = load_signer(args, args.identity)
        if signer is None:
            raise IdentityError("say who signs: --as IDENTITY, or --key and --cert")
        raw = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
        root = parse(raw)
    except (IdentityError, OSError) as exc:
        print(f"shlyuz sign: {exc}", file=sys.stderr)
        return 2
    except ShlyuzError as exc:
        print(f"shlyuz sign: {args.file}: {exc}", file=sys.stderr)
        return 2
    try:
        root = signer.envelope(root) if args.mode == "wsse" else signer.data(root)
    except ShlyuzError as exc:
        print(f"shlyuz sign: {exc}", file=sys.stderr)
        return 2
    out = b"<?xml version='1.0' encoding='UTF-8'?>\n" + etree.tostring(root, encoding="utf-8")
    if args.out:
        args.out.write_bytes(out)
    else:
        sys.stdout.buffer.write(out + b"\n")
    return 0
