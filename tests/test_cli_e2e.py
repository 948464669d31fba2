"""The real thing: ``shlyuz serve`` as a process on 127.0.0.1, ``shlyuz send`` and ``shlyuz journal`` against it,
and a graceful stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shlyuz.fixtures.generate import DEMO_IINS

REPO = Path(__file__).resolve().parents[1]


def shlyuz(*args: str, env=None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "shlyuz", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO
    )


@pytest.fixture
def server(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHLYUZ_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shlyuz", "serve", "--port", "0", "--data-dir", str(tmp_path / "var")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )
    try:
        first = proc.stdout.readline()  # blocks until the banner: the socket is bound by then
        assert first.startswith("shlyuz "), first + proc.stderr.read()
        url = first.split("listening on ")[1].strip()
        yield url, proc, tmp_path
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_send_journal_and_graceful_stop(server):
    url, proc, tmp = server
    iin = DEMO_IINS["applicant"]
    sent = shlyuz("send", "gbdfl", "--iin", iin, "--url", f"{url}/bip-sync/", "--message-id", "cli-1")
    assert sent.returncode == 0, sent.stderr
    first, rest = sent.stdout.split("\n", 1)
    assert first.startswith("HTTP 200 SCSS001 Message has been processed successfully")
    assert f"<iin>{iin}</iin>" in rest

    missing = shlyuz("send", "gbdfl", "--iin", "000201500015", "--url", f"{url}/bip-sync/", "-q")
    assert missing.returncode == 1 and missing.stdout.startswith("HTTP 200 SCSE001")

    refused = shlyuz("send", "gbdfl", "--iin", iin, "--url", f"{url}/bip-sync/", "--password", "bad", "-q")
    assert refused.returncode == 2 and "AUTH_FAILED" in refused.stdout

    table = shlyuz("journal", "--url", url, "--message-id", "cli-1")
    assert table.returncode == 0, table.stderr
    assert "cli-1" in table.stdout and "SCSS001" in table.stdout

    as_json = json.loads(shlyuz("journal", "--url", url, "--json", "--limit", "5").stdout)
    assert [e["outcome"] for e in as_json] == ["AUTH_FAILED", "SCSE001", "SCSS001"]

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    # the journal outlives the process and reads straight from the database
    offline = shlyuz("journal", "--db", str(tmp / "var" / "shlyuz.db"), "--outcome", "SCSS001")
    assert offline.returncode == 0 and "cli-1" in offline.stdout
    logs = proc.stderr.read()
    events = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    exchange = next(e for e in events if e.get("event") == "exchange" and e.get("messageId") == "cli-1")
    assert exchange["sessionId"].startswith("{") and exchange["outcome"] == "SCSS001"


def test_serve_refuses_a_bad_config(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("port = 'eighty'\n")
    result = shlyuz("serve", "--config", str(cfg))
    assert result.returncode == 2
    assert "port" in result.stderr and "Traceback" not in result.stderr


def test_config_file_and_environment_precedence(tmp_path, monkeypatch):
    from shlyuz.config import load_settings

    cfg = tmp_path / "shlyuz.toml"
    cfg.write_text("port = 9001\nutc_offset_hours = 6\n[limits]\nmax_body_bytes = 2048\n")
    monkeypatch.setenv("SHLYUZ_PORT", "9002")
    s = load_settings(cfg)
    assert s.port == 9002  # env beats the file
    assert s.utc_offset_hours == 6 and s.limits.max_body_bytes == 2048  # the file beats defaults
    assert load_settings(cfg, port=9003).port == 9003  # the command line beats both


async def test_serve_fixtures_option_adds_and_overrides_records(tmp_path, monkeypatch, session_pki):
    """`shlyuz serve --fixtures DIR`: an integrator's directory overrides records by key and adds senders."""
    from aiohttp.test_utils import TestClient, TestServer

    from shlyuz.cli import build_parser
    from shlyuz.client import SendMessage, payload
    from shlyuz.commands.serve import settings_from_args
    from shlyuz.gateway.app import build_gateway, create_app
    from shlyuz.shep import ns
    from shlyuz.shep.events import SyncResponse

    for key in list(os.environ):
        if key.startswith("SHLYUZ_"):
            monkeypatch.delenv(key)
    iin = DEMO_IINS["applicant"]
    own = tmp_path / "own"
    own.mkdir()
    persons = json.loads((REPO / "fixtures" / "persons.json").read_text())
    me = next(p for p in persons if p["iin"] == iin)
    me["surname"] = "Интеграторов"
    (own / "persons.json").write_text(json.dumps([me], ensure_ascii=False))
    (own / "senders.json").write_text(json.dumps([{"senderId": "MY_SYSTEM", "password": "s3cret",
                                                    "allowedServices": ["GBDFL_UniversalServiceSync"]}]))
    args = build_parser().parse_args(["serve", "--fixtures", str(own), "--data-dir", str(tmp_path / "var")])
    gateway = build_gateway(settings_from_args(args), pki=session_pki)
    assert len(gateway.fixtures.persons) == len(persons)  # overridden by key, not added twice
    async with TestClient(TestServer(create_app(gateway), host="127.0.0.1")) as client:
        body = payload(ns.GBDFL_MESSAGE, "Request", {"messageId": "1", "iin": iin})
        msg = SendMessage("GBDFL_UniversalServiceSync", body, sender_id="MY_SYSTEM", password="s3cret")
        resp = await client.post("/bip-sync/", data=msg.to_bytes(), headers={"Content-Type": "text/xml"})
        raw = await resp.read()
    assert resp.status == 200
    from shlyuz.shep.responses import read_sync_reply

    parsed = read_sync_reply(raw)
    assert isinstance(parsed, SyncResponse)
    assert "<surname>Интеграторов</surname>" in raw.decode()
