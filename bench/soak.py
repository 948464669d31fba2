"""Soak: one shlyuz server, wrk with 50 connections for 10 minutes alternating the signed (a) exchange on
/bip-sync-wss-gost/ and the unsigned (b) one on /bip-sync/ (bench/mixed.lua). Every 10 s it samples the server's
RSS (all its processes), CPU and the journal (rows, non-200 rows); at the end it counts wrk's errors and tallies the
journal by endpoint, HTTP status and outcome. RSS growth is measured from the first sample after the warm-up (60 s)
to the end. Pass: zero errors and RSS growth ≤ 10 %.

    .venv/bin/python bench/soak.py [--duration 600] [--conns 50] [--warmup 60] [--interval 10] [--workers N]
                                   [--key mixed|ec-p256] [--no-docs]

Writes docs/soak.md (unless --no-docs). The server runs in its own process group and is stopped on the way out.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as B  # noqa: E402

DOC = B.REPO / "docs" / "soak.md"


def journal_counts(db: Path, after_id: int) -> tuple[int, int]:
    """(last row id, rows after ``after_id`` whose HTTP status is not 200), read-only beside the running server
    (WAL); only the new rows are read."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            last = con.execute("SELECT coalesce(max(id), 0) FROM exchanges").fetchone()[0]
            bad = con.execute("SELECT count(*) FROM exchanges WHERE id > ? AND id <= ? AND http_status != 200",
                              (after_id, last)).fetchone()[0]  # fmt: skip
            return int(last), int(bad)
        finally:
            con.close()
    except sqlite3.Error:
        return after_id, 0


def journal_tally(db: Path) -> list[tuple[str, int, str, int]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("SELECT endpoint, http_status, outcome, count(*) FROM exchanges "
                           "GROUP BY endpoint, http_status, outcome ORDER BY endpoint, http_status").fetchall()  # fmt: skip
    finally:
        con.close()


def write_doc(command: str, section: str) -> None:
    """One section per command line in docs/soak.md, replaced in place on a re-run; the rest of the file is kept."""
    begin, end = f"<!-- soak: {command} -->", f"<!-- /soak: {command} -->"
    block = f"{begin}\n{section}{end}\n"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else HEADER
    if begin in text and end in text:
        text = text.split(begin, 1)[0] + block + text.split(end, 1)[1].lstrip("\n")
    elif "<!-- notes -->" in text:
        pre, post = text.split("<!-- notes -->", 1)
        text = pre + block + "\n<!-- notes -->" + post
    else:
        text = text.rstrip("\n") + "\n\n" + block
    DOC.write_text(text, encoding="utf-8")
    B.log(f"wrote {DOC}")


HEADER = """# Soak: mixed signed and unsigned exchanges

`bench/soak.py` drives one shlyuz server with wrk for 10 minutes at 50 connections, alternating the signed (a) and
unsigned (b) GBD FL exchanges of docs/benchmarks.md on every connection, and checks the issue's soak target: zero
errors, RSS growth ≤ 10 % after the warm-up. Each section below is one run, headed by its command; a re-run of the
same command replaces its section.

```sh
.venv/bin/python bench/soak.py [--duration 600] [--conns 50] [--workers N] [--key mixed|ec-p256]
```
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=600, help="seconds of load (default 600)")
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=60, help="seconds before the RSS baseline (default 60)")
    ap.add_argument("--interval", type=int, default=10, help="seconds between samples (default 10)")
    ap.add_argument("--workers", type=int, help="shlyuz serve --workers N (default: shlyuz's own default)")
    ap.add_argument("--key", choices=["mixed", "ec-p256"], default="mixed", help="PKI key kinds (default mixed: RSA)")
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    command = " ".join([".venv/bin/python bench/soak.py", *sys.argv[1:]])
    B.install_signal_handlers()
    wrk = B.ensure_wrk()
    info = B.machine_info()
    tmp = Path(tempfile.mkdtemp(prefix="shlyuz-soak-"))
    samples: list[dict] = []
    wrk_proc = None
    try:
        data_dir, port = tmp / "data", B.free_port()
        B.init_pki(data_dir, port, a.key)
        bodies = B.build_bodies(data_dir)
        for name in ("signed", "unsigned"):
            (tmp / f"{name}.xml").write_bytes(bodies[name])  # type: ignore[arg-type]
        cmd = [str(B.SHLYUZ), "serve", "--port", str(port), "--data-dir", str(data_dir), "--log-level", a.log_level]
        if a.workers:
            cmd += ["--workers", str(a.workers)]
        server = B.Server("shlyuz (soak)", cmd, data_dir / "server.log", "listening on", port, env=B.shlyuz_env())
        server.wait_ready()
        time.sleep(1)
        base = f"http://127.0.0.1:{port}"
        for path, name in ((B.WSS, "signed"), (B.SYNC, "unsigned")):
            status, reply = B.post(base + path, (tmp / f"{name}.xml").read_bytes())
            if status != 200 or b"SCSS001" not in reply:
                raise RuntimeError(f"preflight {path}: {status} {reply[:400]!r}")
        db = data_dir / "shlyuz.db"
        env = {**os.environ, "BENCH_BODY_A": str(tmp / "signed.xml"), "BENCH_PATH_A": B.WSS,
               "BENCH_BODY_B": str(tmp / "unsigned.xml"), "BENCH_PATH_B": B.SYNC}  # fmt: skip
        wrk_cmd = [wrk, "-t2", f"-c{a.conns}", f"-d{a.duration}s", "--timeout", "10s", "-s",
                   str(B.BENCH / "mixed.lua"), base + "/"]  # fmt: skip
        B.log(f"soak {a.duration} s: {' '.join(wrk_cmd)}")
        pids0 = server.pids()
        cpu0, t0 = B.cpu_seconds(pids0), time.monotonic()
        wrk_proc = subprocess.Popen(wrk_cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True)  # fmt: skip
        last_rows, last_t, bad = journal_counts(db, 0)[0], t0, 0
        last_cpu, last_busy, last_wrk = 0.0, B.machine_busy_seconds(), 0.0
        while wrk_proc.poll() is None:
            time.sleep(max(0.0, a.interval - (time.monotonic() - t0) % a.interval))
            if wrk_proc.poll() is not None:
                break
            now, pids = time.monotonic(), server.pids()
            rows, new_bad = journal_counts(db, last_rows)
            bad += new_bad
            cpu, busy, wrk_cpu = B.cpu_seconds(pids) - cpu0, B.machine_busy_seconds(), B.cpu_seconds([wrk_proc.pid])
            other = (busy - last_busy - (cpu - last_cpu) - (wrk_cpu - last_wrk)) / (now - last_t)
            s = {"t": now - t0, "rss": B.rss_bytes(pids), "procs": len(pids), "cpu": cpu, "rows": rows, "bad": bad,
                 "rps": (rows - last_rows) / (now - last_t), "other": max(0.0, other)}  # fmt: skip
            samples.append(s)
            last_rows, last_t, last_cpu, last_busy, last_wrk = rows, now, cpu, busy, wrk_cpu
            B.log(f"t={s['t']:5.0f} s  rss {s['rss'] / 2**20:7.1f} MiB  procs {s['procs']}  journal {rows} "
                  f"(non-200 {bad})  {s['rps']:,.0f} req/s  other CPU {s['other']:.2f} cores")  # fmt: skip
        out = wrk_proc.communicate(timeout=120)[0]
        m = re.search(r"^RESULT (.*)$", out, re.M)
        if not m:
            raise RuntimeError(f"wrk: {out[-1000:]}")
        kv = {k: float(v) for k, v in (item.split("=") for item in m.group(1).split())}
        pids_end = server.pids()
        restarted = sorted(set(pids0) ^ set(pids_end))
        server.stop()
        tally = journal_tally(db)
        log_text = (data_dir / "server.log").read_text(errors="replace")
        unhandled = log_text.count('"event": "unhandled_error"')
        locked = log_text.count("database is locked")
    finally:
        if wrk_proc is not None and wrk_proc.poll() is None:
            os.killpg(wrk_proc.pid, signal.SIGKILL)
        B._stop_all()
        db_size = sum(p.stat().st_size for p in (tmp / "data").glob("shlyuz.db*")) if (tmp / "data").exists() else 0
        shutil.rmtree(tmp, ignore_errors=True)

    after = [s for s in samples if s["t"] >= a.warmup - 1] or samples
    base_rss, end_rss, max_rss = after[0]["rss"], samples[-1]["rss"], max(s["rss"] for s in after)
    growth, peak = 100 * (end_rss - base_rss) / base_rss, 100 * (max_rss - base_rss) / base_rss
    wrk_errors = {k: int(kv[k]) for k in ("non2xx", "connect_err", "read_err", "write_err", "timeout")}
    journal_bad = sum(n for _, status, _, n in tally if status != 200)
    errors = sum(wrk_errors.values()) + journal_bad
    ok = errors == 0 and growth <= 10.0
    lines = [
        f"## `{command}`",
        "",
        f"Measured {date.today().isoformat()}: {info['nproc']} CPUs, {info['cpu']}, {info['ram']} RAM; Python "
        f"{info['python']}, shlyuz {info['shlyuz']}, aiohttp {info['aiohttp']}, lxml {info['lxml']}, "
        f"cryptography {info['cryptography']}; {info['wrk']}. Source: {info['source']}.",
        "",
        f"One `shlyuz serve{f' --workers {a.workers}' if a.workers else ''} --log-level {a.log_level}` "
        f"({samples[0]['procs'] if samples else '?'} process(es) counted, fresh data dir, PKI key kinds `{a.key}`, journal with bodies); `wrk -t2 -c{a.conns} "
        f"-d{a.duration}s -s bench/mixed.lua` alternating (a) signed GBD FL on `/bip-sync-wss-gost/` "
        f"({len(bodies['signed']):,} B) and (b) unsigned on `/bip-sync/` ({len(bodies['unsigned']):,} B) on every "
        f"connection. RSS = sum over the server's processes (/proc VmRSS), sampled every {a.interval} s; "
        f"baseline = first sample after the {a.warmup} s warm-up. Other CPU = the rest of the machine (other users' "
        f"jobs share its {info['nproc']} cores).",
        "",
        f"**Result: {'PASS' if ok else 'FAIL'}** — errors {errors} (target 0), RSS growth after warm-up "
        f"{growth:+.1f} % (target ≤ 10 %; peak {peak:+.1f} %).",
        "",
        "| | |", "|---|---|",
        f"| requests (wrk) | {int(kv['requests']):,} in {kv['duration_s']:.0f} s = {kv['rps']:,.0f} req/s |",
        f"| latency (wrk, both kinds) | p50 {kv['p50_ms']:.1f} ms, p95 {kv['p95_ms']:.1f} ms, p99 {kv['p99_ms']:.1f} ms, "
        f"max {kv['max_ms']:.1f} ms |",
        f"| wrk errors | " + ", ".join(f"{k} {v}" for k, v in wrk_errors.items()) + " |",
        f"| journal rows not HTTP 200 | {journal_bad} |",
        f"| server processes replaced during the run | {len(restarted)} |",
        f"| server log: `unhandled_error` events / of them `database is locked` | {unhandled} / {locked} |",
        f"| RSS at {after[0]['t']:.0f} s / end / peak after warm-up | {base_rss / 2**20:.1f} / {end_rss / 2**20:.1f} / "
        f"{max_rss / 2**20:.1f} MiB |",
        f"| server CPU | {samples[-1]['cpu'] / max(1, kv['requests']) * 1000:.3f} ms per request |",
        f"| journal database at the end | {db_size / 2**30:.2f} GiB |",
        "",
        "Journal tally (endpoint, HTTP status, outcome, exchanges):",
        "",
        "| endpoint | HTTP | outcome | exchanges |", "|---|---:|---|---:|",
        *[f"| `{e}` | {st} | {oc} | {n:,} |" for e, st, oc, n in tally],
        "",
        "Samples (every 60 s):",
        "",
        "| t (s) | RSS MiB | processes | journal rows | non-200 | req/s (last interval) | other CPU (cores) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {s['t']:.0f} | {s['rss'] / 2**20:.1f} | {s['procs']} | {s['rows']:,} | {s['bad']} | {s['rps']:,.0f} "
          f"| {s['other']:.2f} |"
          for s in samples if round(s["t"]) % 60 < a.interval or s is samples[-1]],
    ]  # fmt: skip
    text = "\n".join(lines) + "\n"
    print(text)
    if not a.no_docs:
        write_doc(command, text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
