"""``shlyuz replay FILE``: replay a recording and report the differences, or answer from it (``--serve``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from shlyuz.commands.record import parse_listen, run_app
from shlyuz.config import ConfigError, Settings, load_settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay a recording and compare, or answer from it (--serve)")
    p.add_argument("file", type=Path, help="a recording (JSONL: shlyuz record --out, shlyuz journal export)")
    p.add_argument("--against", metavar="URL", help="replay against this base URL (default: an embedded gateway)")
    p.add_argument("--resign", default="auto", metavar="IDENTITY|auto|none",
                   help="re-sign signed requests as this PKI identity; auto (default): the identity whose certificate "
                   "signed the original, by serial and subject in the test PKI")
    p.add_argument("--mask", action="append", default=[], metavar="XPATH",
                   help="also ignore what this XPath selects (elements, @attributes, text()); repeatable")
    p.add_argument("--ns", action="append", default=[], metavar="PREFIX=URI", help="a namespace prefix for --mask")
    p.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    p.add_argument("--serve", action="store_true", help="answer SHEP requests from the recording instead")
    p.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 8091), metavar="HOST:PORT",
                   help="--serve: where to listen (default 127.0.0.1:8091)")
    p.add_argument("--data-dir", type=Path, help="data directory with the test PKI (default var/)")
    p.add_argument("--at", type=datetime.fromisoformat, metavar="ISO",
                   help="the embedded gateway's (or --serve's) clock, fixed at this date-time with zone")
    p.add_argument("--scope", metavar="NAME",
                   help="replay in this isolated session (X-Shlyuz-Scope on every request); default: a fresh session "
                   "replay-<random> per run, so parallel replays never share state; 'default' for the default one")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    p.add_argument("--max-line-bytes", type=int, help="refuse recording lines longer than this")
    p.add_argument("--config", type=Path, help="shlyuz.toml")
    p.set_defaults(func=run)


def _masks(args: argparse.Namespace):
    from shlyuz.replay.xmldiff import Mask

    namespaces = {}
    for item in args.ns:
        prefix, sep, uri = item.partition("=")
        if not sep or not prefix or not uri:
            raise ValueError(f"--ns {item!r} is not PREFIX=URI")
        namespaces[prefix] = uri
    masks = [Mask(x, namespaces) for x in args.mask]
    for mask in masks:
        mask.compile()  # ValueError with the reason
    return masks


def _clock(settings: Settings, at: datetime | None):
    from shlyuz.clock import Clock, FixedClock

    if at is None:
        return Clock(settings.tz)
    if at.tzinfo is None:
        raise ValueError(f"--at {at.isoformat()} has no zone (write e.g. 2026-01-15T10:00:00+05:00)")
    return FixedClock(at)


def _open_pki(settings: Settings, clock) -> Any:
    directory = settings.data_dir / "pki"
    if not (directory / "index.json").exists():
        return None
    from shlyuz.pki.store import Pki

    return Pki.open(directory, now=clock.now())


def signer_resolver(pki: Any, resign: str):
    """(fact, which) -> Signer | None; raises LookupError with the reason when no identity fits."""
    from shlyuz.dsig.signer import signer_for
    from shlyuz.replay.signing import IdentityIndex

    if resign == "none":
        return None
    if pki is None:
        def missing(fact, which):
            raise LookupError(f"the request carries a {which} signature and there is no test PKI to re-sign it with "
                              "(--data-dir DIR with DIR/pki)")  # fmt: skip
        return missing
    index = IdentityIndex(pki)
    cache: dict[str, Any] = {}

    def resolve(fact, which):
        if resign != "auto":
            name = resign
        else:
            name = fact.identity if fact.identity and fact.identity in pki else index.resolve(fact)
            if name is None:
                raise LookupError(
                    f"no identity in {pki.directory} has the certificate that made the {which} signature "
                    f"(serial {fact.serial}, subject {fact.subject}): give --resign IDENTITY"
                )
        if name not in pki:
            raise LookupError(f"--resign {name!r}: no such identity in {pki.directory} (see `shlyuz pki list`)")
        if name not in cache:
            cache[name] = signer_for(pki, name)
        return cache[name]

    return resolve


@asynccontextmanager
async def embedded_gateway(settings: Settings, clock) -> AsyncIterator[tuple[str, Any]]:
    """A gateway on 127.0.0.1 (free port) with a journal of its own in a temporary directory."""
    from aiohttp import web

    from shlyuz.gateway.app import build_gateway, create_app

    with tempfile.TemporaryDirectory(prefix="shlyuz-replay-") as tmp:
        settings = settings.model_copy(update={"database": str(Path(tmp) / "replay.db")})
        gateway = build_gateway(settings, clock=clock)
        runner = web.AppRunner(create_app(gateway), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            yield f"http://{host}:{port}", gateway.pki
        finally:
            await runner.cleanup()


def _scope(name: str | None) -> str | None:
    """The session a replay runs in: ``name``; a fresh one by default; None (no header) for ``default``."""
    from shlyuz.gateway.sessions import valid_scope
    from shlyuz.storage.scope import DEFAULT_SCOPE

    if name is None:
        return f"replay-{uuid.uuid4().hex[:12]}"
    if name == DEFAULT_SCOPE:
        return None
    if not valid_scope(name):
        raise ConfigError(f"--scope {name!r}: 1-64 letters, digits, '-' or '_', starting with a letter or digit")
    return name


async def _replay(args, settings: Settings, recording, masks, scope: str | None) -> Any:
    from shlyuz.replay.runner import replay

    clock = _clock(settings, args.at)
    if args.against:
        pki = _open_pki(settings, clock)
        return await replay(recording, args.against, now=clock.now, signer_for=signer_resolver(pki, args.resign),
                            masks=masks, limits=settings.limits.xml(), timeout=args.timeout, scope=scope)  # fmt: skip
    async with embedded_gateway(settings, clock) as (url, pki):
        return await replay(recording, url, now=clock.now, signer_for=signer_resolver(pki, args.resign),
                            masks=masks, limits=settings.limits.xml(), timeout=args.timeout, scope=scope)  # fmt: skip


def _serve(args, settings: Settings, recording) -> int:
    from shlyuz.dsig.signer import signer_for
    from shlyuz.replay.serve import ReplayServer, create_replay_app

    clock = _clock(settings, args.at)
    pki = _open_pki(settings, clock)
    signer = signer_for(pki, "gateway") if pki is not None and "gateway" in pki else None
    server = ReplayServer(recording, clock=clock, signer=signer, limits=settings.limits.xml(),
                          schemas_dir=settings.schemas_dir)  # fmt: skip
    host, port = args.listen

    def banner(base: str) -> str:
        signed = "signed with the PKI's gateway identity" if signer else "not re-signed (no PKI)"
        return (f"shlyuz replay --serve: {base} answers from {args.file} ({len(recording.exchanges)} exchange(s));"
                f" replies to signed recordings are {signed}")  # fmt: skip

    try:
        asyncio.run(run_app(create_replay_app(server), host, port, banner))
    except OSError as exc:
        print(f"shlyuz replay: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace) -> int:
    from shlyuz.logs import configure_logging
    from shlyuz.replay.format import (
        DEFAULT_MAX_LINE_BYTES,
        RecordingError,
        read_recording,
    )

    try:
        settings = load_settings(args.config, data_dir=args.data_dir)
        masks = _masks(args)
        _clock(settings, args.at)
        scope = _scope(args.scope)
    except (ConfigError, ValueError) as exc:
        print(f"shlyuz replay: {exc}", file=sys.stderr)
        return 2
    configure_logging("warning" if not args.serve else settings.log_level, settings.log_format)
    try:
        with args.file.open("rb") as stream:
            recording = read_recording(stream, max_line_bytes=args.max_line_bytes or DEFAULT_MAX_LINE_BYTES)
    except OSError as exc:
        print(f"shlyuz replay: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except RecordingError as exc:
        print(f"shlyuz replay: {args.file}: {exc}", file=sys.stderr)
        return 2
    if args.serve:
        return _serve(args, settings, recording)
    try:
        report = asyncio.run(_replay(args, settings, recording, masks, scope))
    except ConfigError as exc:
        print(f"shlyuz replay: {exc}", file=sys.stderr)
        return 2
    print(f"session {scope or 'default'} (X-Shlyuz-Scope)")
    for line in report.lines():
        print(line)
    if args.junit:
        from shlyuz.replay.junit import junit_xml

        args.junit.write_bytes(junit_xml(report, suite=f"shlyuz replay {args.file.name}"))
    return 1 if report.failed else 0
