"""``shlyuz ncalayer``: run the NCALayer emulator (docs/ncalayer.md)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from shlyuz.config import ConfigError, load_settings
from shlyuz.fixtures.store import FixtureError
from shlyuz.logs import configure_logging

DEFAULT_IDENTITY = "person/900101300017"  # the demo applicant (DEMO_IINS["applicant"])


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ncalayer",
        help="run the NCALayer emulator (wss://127.0.0.1:13579)",
        description="Run a WebSocket server speaking NCALayer's protocol (kz.gov.pki.knca.basics sign and the "
        "commonUtils methods) that signs for real with a test-PKI identity. TLS uses the PKI's tls/localhost "
        "certificate; trust DATA_DIR/pki/ca/root.pem in the browser or test runner.",
    )
    p.add_argument("--config", type=Path, help="TOML config file (default: $SHLYUZ_CONFIG)")
    p.add_argument("--data-dir", type=Path, help="where the test PKI lives (default var/; made on first use)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=13579, help="WebSocket port (default 13579, NCALayer's; 0: any)")
    p.add_argument("--identity", default=DEFAULT_IDENTITY,
                   help=f"who signs: a PKI identity or base name (default {DEFAULT_IDENTITY}; e.g. bad/revoked)")  # fmt: skip
    p.add_argument("--cancel", action="store_true", help="start in cancel mode: signing requests answer like Cancel")
    p.add_argument("--no-tls", action="store_true", help="plain ws:// instead of wss://")
    p.add_argument("--control-port", type=int, metavar="PORT",
                   help="also serve the HTTP control API (GET /, POST /identity) on this port (0: any)")  # fmt: skip
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument("--log-format", choices=["json", "console"])
    p.set_defaults(func=run)


async def serve(args: argparse.Namespace, settings, ready: asyncio.Event | None = None,
                stop: asyncio.Event | None = None) -> int:  # fmt: skip
    from shlyuz.clock import Clock
    from shlyuz.fixtures.store import load_dirs
    from shlyuz.gateway.app import open_pki
    from shlyuz.ncalayer.emulator import NoSuchIdentity
    from shlyuz.ncalayer.server import NcaLayer, start, tls_context

    pki = open_pki(settings, Clock(settings.tz), load_dirs(settings.fixture_dirs))
    try:
        state = NcaLayer.build(pki, args.identity, mode="cancel" if args.cancel else "sign")
    except NoSuchIdentity as exc:
        print(f"shlyuz ncalayer: {exc}", file=sys.stderr)
        return 2
    ctx = None if args.no_tls else tls_context(pki)
    try:
        running = await start(state, host=args.host, port=args.port, ssl_context=ctx, control_port=args.control_port)
    except OSError as exc:
        print(f"shlyuz ncalayer: cannot listen on {args.host}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    scheme = "ws" if args.no_tls else "wss"
    lines = [
        f"shlyuz NCALayer emulator on {scheme}://{args.host}:{running.port}/",
        f"  signs as          {state.default.identity} ({', '.join(state.emulator.keys_of(state.default.identity))})"
        + ("  [cancel mode]" if args.cancel else ""),
        f"  test PKI          {pki.directory}",
    ]
    if ctx is not None:
        lines.append(f"  TLS               tls/localhost; trust {pki.ca_pem_path('root')}")
    if running.control_port is not None:
        lines.append(f"  control           http://{args.host}:{running.control_port}/  (GET /, POST /identity)")
    print("\n".join(lines), flush=True)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await running.close()
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config, data_dir=args.data_dir, log_level=args.log_level,
                                 log_format=args.log_format)  # fmt: skip
    except ConfigError as exc:
        print(f"shlyuz ncalayer: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(serve(args, settings))
    except (FixtureError, ConfigError) as exc:
        print(f"shlyuz ncalayer: {exc}", file=sys.stderr)
        return 2
