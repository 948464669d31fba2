"""`shlyuz record` and `shlyuz replay --serve` as processes: they listen, print where, record/answer, and stop with
exit code 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from conftest import GATEWAY_NOW

from shlyuz.client import SendMessage, payload, send
from shlyuz.clock import FixedClock
from shlyuz.config import load_settings
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.gateway.app import build_gateway, create_app
from shlyuz.replay.format import read_recording
from shlyuz.shep import ns

APPLICANT = DEMO_IINS["applicant"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHLYUZ_")}
    env["SHLYUZ_LOG_LEVEL"] = "warning"
    return env


async def start(*args: str, cwd: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shlyuz", *args, cwd=cwd, env=_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    line = (await proc.stdout.readline()).decode()
    found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
    assert found, line + (await proc.stderr.read()).decode()
    return proc, found.group(1)


async def stop(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGTERM)
    return await proc.wait()


def gbdfl() -> bytes:
    return SendMessage("GBDFL_UniversalServiceSync",
                       payload(ns.GBDFL_MESSAGE, "Request", {"messageId": "1", "iin": APPLICANT})).to_bytes()  # fmt: skip


async def test_record_then_serve_as_processes(app_client, tmp_path, session_pki):
    gw = build_gateway(load_settings(data_dir=tmp_path / "up"), clock=FixedClock(GATEWAY_NOW), pki=session_pki)
    upstream = str((await app_client(create_app(gw))).make_url("")).rstrip("/")
    out = tmp_path / "live.jsonl"
    proc, base = await start("record", "--upstream", upstream, "--listen", "127.0.0.1:0", "--out", str(out),
                             "--data-dir", str(tmp_path / "rec"), cwd=tmp_path)  # fmt: skip
    try:
        reply = await send(base + "/bip-sync/", gbdfl())
    finally:
        assert await stop(proc) == 0
    assert reply.parsed.status.value == "SCSS001"
    recording = read_recording(out.open("rb"))
    assert [e.outcome for e in recording.exchanges] == ["SCSS001"]
    assert (tmp_path / "rec" / "shlyuz.db").exists()  # the journal, with the recording marker

    proc, base = await start("replay", str(out), "--serve", "--listen", "127.0.0.1:0",
                             "--data-dir", str(tmp_path / "none"), cwd=tmp_path)  # fmt: skip
    try:
        served = await send(base + "/bip-sync/", gbdfl())
        wsdl_ok = b"SendMessage" in (await _get(base + "/bip-sync/?wsdl"))
    finally:
        assert await stop(proc) == 0
    assert served.parsed.status.value == "SCSS001" and served.parsed.message_id != recording.exchanges[0].message_ids.response
    assert wsdl_ok


async def _get(url: str) -> bytes:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return await resp.read()
