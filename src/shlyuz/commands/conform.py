"""``shlyuz conform SUITE...``: run conformance scenarios against an embedded gateway or any URL."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import aiohttp

from shlyuz.config import ConfigError, load_settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("conform", help="run conformance scenarios (YAML) and report",
                       description="Run conformance scenarios against an embedded gateway (default) or --url.")  # fmt: skip
    p.add_argument("suites", nargs="*", type=Path, default=[Path("conformance")], help="scenario files or directories (default: conformance/)")
    p.add_argument("--url", help="a running gateway, e.g. http://127.0.0.1:8080 (default: start one in this process)")
    p.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    p.add_argument("--html", type=Path, metavar="FILE", help="write an HTML report with every exchange")
    p.add_argument("-k", dest="pattern", metavar="PATTERN", help="only scenarios whose file::name or tags match (substring or glob; 'not X')")
    p.add_argument("--jobs", type=int, default=4, metavar="N", help="scenarios run at the same time (default 4)")
    p.add_argument("--data-dir", type=Path, help="the gateway's data directory (its test PKI signs the requests; default var/)")
    p.add_argument("--config", type=Path)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _progress(done: int, total: int, failed: int, quiet: bool) -> None:
    if quiet or not sys.stderr.isatty() and done not in (total,):
        return
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}  ok {done - failed}  failed {failed}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


async def _main(args: argparse.Namespace) -> int:
    from shlyuz.conform.loader import ScenarioError, discover, select
    from shlyuz.conform.report import html_report, junit
    from shlyuz.conform.runner import Runner
    from shlyuz.fixtures.store import load_dirs
    from shlyuz.logs import configure_logging
    from shlyuz.pki.store import Pki

    try:
        loaded = select(discover(args.suites), args.pattern)
    except ScenarioError as exc:
        print(f"shlyuz conform: {exc}", file=sys.stderr)
        return 2
    if not loaded:
        print("shlyuz conform: no scenario matches", file=sys.stderr)
        return 2
    settings = load_settings(args.config, data_dir=args.data_dir)
    configure_logging("warning", settings.log_format)
    fixtures = load_dirs(settings.fixture_dirs)
    passwords = {sid: s.password for sid, s in fixtures.senders.items() if s.password}
    site_runner = None
    if args.url:
        base = args.url
        pki_dir = settings.data_dir / "pki"
        from shlyuz.clock import Clock

        pki = Pki.open(pki_dir, now=Clock(settings.tz).now()) if pki_dir.is_dir() else None
    else:
        from aiohttp import web

        from shlyuz.gateway.app import build_gateway, create_app

        settings.port = 0
        gateway = build_gateway(settings)
        pki = gateway.pki
        site_runner = web.AppRunner(create_app(gateway), access_log=None)
        await site_runner.setup()
        site = web.TCPSite(site_runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    outcomes = []
    failed = 0
    sem = asyncio.Semaphore(max(1, args.jobs))
    timeout = aiohttp.ClientTimeout(total=120)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            runner = Runner(base, http=http, pki=pki, passwords=passwords)

            async def one(item):
                nonlocal failed
                async with sem:
                    out = await runner.run(item)
                failed += not out.ok
                outcomes.append(out)
                _progress(len(outcomes), len(loaded), failed, args.quiet)
                return out

            results = await asyncio.gather(*(one(x) for x in loaded))
    finally:
        if site_runner is not None:
            await site_runner.cleanup()
    wall = time.perf_counter() - started
    if args.junit:
        args.junit.write_bytes(junit(results, wall_s=wall))
    if args.html:
        args.html.write_bytes(html_report(results, target=base if args.url else "an embedded gateway", wall_s=wall))
    for o in results:
        if not o.ok:
            bad = next(s for s in o.steps if not s.ok)
            print(f"FAIL {o.id} — step '{bad.name}': {'; '.join(bad.failures)}")
    print(f"{len(results) - failed} passed, {failed} failed, {len(results)} scenarios in {wall:.1f} s (jobs {args.jobs})")
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_main(args))
    except ConfigError as exc:
        print(f"shlyuz conform: {exc}", file=sys.stderr)
        return 2
