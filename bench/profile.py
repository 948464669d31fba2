"""Where a shlyuz worker spends its time under wrk load: py-spy samples one server process (all threads) while wrk
drives one case, then prints the heaviest functions (inclusive and self) and a split by component.

    .venv/bin/python bench/profile.py [--case a|b] [--key mixed|ec-p256] [--seconds 15] [--conns 50]
                                      [--env SHLYUZ_JOURNAL_BODIES=false ...]

py-spy is installed into bench/.cache/tools (a separate venv) when missing. One server, one data dir, stopped on
the way out; nothing is written outside a temporary directory.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as B  # noqa: E402

COMPONENTS = [  # first match on the frame's file wins (checked leaf to root)
    ("journal (aiosqlite/sqlite3)", re.compile(r"aiosqlite|sqlite3|shlyuz/storage/")),
    ("logging (structlog)", re.compile(r"structlog|shlyuz/logs\.py")),
    ("XML signatures (shlyuz.dsig)", re.compile(r"shlyuz/dsig/")),
    ("certificate checks (gateway/signature, revocation)", re.compile(r"shlyuz/gateway/(signature|revocation)\.py")),
    ("cryptography", re.compile(r"cryptography/")),
    ("SHEP read/write (shlyuz.shep, shlyuz.xml)", re.compile(r"shlyuz/(shep|xml)/")),
    ("systems (GBD FL)", re.compile(r"shlyuz/systems/")),
    ("pipeline (gateway/pipeline)", re.compile(r"shlyuz/gateway/pipeline\.py")),
    ("HTTP (aiohttp, gateway/http)", re.compile(r"aiohttp/|shlyuz/gateway/http\.py")),
    ("asyncio / event loop", re.compile(r"asyncio/|selectors\.py")),
]


def ensure_pyspy() -> str:
    exe = shutil.which("py-spy") or str(B.CACHE / "tools" / "bin" / "py-spy")
    if not Path(exe).exists():
        B.log("installing py-spy into bench/.cache/tools")
        subprocess.run([sys.executable, "-m", "venv", str(B.CACHE / "tools")], check=True)
        subprocess.run([str(B.CACHE / "tools" / "bin" / "pip"), "install", "-q", "py-spy"], check=True)
    return exe


def component(stack: list[str]) -> str:
    for frame in reversed(stack):
        for name, rx in COMPONENTS:
            if rx.search(frame):
                return name
    return "other"


def report(raw: Path, top: int) -> None:
    incl: collections.Counter[str] = collections.Counter()
    self_: collections.Counter[str] = collections.Counter()
    comp: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack_s, _, n_s = line.rpartition(" ")
        if not stack_s or not n_s.isdigit():
            continue
        n = int(n_s)
        frames = [f for f in stack_s.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        total += n
        self_[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
        comp[component(frames)] += n
    print(f"\n{total} samples (active threads only)\n\nby component (leaf-most match):")
    for name, n in comp.most_common():
        print(f"  {100 * n / total:5.1f} %  {name}")
    print(f"\ntop {top} inclusive:")
    for f, n in incl.most_common(top):
        print(f"  {100 * n / total:5.1f} %  {f}")
    print(f"\ntop {top} self:")
    for f, n in self_.most_common(top):
        print(f"  {100 * n / total:5.1f} %  {f}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=["a", "b"], default="a")
    ap.add_argument("--key", choices=["mixed", "ec-p256"], default="mixed")
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--workers", type=int, default=1, help="server processes; py-spy samples the busiest (default 1)")
    ap.add_argument("--no-spy", action="store_true", help="only measure (an A/B of settings without py-spy's cost)")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server (e.g. SHLYUZ_* settings)")
    a = ap.parse_args()
    pyspy, wrk = ensure_pyspy(), B.ensure_wrk()
    B.install_signal_handlers()
    with tempfile.TemporaryDirectory(prefix="shlyuz-profile-") as tmp:
        data_dir, port = Path(tmp) / "data", B.free_port()
        B.init_pki(data_dir, port, a.key)
        bodies = B.build_bodies(data_dir)
        body = Path(tmp) / "body.xml"
        body.write_bytes(bodies["signed" if a.case == "a" else "unsigned"])  # type: ignore[arg-type]
        url = f"http://127.0.0.1:{port}" + (B.WSS if a.case == "a" else B.SYNC)
        env = {**B.shlyuz_env(), **dict(kv.split("=", 1) for kv in a.env)}
        cmd = [str(B.SHLYUZ), "serve", "--port", str(port), "--data-dir", str(data_dir), "--log-level", a.log_level]
        cmd += ["--workers", str(a.workers)] if B.serve_has_workers() else []
        with B.Server("shlyuz (profiled)", cmd, data_dir / "server.log", "listening on", port, env=env) as server:
            server.wait_ready()
            B.run_wrk(wrk, url, B.BENCH / "post.lua", {"BENCH_BODY": str(body)}, conns=a.conns, duration=5)
            if a.no_spy:
                r = B.run_wrk(wrk, url, B.BENCH / "post.lua", {"BENCH_BODY": str(body)}, conns=a.conns,
                              duration=a.seconds, server=server)  # fmt: skip
                print(f"case {a.case} ({a.key}), x{a.workers}, {a.conns} conns, log {a.log_level}, env {a.env or '-'}: "
                      f"{r.rps:,.0f} req/s, p50 {r.p50_ms:.1f} p99 {r.p99_ms:.1f} ms, server CPU "
                      f"{r.cpu_ms_per_req:.3f} ms/req, other CPU {r.other_cpu_s / r.duration_s:.2f} cores, "
                      f"errors {r.error_count}")  # fmt: skip
                return 0
            busiest = max(server.pids(), key=lambda p: B.cpu_seconds([p]))
            raw = Path(tmp) / "profile.txt"
            spy = subprocess.Popen([pyspy, "record", "--pid", str(busiest), "--duration", str(a.seconds),
                                    "--rate", "250", "--format", "raw", "--output", str(raw), "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
            box: dict = {}
            t = threading.Thread(target=lambda: box.update(r=B.run_wrk(
                wrk, url, B.BENCH / "post.lua", {"BENCH_BODY": str(body)}, conns=a.conns, duration=a.seconds + 2,
                server=server)))  # fmt: skip
            t.start()
            try:
                spy.wait(a.seconds + 60)
            finally:
                if spy.poll() is None:
                    spy.kill()
                t.join()
            r = box.get("r")
            spy_err = spy.stderr.read().decode(errors="replace") if spy.stderr else ""
            B.log("py-spy: " + " ".join(ln for ln in spy_err.splitlines() if "Samples" in ln or "Error" in ln)[:300])
            if r:
                print(f"case {a.case} ({a.key}), {a.conns} conns, env {a.env or '-'}: {r.rps:,.0f} req/s, "
                      f"p99 {r.p99_ms:.1f} ms, server CPU {r.cpu_ms_per_req:.3f} ms/req, errors {r.error_count}")  # fmt: skip
            if not raw.exists() or not raw.stat().st_size:
                print(spy_err or "py-spy wrote nothing", file=sys.stderr)
                return 1
            report(raw, a.top)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
