"""``shlyuz record --upstream URL``: a recording proxy in front of any SHEP endpoint (docs/record-replay.md)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

from aiohttp import web

from shlyuz.config import ConfigError, load_settings


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not (0 <= int(port) <= 65535):
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:8090; port 0 picks a free one)")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("record", help="proxy SHEP traffic to an upstream and record every exchange")
    p.add_argument("--upstream", required=True, help="the SHEP endpoint's base URL, e.g. http://gw:8080 (the "
                   "client's path /bip-sync/ ... is appended)")
    p.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 8090), metavar="HOST:PORT",
                   help="where clients connect (default 127.0.0.1:8090)")
    p.add_argument("--out", type=Path, help="also write the recording (JSONL, docs/record-replay.md) as it goes")
    p.add_argument("--db", type=Path, help="the journal database (default: the gateway's, DATA_DIR/shlyuz.db)")
    p.add_argument("--data-dir", type=Path, help="data directory (default var/): journal, and the PKI used to name "
                   "the identities that signed")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the upstream (default 30)")
    p.add_argument("--config", type=Path, help="shlyuz.toml (limits.max_body_bytes caps both directions)")
    p.set_defaults(func=run)


def pki_namer(data_dir: Path) -> Callable | None:
    """Names the PKI identity whose certificate (same serial and subject) signed, when DATA_DIR/pki exists."""
    directory = data_dir / "pki"
    if not (directory / "index.json").exists():
        return None
    from datetime import datetime

    from shlyuz.pki.store import Pki

    pki = Pki.open(directory, now=datetime.now(UTC))
    by_serial = {r.serial: r for r in pki.records()}

    def name_of(fact) -> str | None:
        if fact.serial is None:
            return None
        rec = by_serial.get(int(fact.serial, 16))
        return rec.name if rec is not None and (fact.subject is None or rec.subject == fact.subject) else None

    return name_of


async def run_app(app: web.Application, host: str, port: int, banner: Callable[[str], str],
                  stop: asyncio.Event | None = None) -> None:  # fmt: skip
    """Serve ``app`` until SIGINT/SIGTERM (or ``stop``); print ``banner(base_url)`` once listening."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        print(banner(f"http://{bound_host}:{bound_port}"), flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def run(args: argparse.Namespace) -> int:
    from shlyuz.clock import Clock
    from shlyuz.logs import configure_logging
    from shlyuz.replay.proxy import RecordConfig, RecordProxy, create_record_app
    from shlyuz.storage.sqlite import SqliteStorage

    if not args.upstream.startswith(("http://", "https://")):
        print(f"shlyuz record: --upstream {args.upstream!r} is not an http(s) URL", file=sys.stderr)
        return 2
    try:
        settings = load_settings(args.config, data_dir=args.data_dir, database=str(args.db) if args.db else None)
    except ConfigError as exc:
        print(f"shlyuz record: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    host, port = args.listen
    config = RecordConfig(upstream=args.upstream, timeout=args.timeout, max_body_bytes=settings.limits.max_body_bytes,
                          limits=settings.limits.xml())  # fmt: skip
    try:
        out = args.out.open("w", encoding="utf-8") if args.out else None
    except OSError as exc:
        print(f"shlyuz record: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    clock = Clock(settings.tz)
    storage = SqliteStorage(settings.database_path, retention=settings.journal.retention(), now=clock.now)
    proxy = RecordProxy(config, storage=storage, clock=clock, out=out, name_of=pki_namer(settings.data_dir),
                        listen=f"{host}:{port}")  # fmt: skip

    def banner(base: str) -> str:
        lines = [
            f"shlyuz record: {base} -> {args.upstream}",
            f"  journal  {settings.database_path} (recorded entries carry verdicts.recording)",
        ]
        if args.out:
            lines.append(f"  writing  {args.out}")
        return "\n".join(lines)

    try:
        asyncio.run(run_app(create_record_app(proxy), host, port, banner))
    except OSError as exc:
        print(f"shlyuz record: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        if out is not None:
            out.close()
    return 0
