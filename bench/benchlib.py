"""Shared helpers of bench/run.py and bench/soak.py: install the tools, start and stop servers in their own process
groups, read CPU time and RSS from /proc, run wrk, build the shlyuz request bodies.

Nothing here changes the product: shlyuz is started as ``shlyuz serve`` (or, for several processes while
``serve --workers`` does not exist, by bench/shlyuz_multi.py on the product's public API).
"""

from __future__ import annotations

import atexit
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CACHE = BENCH / ".cache"
ANCHORS = Path(os.environ.get("BENCH_ANCHORS", "/work/shared/bench-anchors"))
PY = Path(sys.executable)
SHLYUZ = PY.parent / "shlyuz"
WIREMOCK_VERSION = "3.13.2"
CLK_TCK = os.sysconf("SC_CLK_TCK")
GBDFL_SERVICE = "GBDFL_UniversalServiceSync"
SYNC, WSS = "/bip-sync/", "/bip-sync-wss-gost/"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- tools -----------------------------------------------------------------------------------------------------


def _apt_install(*packages: str) -> None:
    log(f"installing {' '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-q", *packages], env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", *packages], env=env, check=True)


def ensure_wrk() -> str:
    if not shutil.which("wrk"):
        _apt_install("wrk")
    return shutil.which("wrk") or sys.exit("wrk is not installed and apt-get could not install it")


def ensure_wiremock() -> tuple[str, Path]:
    """java and the WireMock standalone jar from the npm package ``wiremock`` (installed in bench/.cache)."""
    if not shutil.which("java"):
        _apt_install("openjdk-17-jre-headless")
    pattern = f"wiremock-standalone-{WIREMOCK_VERSION}.jar"
    jars = sorted((CACHE / "node_modules" / "wiremock").rglob(pattern)) if CACHE.exists() else []
    if not jars:
        if not shutil.which("npm"):
            _apt_install("npm")
        CACHE.mkdir(parents=True, exist_ok=True)
        log(f"npm install --prefix {CACHE} wiremock@{WIREMOCK_VERSION}")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE),
                        f"wiremock@{WIREMOCK_VERSION}"], check=True)  # fmt: skip
        jars = sorted((CACHE / "node_modules" / "wiremock").rglob(pattern))
    if not jars:
        sys.exit(f"no {pattern} inside the npm package wiremock")
    return shutil.which("java") or "java", jars[0]


def serve_has_workers() -> bool:
    """Whether ``shlyuz serve`` takes ``--workers N`` (it does since commit 25c8b7f)."""
    out = subprocess.run([str(SHLYUZ), "serve", "--help"], capture_output=True, text=True).stdout
    return "--workers" in out


# --- processes -------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_tree(root: int) -> list[int]:
    """``root`` and all its descendants (from the ppid field of /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """user + system CPU of these processes (all threads), seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLK_TCK


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


_LIVE: list["Server"] = []


def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP end the bench through its finally blocks (servers stopped); atexit catches the rest."""

    def bye(signum, _frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, bye)
    atexit.register(_stop_all)


class Server:
    """A server in its own process group, its output in ``log_path``; ``stop()`` ends the whole group."""

    def __init__(self, name: str, cmd: list[str], log_path: Path, ready: str, port: int, env: dict | None = None,
                 cwd: Path | None = None) -> None:  # fmt: skip
        self.name, self.cmd, self.log_path, self.ready, self.port = name, cmd, log_path, ready, port
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "wb")
        log(f"start {name}: {' '.join(cmd)}")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env=env, cwd=cwd)  # fmt: skip
        _LIVE.append(self)

    def wait_ready(self, timeout: float = 180.0) -> "Server":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}): {self.tail()}")
            if self.ready.encode() in self.log_path.read_bytes():
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return self
                except OSError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s: {self.tail()}")

    def tail(self, n: int = 1500) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def pids(self) -> list[int]:
        return proc_tree(self.proc.pid) if self.proc.poll() is None else []

    def stop(self, grace: float = 15.0) -> None:
        if self in _LIVE:
            _LIVE.remove(self)
        if self.proc.poll() is not None:
            log(f"{self.name} had already exited with {self.proc.returncode}; the end of its log: {self.tail(600)}")
        else:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        try:  # a child that outlived its parent in the same group
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()
        log(f"stopped {self.name}")

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def post(url: str, body: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- wrk -------------------------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    server_cpu_s: float = 0.0
    wrk_cpu_s: float = 0.0
    other_cpu_s: float = 0.0  # the rest of the machine (other users' processes) during the run
    rss_bytes: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def cpu_ms_per_req(self) -> float:
        return 1000 * self.server_cpu_s / self.requests if self.requests else float("nan")


def machine_busy_seconds() -> float:
    """All CPUs' non-idle time since boot (/proc/stat), seconds."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / CLK_TCK  # minus idle and iowait; guest time is inside user


def wait_quiet(threshold: float, timeout: float, window: float = 2.0) -> bool:
    """Wait until the machine's busy CPU over ``window`` seconds is at most ``threshold`` cores (other users' test
    runs share this machine); False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        b0 = machine_busy_seconds()
        time.sleep(window)
        busy = (machine_busy_seconds() - b0) / window
        if busy <= threshold:
            return True
        if time.monotonic() > deadline:
            log(f"machine still busy ({busy:.2f} cores) after {timeout:.0f} s: measuring anyway")
            return False
        log(f"waiting for a quiet machine: {busy:.2f} cores busy")
        time.sleep(8)


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_wrk(wrk: str, url: str, script: Path, env: dict[str, str], *, conns: int, duration: float, threads: int = 2,
            server: Server | None = None) -> WrkResult:  # fmt: skip
    """One bounded wrk run (127.0.0.1 only); the server's CPU is read from /proc before and after."""
    assert url.startswith("http://127.0.0.1:"), url
    cmd = [wrk, f"-t{min(threads, conns)}", f"-c{conns}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
           "-s", str(script), url]  # fmt: skip
    pids = server.pids() if server else []
    cpu0, wrk0, busy0, wall0 = cpu_seconds(pids), _children_cpu(), machine_busy_seconds(), time.monotonic()
    out = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True,
                         timeout=duration + 60, cwd=script.parent)  # fmt: skip
    wrk_cpu, busy, wall = _children_cpu() - wrk0, machine_busy_seconds() - busy0, time.monotonic() - wall0
    pids = server.pids() if server else pids
    cpu1, rss = cpu_seconds(pids), rss_bytes(pids)
    # the rest of the machine, scaled to wrk's measuring window (the process lives a little longer than -d)
    other = min(max(0.0, busy - wrk_cpu - (cpu1 - cpu0)), wall * (os.cpu_count() or 1)) * duration / max(wall, duration)
    m = re.search(r"^RESULT (.*)$", out.stdout, re.M)
    if out.returncode != 0 or not m:
        dead = f"; {server.name} exited with {server.proc.returncode}" if server and server.proc.poll() is not None else ""
        raise RuntimeError(f"wrk failed ({out.returncode}){dead}: {out.stdout[-800:]} {out.stderr[-800:]}")
    kv = {k: float(v) for k, v in (item.split("=") for item in m.group(1).split())}
    errors = {k: int(kv[k]) for k in ("non2xx", "connect_err", "read_err", "write_err", "timeout")}
    return WrkResult(int(kv["requests"]), kv["duration_s"], kv["rps"], kv["p50_ms"], kv["p95_ms"], kv["p99_ms"],
                     kv["max_ms"], errors, cpu1 - cpu0, wrk_cpu, other, rss)  # fmt: skip


# --- shlyuz ----------------------------------------------------------------------------------------------------


def shlyuz_env() -> dict[str, str]:
    """The environment for shlyuz: no SHLYUZ_* settings leak in from the caller's shell."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SHLYUZ_")}


def init_pki(data_dir: Path, port: int, key_kind: str) -> None:
    """The data dir's test PKI, made before the server starts so that its certificates carry this port's OCSP URL
    (``serve --port`` alone writes http://127.0.0.1:8080 when the port is 0) and, for ``ec-p256``, so that every
    identity — the demo applicant, ``system/GBDFL`` and ``gateway`` included — has a P-256 key."""
    subprocess.run([str(SHLYUZ), "pki", "init", "--data-dir", str(data_dir), "--base-url", f"http://127.0.0.1:{port}",
                    "--key", key_kind], check=True, env=shlyuz_env(), stdout=subprocess.DEVNULL)  # fmt: skip


def start_shlyuz(data_dir: Path, port: int, workers: int, has_workers: bool, log_level: str = "info") -> Server:
    """``shlyuz serve`` (with ``--workers N`` when it exists), else bench/shlyuz_multi.py for N > 1."""
    if workers == 1 or has_workers:
        cmd = [str(SHLYUZ), "serve", "--port", str(port), "--data-dir", str(data_dir), "--log-level", log_level]
        cmd += ["--workers", str(workers)] if has_workers else []
    else:
        cmd = [str(PY), str(BENCH / "shlyuz_multi.py"), "--port", str(port), "--data-dir", str(data_dir),
               "--processes", str(workers), "--log-level", log_level]  # fmt: skip
    server = Server(f"shlyuz x{workers}", cmd, data_dir / "server.log", "listening on", port, env=shlyuz_env())
    server.wait_ready()
    deadline = time.monotonic() + 60  # every worker up: the process count settles at N (+ a supervisor)
    while workers > 1 and len(server.pids()) < workers and time.monotonic() < deadline:
        time.sleep(0.2)
    return server


def build_bodies(data_dir: Path, pad_to: int = 4096) -> dict[str, bytes]:
    """The GBD FL request by IIN of the demo applicant, built with shlyuz's client API: unsigned, and signed by the
    applicant's SIGN certificate (data signature + WS-Security). Both carry the same ``properties`` padding in
    requestInfo so that the unsigned request is ~``pad_to`` bytes like bench-anchors/request.xml; the signed one is
    that plus its two signatures (and certificates)."""
    from datetime import datetime, timezone

    from shlyuz.client import SendMessage, payload
    from shlyuz.dsig.signer import signer_for
    from shlyuz.fixtures.generate import DEMO_IINS
    from shlyuz.pki.store import Pki
    from shlyuz.shep import ns

    pki = Pki.open(data_dir / "pki", now=datetime.now(timezone.utc))
    iin = DEMO_IINS["applicant"]
    signer = signer_for(pki, f"person/{iin}/sign")

    def make(props: list[tuple[str, str]], signed: bool) -> bytes:
        data = payload(ns.GBDFL_MESSAGE, "Request", {"messageId": "bench-1", "senderCode": "bench", "iin": iin})
        return SendMessage(GBDFL_SERVICE, data, message_id="bench-0001", properties=props,
                           data_signer=signer if signed else None, wsse_signer=signer if signed else None).to_bytes()  # fmt: skip

    props: list[tuple[str, str]] = []
    while len(make(props, False)) < pad_to - 120:
        props.append((f"bench.padding.{len(props) + 1:02d}", "x" * 64))
    return {"unsigned": make(props, False), "signed": make(props, True), "key": type(signer.key).__name__,
            "properties": str(len(props))}  # type: ignore[dict-item]


# --- the machine -----------------------------------------------------------------------------------------------


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return ((out.stdout or "") + (out.stderr or "")).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"


def source_state() -> str:
    """The commit measured, and the src/ files that differ from it (read-only git; others work in this tree)."""
    git = ["git", "--no-optional-locks", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    changed = subprocess.run([*git, "diff", "--name-only", "HEAD", "--", "src"], capture_output=True, text=True)
    files = [f.removeprefix("src/shlyuz/") for f in changed.stdout.split()]
    return f"commit {head or '?'}" + (f" + uncommitted changes to {', '.join(files)}" if files else "")


def machine_info() -> dict[str, str]:
    import aiohttp
    import cryptography
    from lxml import etree

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    mem = next((int(ln.split()[1]) for ln in open("/proc/meminfo") if ln.startswith("MemTotal")), 0)
    from shlyuz import __version__

    return {
        "nproc": str(os.cpu_count()), "cpu": cpu, "ram": f"{mem / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(), "shlyuz": __version__, "aiohttp": aiohttp.__version__,
        "lxml": ".".join(map(str, etree.LXML_VERSION[:3])), "libxml2": ".".join(map(str, etree.LIBXML_VERSION)),
        "cryptography": cryptography.__version__, "wrk": _version(["wrk", "-v"]).split(" [")[0],
        "java": _version(["java", "-version"]), "loadavg": " ".join(open("/proc/loadavg").read().split()[:3]),
        "kernel": platform.release(), "source": source_state(),
    }  # fmt: skip
