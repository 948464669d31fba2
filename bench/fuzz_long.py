"""The fuzz properties of tests/test_fuzz.py with the long profile: a million inputs or more, not in CI.

    .venv/bin/python bench/fuzz_long.py [--total 1000000] [--jobs 2] [--chunk 2000] [--http-share 0.02]
                                        [--minutes 0] [--only TARGET ...] [--json results.json]

Each target runs in chunks: one call of the hypothesis test = one fresh random run of ``--chunk`` examples (fresh, so
hypothesis's per-run bookkeeping never grows past one chunk and RSS stays bounded). Targets take turns until each
has run its share of ``--total`` (the SOAP HTTP targets ``http`` and ``async_http`` ``--http-share`` of an even
share: they are slow, and the pipeline and reader targets run the same parsing without HTTP; ``json_api`` has no
such twin and gets a full share). Every 30 s a progress line: inputs, inputs/s, RSS, crashes.
A failing chunk (a new crash: hypothesis shrinks it and reports the minimal input) is recorded and the run goes
on; crashes already known (tests/fuzzkit.py KNOWN_CRASHES) are counted, not failed. ``--minutes`` stops early.
``--jobs N`` splits the targets over N processes (by their measured speed, so that they finish together) and adds
up their results.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
os.environ["SHLYUZ_FUZZ_PROFILE"] = "fuzz-long"
for _key in [k for k in os.environ if k.startswith("SHLYUZ_") and k not in ("SHLYUZ_FUZZ_PROFILE", "SHLYUZ_FUZZ_CHUNK")]:
    del os.environ[_key]


NAMES = ("read_sync_request", "read_sync_reply", "system_payloads", "signatures", "certificates", "ocsp", "crl",
         "fixtures", "config", "pipeline", "http", "scenario_files", "service_definitions", "read_async_request",
         "read_client_request", "async_http", "json_api")
SLOW = ("http", "async_http")  # --http-share of an even share each: the pipeline and reader targets cover the rest
RATES = {"read_sync_request": 307, "read_sync_reply": 298, "system_payloads": 395, "signatures": 200,
         "certificates": 565, "ocsp": 495, "crl": 644, "fixtures": 130, "config": 206, "pipeline": 222,
         "http": 149, "scenario_files": 29, "service_definitions": 51, "read_async_request": 173,
         "read_client_request": 167, "async_http": 102, "json_api": 127}  # fmt: skip
# inputs/s of one process, measured on 2 CPUs (docs/fuzzing.md; the last six under a load of 4-5): only used to split
# the work over --jobs


def budgets(names: list[str], total: int, http_share: float) -> dict[str, int]:
    slow = sum(n in SLOW for n in names)
    even = total / (len(names) - slow + slow * http_share)
    return {name: int(even * (http_share if name in SLOW else 1)) for name in names}


def run_jobs(args: argparse.Namespace) -> int:
    """Split the targets over ``args.jobs`` processes (longest first, to the least loaded), run, add up."""
    names = list(args.only or NAMES)
    budget = budgets(names, args.total, args.http_share)
    loads: list[tuple[float, list[str]]] = [(0.0, []) for _ in range(args.jobs)]
    for name in sorted(names, key=lambda n: -budget[n] / RATES[n]):
        i = min(range(len(loads)), key=lambda k: loads[k][0])
        loads[i] = (loads[i][0] + budget[name] / RATES[name], loads[i][1] + [name])
    tmp = Path(tempfile.mkdtemp(prefix="shlyuz-fuzz-jobs-"))
    procs = []
    for i, (_, part) in enumerate(loads):
        cmd = [sys.executable, __file__, "--budgets", json.dumps({n: budget[n] for n in part}), "--chunk",
               str(args.chunk), "--minutes", str(args.minutes), "--json", str(tmp / f"job{i}.json")]  # fmt: skip
        print(f"job {i}: {', '.join(part)}", flush=True)
        procs.append(subprocess.Popen(cmd))
    codes = [p.wait() for p in procs]
    parts = [json.loads((tmp / f"job{i}.json").read_text()) for i in range(len(procs))]
    seconds = max(p["seconds"] for p in parts)
    total = sum(p["inputs"] for p in parts)
    known: dict[str, int] = {}
    for p in parts:
        for k, v in p["known_crash_hits"].items():
            known[k] = known.get(k, 0) + v
    result = {
        "inputs": total, "seconds": seconds, "inputs_per_s": round(total / seconds, 1), "jobs": args.jobs,
        "per_target": {k: v for p in parts for k, v in p["per_target"].items()},
        "new_crashes": [c for p in parts for c in p["new_crashes"]], "known_crash_hits": known,
        "rss_mb_per_job": [p["rss_mb"] for p in parts], "chunk": args.chunk, "cpus": os.cpu_count(),
    }  # fmt: skip
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps({**result, "crash_reports": [c for p in parts for c in p["crash_reports"]]},
                                        indent=1))  # fmt: skip
    return max(codes)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def quiet_logs() -> None:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    logging.disable(logging.CRITICAL)


def make_targets(tmp: Path, loop: asyncio.AbstractEventLoop):
    """name → callable running one chunk; plus a cleanup coroutine."""
    import fuzzkit as fk
    import test_fuzz as tf
    from aiohttp.test_utils import TestClient, TestServer
    from conftest import GATEWAY_NOW, PKI_NOW, Shep

    from shlyuz.clock import FixedClock
    from shlyuz.config import load_settings
    from shlyuz.dsig.signer import signer_for
    from shlyuz.fixtures.store import load_dirs
    from shlyuz.gateway.app import build_gateway, create_app
    from shlyuz.pki.store import Pki, PkiUrls

    pki = Pki.open(tmp / "pki", now=PKI_NOW, urls=PkiUrls("http://127.0.0.1:8080"))
    pki.ensure_fixture_identities(load_dirs([REPO / "fixtures"]), now=PKI_NOW)
    gw = build_gateway(load_settings(data_dir=tmp / "pipeline"), clock=FixedClock(GATEWAY_NOW), pki=pki)
    loop.run_until_complete(gw.records.open())  # the pipeline's faults stage reads the session's fault rules there
    pipeline = (gw.sync, fk.watch_stages(gw.sync), loop, fk.request_seeds(signer_for(pki, tf.SIGNER)))
    http_gw = build_gateway(load_settings(data_dir=tmp / "http", journal_bodies=False), clock=FixedClock(GATEWAY_NOW),
                            pki=pki)  # fmt: skip

    async def start() -> TestClient:  # the client needs a running loop to be made
        client = TestClient(TestServer(create_app(http_gw), host="127.0.0.1"))
        await client.start_server()
        return client

    client = loop.run_until_complete(start())
    shep = Shep(client, http_gw)
    http_inner = tf.test_fuzz_gateway_http.hypothesis.inner_test  # as pytest-asyncio does: run it on our loop
    tf.test_fuzz_gateway_http.hypothesis.inner_test = lambda **kw: loop.run_until_complete(http_inner(**kw))

    def on_loop(inner):
        return lambda **kw: loop.run_until_complete(inner(**kw))

    for test in (tf.test_fuzz_async_http, tf.test_fuzz_json_apis):
        test.hypothesis.inner_test = on_loop(test.hypothesis.inner_test)
    async_gw = build_gateway(tf.async_settings(tmp / "async"), clock=FixedClock(GATEWAY_NOW), pki=pki)
    json_gw = build_gateway(tf.async_settings(tmp / "json"), clock=FixedClock(GATEWAY_NOW), pki=pki)

    json_app = create_app(json_gw)
    json_crashes = fk.watch_app(json_app)

    async def start_others() -> tuple[TestClient, TestClient, dict[str, str]]:
        async_client = TestClient(TestServer(create_app(async_gw), host="127.0.0.1"))
        json_client = TestClient(TestServer(json_app, host="127.0.0.1"))
        await async_client.start_server()
        await json_client.start_server()
        return async_client, json_client, await tf.json_api_state(json_client, pki, json_gw)

    async_client, json_client, json_state = loop.run_until_complete(start_others())
    async_api = (async_client, async_gw, fk.watch_stages(async_gw.async_channel.endpoint))

    async def close_all() -> None:
        for c in (client, async_client, json_client):
            await c.close()

    targets = {
        "read_sync_request": tf.test_fuzz_read_sync_request,
        "read_sync_reply": tf.test_fuzz_read_sync_reply,
        "system_payloads": tf.test_fuzz_system_payloads,
        "signatures": tf.test_fuzz_signatures,
        "certificates": tf.test_fuzz_certificates,
        "ocsp": tf.test_fuzz_ocsp,
        "crl": tf.test_fuzz_crl,
        "fixtures": tf.test_fuzz_fixture_files,
        "config": tf.test_fuzz_config_file,
        "pipeline": lambda: tf.test_fuzz_pipeline(pipeline=pipeline),
        "http": lambda: tf.test_fuzz_gateway_http(shep=shep, session_pki=pki),
        "scenario_files": tf.test_fuzz_scenario_files,
        "service_definitions": tf.test_fuzz_service_definitions,
        "read_async_request": tf.test_fuzz_read_async_request,
        "read_client_request": tf.test_fuzz_read_client_request,
        "async_http": lambda: tf.test_fuzz_async_http(async_api=async_api),
        "json_api": lambda: tf.test_fuzz_json_apis(json_api=(json_client, json_state, json_crashes)),
    }
    return targets, tf, close_all


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--total", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=int(os.environ.get("SHLYUZ_FUZZ_CHUNK", "2000")))
    ap.add_argument("--http-share", type=float, default=0.02)
    ap.add_argument("--minutes", type=float, default=0, help="stop after this long (0: run to --total)")
    ap.add_argument("--only", nargs="*", help="run only these targets")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--jobs", type=int, default=1, help="processes to split the targets over")
    ap.add_argument("--budgets", help=argparse.SUPPRESS)  # a job of --jobs: {target: inputs}
    args = ap.parse_args()
    if args.jobs > 1:
        return run_jobs(args)
    os.environ["SHLYUZ_FUZZ_CHUNK"] = str(args.chunk)
    quiet_logs()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    tmp = Path(tempfile.mkdtemp(prefix="shlyuz-fuzz-long-"))
    targets, tf, close = make_targets(tmp, loop)
    if args.budgets:
        budget = json.loads(args.budgets)
    else:
        budget = budgets([n for n in NAMES if not args.only or n in args.only], args.total, args.http_share)
    targets = {k: v for k, v in targets.items() if k in budget}
    crashes: list[dict] = []
    started = time.perf_counter()
    rss_start, rss_peak = rss_mb(), rss_mb()
    stop = threading.Event()

    def progress() -> None:
        nonlocal rss_peak
        last_total, last_t, stalled_since = 0, time.perf_counter(), time.perf_counter()
        while not stop.wait(30):
            total, now = sum(tf.COUNTS.values()), time.perf_counter()
            rss_peak = max(rss_peak, rss_mb())
            print(f"[{now - started:7.0f} s] inputs {total:,} ({total / (now - started):,.0f}/s overall, "
                  f"{(total - last_total) / (now - last_t):,.0f}/s now) RSS {rss_mb():.0f} MB (start {rss_start:.0f}, "
                  f"peak {rss_peak:.0f}) new crashes {len(crashes)} known hits {sum(tf.KNOWN_HITS.values())} | "
                  + " ".join(f"{k}={v:,}" for k, v in sorted(tf.COUNTS.items())), flush=True)  # fmt: skip
            if total == last_total and now - stalled_since > 120:
                print("no progress for 120 s: a hang? stacks follow", flush=True)
                faulthandler.dump_traceback(all_threads=True)
            elif total != last_total:
                stalled_since = now
            last_total, last_t = total, now

    threading.Thread(target=progress, daemon=True).start()
    deadline = started + args.minutes * 60 if args.minutes else float("inf")
    while time.perf_counter() < deadline:
        pending = [n for n in targets if tf.COUNTS[n] < budget[n]]
        if not pending:
            break
        for name in pending:
            try:
                targets[name]()
            except Exception as exc:  # a new crash: hypothesis has shrunk it; keep the report and go on
                report = "".join(traceback.format_exception(exc))[-6000:]
                crashes.append({"target": name, "error": f"{type(exc).__name__}: {exc}"[:500], "report": report})
                print(f"CRASH in {name}:\n{report}", flush=True)
            if time.perf_counter() >= deadline:
                break
    stop.set()
    elapsed = time.perf_counter() - started
    loop.run_until_complete(close())
    total = sum(tf.COUNTS.values())
    result = {
        "inputs": total, "seconds": round(elapsed, 1), "inputs_per_s": round(total / elapsed, 1),
        "per_target": dict(sorted(tf.COUNTS.items())), "new_crashes": [c["error"] for c in crashes],
        "known_crash_hits": dict(tf.KNOWN_HITS), "rss_mb": {"start": round(rss_start), "peak": round(max(rss_peak, rss_mb())),
                                                            "end": round(rss_mb())},
        "chunk": args.chunk, "cpus": os.cpu_count(), "loadavg_end": os.getloadavg(),
    }  # fmt: skip
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps({**result, "crash_reports": crashes}, indent=1))
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
