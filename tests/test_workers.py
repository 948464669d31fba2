"""``shlyuz serve --workers N``: several processes on one port (SO_REUSEPORT) under a supervisor.

The servers here are real processes on 127.0.0.1. Nothing sleeps to synchronise: the tests wait on the banner, on
log lines (read by threads as they come, so no pipe ever fills) and on processes exiting, each wait bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shlyuz.client import SendMessage, payload
from shlyuz.fixtures.generate import DEMO_IINS
from shlyuz.shep import ns

REPO = Path(__file__).resolve().parents[1]
GBDFL = "GBDFL_UniversalServiceSync"

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing and /proc are Linux's"
)


class Server:
    """``shlyuz serve`` as a process; threads read its stdout and stderr line by line as they come."""

    def __init__(self, data_dir: Path, *args: str, new_session: bool = False) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHLYUZ_")}
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shlyuz", "serve", "--port", "0", "--data-dir", str(data_dir), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
            start_new_session=new_session,
        )  # fmt: skip
        self.out: list[str] = []
        self.events: list[dict[str, Any]] = []  # JSON log lines
        self.other: list[str] = []  # anything else on stderr
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self._on_out), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self._on_err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream, handle: Callable[[str], None]) -> None:
        for line in stream:
            with self._changed:
                handle(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _on_out(self, line: str) -> None:
        self.out.append(line)

    def _on_err(self, line: str) -> None:
        try:
            event = json.loads(line) if line.startswith("{") else None
        except ValueError:
            event = None
        (self.events.append(event) if isinstance(event, dict) else self.other.append(line))

    def wait_for(self, found: Callable[[], Any], what: str, timeout: float = 60) -> Any:
        """Block until ``found()`` is truthy (re-checked on every line read); fail if the server exits first."""
        with self._changed:
            deadline = time.monotonic() + timeout
            while not (result := found()):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not any(r.is_alive() for r in self._readers)):
                    raise AssertionError(f"no {what} within {timeout} s; stderr tail:\n" + self.stderr_tail())
                self._changed.wait(left)
            return result

    def _line(self, start: str) -> str | None:
        return next((line for line in self.out if line.startswith(start)), None)

    def banner(self, timeout: float = 60) -> str:
        """The URL of the banner's first line, once its `journal database` line is read too."""
        self.wait_for(lambda: self._line("  journal database"), "banner", timeout)
        assert self.out[0].startswith("shlyuz "), self.out
        return self.out[0].split("listening on ")[1].strip()

    @property
    def banner_pids(self) -> list[int]:
        """The pids on the banner's `workers` line (its last with --workers N)."""
        line = self.wait_for(lambda: self._line("  workers"), "the banner's workers line", 10)
        return [int(p) for p in line.split("pids ", 1)[1].split(", ")]

    def event(self, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 60) -> dict[str, Any]:
        return self.wait_for(lambda: next((e for e in self.events if predicate(e)), None), what, timeout)

    def stop(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=timeout)
        return code

    def stderr_tail(self, n: int = 30) -> str:
        lines = [json.dumps(e, ensure_ascii=False) for e in self.events[-n:]] + self.other[-n:]
        return "\n".join(lines)

    def close(self) -> None:
        """Teardown: whatever is left of this server (its supervisor and workers) is killed."""
        leftovers = live_workers(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def live_workers(supervisor_pid: int) -> list[int]:
    """Every live process started as a worker of ``supervisor_pid``, wherever it was re-parented."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--worker-of" in argv:
            i = argv.index(b"--worker-of")
            if i + 1 < len(argv) and argv[i + 1] == str(supervisor_pid).encode() and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


@pytest.fixture
def servers():
    started: list[Server] = []

    def start(data_dir: Path, *args: str, new_session: bool = False) -> Server:
        server = Server(data_dir, *args, new_session=new_session)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def gbdfl_request(message_id: str) -> bytes:
    body = payload(ns.GBDFL_MESSAGE, "Request", {"messageId": "1", "iin": DEMO_IINS["applicant"]})
    return SendMessage(GBDFL, body, message_id=message_id).to_bytes()


async def send_all(url: str, message_ids: list[str], *, fresh_connections: bool = False) -> dict[str, tuple[int, bytes]]:
    """POST one GBD FL request per messageId, all at once (the connector caps open connections at 100)."""
    connector = aiohttp.TCPConnector(limit=100, force_close=fresh_connections)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(mid: str) -> tuple[str, tuple[int, bytes]]:
            async with session.post(f"{url}/bip-sync/", data=gbdfl_request(mid),
                                    headers={"Content-Type": "text/xml; charset=utf-8"}) as resp:  # fmt: skip
                return mid, (resp.status, await resp.read())

        return dict(await asyncio.gather(*(one(mid) for mid in message_ids)))


def assert_all_scss001(replies: dict[str, tuple[int, bytes]]) -> None:
    from shlyuz.shep.events import Status, SyncResponse
    from shlyuz.shep.responses import read_sync_reply

    for mid, (status, body) in replies.items():
        assert status == 200, (mid, status, body[:300])
        parsed = read_sync_reply(body)
        assert isinstance(parsed, SyncResponse) and parsed.status is Status.SUCCESS, (mid, body[:300])


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session, session.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def exchange_workers(server: Server, message_ids: list[str], timeout: float = 30) -> dict[str, dict[str, Any]]:
    """messageId → its ``exchange`` log line (which carries ``worker`` and ``pid``), once all are read."""
    wanted = set(message_ids)

    def seen() -> dict[str, dict[str, Any]] | None:
        got = {e["messageId"]: e for e in server.events if e.get("event") == "exchange" and e.get("messageId") in wanted}
        return got if len(got) == len(wanted) else None

    return server.wait_for(seen, f"exchange log lines for {len(wanted)} messageIds", timeout)


def test_two_workers_share_one_port_and_one_journal(tmp_path, servers):
    server = servers(tmp_path / "var", "--workers", "2")
    url = server.banner()
    pids = server.banner_pids
    assert len(pids) == 2 and all(alive(p) for p in pids)
    assert sorted(live_workers(server.proc.pid)) == sorted(pids)

    message_ids = [f"workers-{i:03d}" for i in range(200)]
    replies = asyncio.run(send_all(url, message_ids))
    assert_all_scss001(replies)

    # Both workers served: every exchange log line names the process that answered (the `worker` field).
    served = exchange_workers(server, message_ids)
    by_worker = Counter(e["worker"] for e in served.values())
    assert set(by_worker) == {1, 2}, by_worker
    assert {e["pid"] for e in served.values()} == set(pids)

    # One journal for all: every messageId exactly once, whichever worker answers the query.
    journal = asyncio.run(get_json(f"{url}/__admin/journal?limit=1000&bodies=false"))
    counts = Counter(x["message_id"] for x in journal["exchanges"])
    assert counts == Counter({mid: 1 for mid in message_ids})
    assert {x["outcome"] for x in journal["exchanges"]} == {"SCSS001"}

    started = time.monotonic()
    assert server.stop(timeout=30) == 0
    stop_s = time.monotonic() - started
    assert stop_s < 30
    assert sum(1 for line in server.out if line.startswith("shlyuz ")) == 1  # the banner, printed once
    assert live_workers(server.proc.pid) == [] and not any(alive(p) for p in pids)  # no orphans
    stopped = [e for e in server.events if e.get("event") == "worker_stopped"]
    assert sorted(e["child_pid"] for e in stopped) == sorted(pids)
    assert all(e["exit"] == "exit code 0" for e in stopped)
    assert {e["worker"] for e in server.events if e.get("event") == "gateway_stopped"} == {1, 2}  # journal flushed
    assert all("worker" in e and "pid" in e for e in server.events)  # every log line says which process wrote it


def test_a_worker_killed_with_sigkill_is_replaced_and_the_gateway_keeps_answering(tmp_path, servers):
    server = servers(tmp_path / "var", "--workers", "2")
    url = server.banner()
    victim, survivor = server.banner_pids
    assert_all_scss001(asyncio.run(send_all(url, [f"before-{i}" for i in range(10)])))

    os.kill(victim, signal.SIGKILL)
    died = server.event(lambda e: e.get("event") == "worker_died" and e.get("child_pid") == victim, "worker_died")
    assert died["child"] == 1 and died["exit"] == "signal SIGKILL" and died["level"] == "error"
    assert not alive(victim)

    # The survivor answers meanwhile (new connections: the dead worker's listening socket is gone).
    assert_all_scss001(asyncio.run(send_all(url, [f"during-{i}" for i in range(20)], fresh_connections=True)))

    ready = server.event(
        lambda e: e.get("event") == "worker_ready" and e.get("child") == 1 and e.get("child_pid") != victim,
        "a replacement worker_ready",
    )
    replacement = ready["child_pid"]
    assert alive(replacement) and alive(survivor)
    assert sorted(live_workers(server.proc.pid)) == sorted([survivor, replacement])

    after = [f"after-{i:02d}" for i in range(60)]
    assert_all_scss001(asyncio.run(send_all(url, after, fresh_connections=True)))
    assert {e["pid"] for e in exchange_workers(server, after).values()} == {survivor, replacement}

    journal = asyncio.run(get_json(f"{url}/__admin/journal?limit=1000&bodies=false"))
    assert len(journal["exchanges"]) == 90 == len({x["message_id"] for x in journal["exchanges"]})
    assert server.stop() == 0
    assert live_workers(server.proc.pid) == []


def test_sigterm_while_workers_start_stops_everything_cleanly(tmp_path, servers):
    server = servers(tmp_path / "var", "--workers", "2")
    server.wait_for(lambda: sum(e.get("event") == "worker_started" for e in server.events) == 2, "worker_started x2")
    assert server.stop() == 0
    assert not any(line.startswith("shlyuz ") for line in server.out)  # no banner: it never served
    assert live_workers(server.proc.pid) == []
    assert next(e for e in server.events if e.get("event") == "supervisor_stopped")["clean"] is True


def test_one_worker_serves_in_process(tmp_path, servers):
    server = servers(tmp_path / "var", "--workers", "1")
    url = server.banner()
    assert server._line("  workers") is None
    assert live_workers(server.proc.pid) == []
    assert_all_scss001(asyncio.run(send_all(url, ["single-1"])))
    assert server.stop() == 0
    exchange = next(e for e in server.events if e.get("event") == "exchange")
    assert "worker" not in exchange  # the single-process logs are as they were


def test_a_port_in_use_is_refused_before_any_worker_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHLYUZ_")}
        result = subprocess.run(
            [sys.executable, "-m", "shlyuz", "serve", "--workers", "2", "--port", str(port), "--data-dir",
             str(tmp_path / "var")],
            check=False, capture_output=True, text=True, timeout=60, env=env, cwd=REPO,
        )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr


async def test_workers_that_keep_dying_at_start_make_the_supervisor_give_up(settings):
    from shlyuz.gateway import workers

    settings.port = 0
    settings.pki.enabled = False
    dying = [sys.executable, "-c", "import sys; sys.exit(3)"]
    supervisor = workers.Supervisor(settings, 2, command=lambda supervisor_pid, worker: dying)
    announced = []
    started = time.monotonic()
    code = await asyncio.wait_for(supervisor.run(lambda *args: announced.append(args)), 60)
    assert code == 1 and announced == []
    assert supervisor.failure is not None and f"died {workers.MAX_EARLY_DEATHS} times in a row" in supervisor.failure
    assert "exit code 3" in supervisor.failure
    assert time.monotonic() - started < 30


def test_the_workers_setting(monkeypatch):
    from shlyuz.config import ConfigError, load_settings

    for key in list(os.environ):
        if key.startswith("SHLYUZ_"):
            monkeypatch.delenv(key)
    assert load_settings().workers == (os.cpu_count() or 1)
    monkeypatch.setenv("SHLYUZ_WORKERS", "3")
    assert load_settings().workers == 3
    assert load_settings(workers=1).workers == 1  # --workers beats the environment
    with pytest.raises(ConfigError, match="workers"):
        load_settings(workers=0)
