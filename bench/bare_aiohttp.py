"""Case (d) of bench/run.py: a bare aiohttp handler answering every POST with the same bytes (the anchor's
response.xml), in N processes sharing the port with SO_REUSEPORT.

    .venv/bin/python bench/bare_aiohttp.py --port 8099 --response /work/shared/bench-anchors/response.xml [--processes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
from pathlib import Path

from aiohttp import web


async def serve(port: int, body: bytes) -> None:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, headers={"Content-Type": "text/xml; charset=utf-8"})

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_port=True).start()
    print(f"bare aiohttp listening on http://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--response", type=Path, required=True)
    ap.add_argument("--processes", type=int, default=1)
    a = ap.parse_args()
    if a.processes == 1:
        asyncio.run(serve(a.port, a.response.read_bytes()))
        return
    # a supervisor: N children in this process group (the bench stops the group)
    cmd = [sys.executable, __file__, "--port", str(a.port), "--response", str(a.response)]
    children = [subprocess.Popen(cmd) for _ in range(a.processes)]
    signal.signal(signal.SIGTERM, lambda *_: [c.terminate() for c in children])
    for c in children:
        c.wait()


if __name__ == "__main__":
    main()
