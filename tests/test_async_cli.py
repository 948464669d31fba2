"""`shlyuz send async` against a running `shlyuz serve` (2 workers): REQUEST, pull by an outside provider, RESPONSE,
status, delivery notification, a fault."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shlyuz(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shlyuz", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, check=False)  # fmt: skip


@pytest.fixture
def server(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHLYUZ_")}
    env["SHLYUZ_ASYNC_CHANNEL__PARTICIPANTS"] = json.dumps([{"participant_id": "ARM_TSON", "service_ids": ["DEMO_ASYNC"]}])
    proc = subprocess.Popen(
        [sys.executable, "-m", "shlyuz", "serve", "--port", "0", "--workers", "2", "--data-dir", str(tmp_path / "var")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        first = proc.stdout.readline()
        assert first.startswith("shlyuz "), first + proc.stderr.read()
        yield first.split("listening on ")[1].strip() + "/bip-async/", tmp_path
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_send_async_drives_a_whole_exchange(server):
    url, tmp = server
    doc = tmp / "application.xml"
    doc.write_bytes(b'<app:Application xmlns:app="urn:shlyuz:egov:application:1.0"><app:n>7</app:n></app:Application>')
    sent = shlyuz("send", "async", "request", "--url", url, "--service", "DEMO_ASYNC", "--data", str(doc))
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("HTTP 200 accepted messageId ")
    message_id = sent.stdout.split()[4]

    status = shlyuz("send", "async", "status", "--url", url, message_id)
    assert status.stdout.startswith("HTTP 200 ON_DELIVERY: The message is being delivered")

    tson = ("--sender", "ARM_TSON", "--password", "tson-password")
    got = shlyuz("send", "async", "get", "--url", url, *tson, "--service", "DEMO_ASYNC")
    lines = got.stdout.splitlines()
    assert lines[0] == "HTTP 200 1 message(s)"
    assert lines[1] == f"REQUEST {message_id} correlationId {message_id} from shlyuz-demo"
    assert lines[2] == doc.read_text()  # byte for byte

    ack = shlyuz("send", "async", "ack", "--url", url, *tson, "--service", "DEMO_ASYNC", message_id)
    assert ack.returncode == 0 and "noted" in ack.stdout
    answer = tmp / "decision.xml"
    answer.write_text("<decision>approved</decision>")
    resp = shlyuz("send", "async", "response", "--url", url, *tson, "--service", "DEMO_ASYNC",
                  "--correlation-id", message_id, "--data", str(answer))  # fmt: skip
    assert resp.returncode == 0 and f"correlationId {message_id}" in resp.stdout

    back = shlyuz("send", "async", "get", "--url", url, "--service", "DEMO_ASYNC", "--correlation-id", message_id)
    assert back.stdout.splitlines()[2] == "<decision>approved</decision>"
    status = shlyuz("send", "async", "status", "--url", url, message_id)
    assert status.stdout.startswith("HTTP 200 DELIVERED")

    wrong = shlyuz("send", "async", "response", "--url", url, "--service", "DEMO_ASYNC", "--correlation-id", message_id)
    assert wrong.returncode == 2 and wrong.stdout.startswith("HTTP 500 FAULT ASYNC_NOT_A_PARTY")
