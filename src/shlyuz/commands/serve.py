"""``shlyuz serve``: run the gateway."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from aiohttp import web

from shlyuz import __version__
from shlyuz.config import ConfigError, Settings, load_settings
from shlyuz.fixtures.store import FixtureError
from shlyuz.logs import configure_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the gateway", description="Run the SHEP gateway and its mocked systems.")
    p.add_argument("--config", type=Path, help="TOML config file (default: $SHLYUZ_CONFIG)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8080; 0 picks a free one)")
    p.add_argument("--data-dir", type=Path, help="journal and generated material (default var/)")
    p.add_argument(
        "--fixtures", type=Path, action="append", metavar="DIR",
        help="an extra fixture directory loaded after the built-in one (repeatable)",
    )
    p.add_argument(
        "--trust-ca", type=Path, action="append", metavar="PEM",
        help="also trust this CA certificate (PEM; repeatable), e.g. the CA of your own test certificates",
    )
    p.add_argument(
        "--upstream", action="append", metavar="SERVICE_ID=URL",
        help="serve SERVICE_ID by your own implementation at URL (a SHEP SyncChannel endpoint) instead of the "
        "built-in mock; repeatable; other options in systems.external (docs/systems/external.md)",
    )
    p.add_argument(
        "--workers", type=int, metavar="N",
        help="gateway processes sharing the port (default: the number of CPU cores; 1: serve in this process)",
    )
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument("--log-format", choices=["json", "console"])
    # how a supervisor starts its workers (shlyuz.gateway.workers); settings arrive on stdin
    p.add_argument("--worker-of", type=int, metavar="PID", help=argparse.SUPPRESS)
    p.add_argument("--worker-id", type=int, default=0, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = load_settings(
        args.config,
        host=args.host,
        port=args.port,
        workers=args.workers,
        data_dir=args.data_dir,
        extra_fixtures=args.fixtures,
        log_level=args.log_level,
        log_format=args.log_format,
    )
    for pem in args.trust_ca or ():
        if not pem.is_file():
            raise ConfigError(f"--trust-ca {pem}: no such file")
        settings.pki.trust_ca.append(pem)
    for item in args.upstream or ():
        add_upstream(settings, item)
    return settings


def add_upstream(settings: Settings, item: str) -> None:
    """``--upstream SERVICE_ID=URL``: the URL of systems.external.SERVICE_ID (its other settings kept or defaulted)."""
    from pydantic import ValidationError

    from shlyuz.config import ExternalSystemSettings

    service_id, sep, url = item.partition("=")
    service_id, url = service_id.strip(), url.strip()
    if not sep or not service_id or not url:
        raise ConfigError(f"--upstream {item!r}: expected SERVICE_ID=URL, e.g. GBDFL_UniversalServiceSync=http://127.0.0.1:9000/bip-sync/")
    current = settings.systems.external.get(service_id)
    try:
        data = {**(current.model_dump() if current is not None else {}), "url": url}
        settings.systems.external[service_id] = ExternalSystemSettings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"--upstream {item!r}: {exc.errors()[0]['msg']}") from None


def banner(settings: Settings, base: str, gateway) -> str:
    services = ", ".join(f"{sid} ({system.name})" for sid, system in gateway.registry)
    lines = [
        f"shlyuz {__version__} listening on {base}",
        f"  SHEP SyncChannel  POST {base}/bip-sync/   WSDL: {base}/bip-sync/?wsdl",
        f"  journal           GET  {base}/__admin/journal",
        f"  health            GET  {base}/healthz",
        f"  web console       {base}/ui/",
        *(
            [
                f"  WS-Security       POST {base}/bip-sync-wss-gost/   (signature required)",
                f"  test PKI          {settings.data_dir / 'pki'}  OCSP {base}/pki/ocsp  CRL {base}/pki/crl/issuing.crl",
            ]
            if gateway.pki is not None
            else []
        ),
        f"  services          {services}",
        f"  fixtures          {len(gateway.fixtures.persons)} persons, {len(gateway.fixtures.organisations)} organisations, "
        f"{len(gateway.fixtures.powers_of_attorney)} powers of attorney, {len(gateway.senders)} senders",
        f"  journal database  {settings.database_path}",
    ]
    return "\n".join(lines)


async def serve(settings: Settings, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    from shlyuz.gateway.app import build_gateway, create_app

    gateway = build_gateway(settings)
    app = create_app(gateway)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.shutdown_timeout, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_address=True)
    await site.start()
    host, port = runner.addresses[0][:2]
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before the banner: a SIGTERM right after it is a graceful stop
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    print(banner(settings, f"http://{host}:{port}", gateway), flush=True)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        print("shlyuz: shutting down (finishing in-flight requests)", file=sys.stderr, flush=True)
        await runner.cleanup()


def announce_workers(settings: Settings, base: str, gateway, pids: list[int]) -> None:
    """The banner of ``--workers N``: printed once, when every worker listens."""
    workers = f"  workers           {len(pids)} processes on one port (SO_REUSEPORT), pids {', '.join(map(str, pids))}"
    print(banner(settings, base, gateway) + "\n" + workers, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.worker_of is not None:
        from shlyuz.gateway.workers import run_worker

        return run_worker(args.worker_of, args.worker_id)
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"shlyuz: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        if settings.workers > 1:
            from shlyuz.gateway.workers import run_supervisor

            return run_supervisor(settings, announce_workers)
        asyncio.run(serve(settings))
    except FixtureError as exc:
        print(f"shlyuz: fixtures: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"shlyuz: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"shlyuz: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
