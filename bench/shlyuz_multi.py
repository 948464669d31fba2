"""N shlyuz gateway processes on one port (SO_REUSEPORT), for bench/run.py while ``shlyuz serve --workers N`` does
not exist yet. Each process builds the gateway exactly as ``shlyuz serve`` does (``build_gateway`` +
``create_app``), sharing one data dir (PKI and SQLite journal); only the listening socket differs (reuse_port).
The children start one after another, each once the previous one listens (the PKI and the journal schema are
made once). Not a product feature: a measuring aid.

    .venv/bin/python bench/shlyuz_multi.py --port 8090 --data-dir /tmp/x --processes 2
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
from pathlib import Path

from aiohttp import web


async def child(port: int, data_dir: Path, log_level: str) -> None:
    from shlyuz.config import load_settings
    from shlyuz.gateway.app import build_gateway, create_app
    from shlyuz.logs import configure_logging

    settings = load_settings(port=port, data_dir=data_dir, log_level=log_level)
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(build_gateway(settings))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.shutdown_timeout, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, settings.host, port, reuse_address=True, reuse_port=True).start()
    print(f"shlyuz worker listening on http://{settings.host}:{port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--child", action="store_true")
    a = ap.parse_args()
    if a.child:
        asyncio.run(child(a.port, a.data_dir, a.log_level))
        return 0
    cmd = [sys.executable, __file__, "--child", "--port", str(a.port), "--data-dir", str(a.data_dir),
           "--log-level", a.log_level]  # fmt: skip
    children: list[subprocess.Popen] = []
    signal.signal(signal.SIGTERM, lambda *_: [c.terminate() for c in children])
    for i in range(a.processes):
        c = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        children.append(c)
        for line in c.stdout:  # type: ignore[union-attr]
            if "listening on" in line:
                break
        else:
            print(f"shlyuz_multi: worker {i} exited ({c.wait()})", file=sys.stderr)
            for other in children:
                other.terminate()
            return 1
    print(f"shlyuz (bench launcher, {a.processes} processes) listening on http://127.0.0.1:{a.port}", flush=True)
    for c in children:
        c.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
