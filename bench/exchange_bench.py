"""Per-message cost of a whole SyncChannel exchange inside the gateway (no HTTP, no journal write):
``SyncPipeline.process`` from request bytes to response bytes.

    .venv/bin/python bench/exchange_bench.py [-n 2000] [-r 3]

Cases: (b) unsigned GBD FL request by IIN on /bip-sync/; (a) the same request with a data signature and WS-Security
by the demo applicant's RSA-2048 SIGN certificate on /bip-sync-wss-gost/ — both signatures verified, the chain and
revocation checked (revocation answered from the per-process cache after the first call, as in steady state), the
reply's data signed by GBD FL and the envelope signed by the gateway. Prints a markdown table of medians and the
per-stage split of (a). The test PKI is made in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from shlyuz.client import SendMessage, payload  # noqa: E402
from shlyuz.clock import Clock  # noqa: E402
from shlyuz.config import load_settings  # noqa: E402
from shlyuz.dsig.signer import signer_for  # noqa: E402
from shlyuz.fixtures.generate import DEMO_IINS  # noqa: E402
from shlyuz.gateway.app import build_gateway  # noqa: E402
from shlyuz.shep import ns  # noqa: E402


async def measure(pipeline, body: bytes, *, wss: bool, n: int) -> tuple[float, dict[str, float], str]:
    endpoint = "/bip-sync-wss-gost/" if wss else "/bip-sync/"
    outcome = await pipeline.process(body, "text/xml; charset=utf-8", endpoint=endpoint, require_wsse=wss)
    assert outcome.http_status == 200, outcome.body[:500]
    times, stages = [], {}
    for _ in range(n):
        t0 = time.perf_counter()
        outcome = await pipeline.process(body, "text/xml; charset=utf-8", endpoint=endpoint, require_wsse=wss)
        times.append(time.perf_counter() - t0)
        for k, v in outcome.record.timings.items():
            stages.setdefault(k, []).append(v)
    return (
        statistics.median(times) * 1e6,
        {k: statistics.median(v) * 1000 for k, v in stages.items()},  # record timings are ms: → µs
        outcome.record.outcome,
    )


async def main(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for key in [k for k in os.environ if k.startswith("SHLYUZ_")]:
            del os.environ[key]
        settings = load_settings(data_dir=Path(tmp))
        gw = build_gateway(settings, clock=Clock())
        await gw.records.open()  # the faults stage reads the session's fault rules there (docs/faults.md)
        iin = DEMO_IINS["applicant"]
        body = payload(ns.GBDFL_MESSAGE, "Request", {"messageId": "1", "senderCode": "bench", "iin": iin})
        unsigned = SendMessage("GBDFL_UniversalServiceSync", body).to_bytes()
        signer = signer_for(gw.pki, f"person/{iin}/sign")
        signed = SendMessage(
            "GBDFL_UniversalServiceSync", body, data_signer=signer, wsse_signer=signer
        ).to_bytes()
        rows = {}
        for _ in range(rounds):
            for name, raw, wss in (("(b) unsigned, /bip-sync/", unsigned, False), ("(a) signed, /bip-sync-wss-gost/", signed, True)):
                us, stages, outcome = await measure(gw.sync, raw, wss=wss, n=n)
                if name not in rows or us < rows[name][0]:
                    rows[name] = (us, stages, outcome, len(raw))
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
        print(f"machine: {os.cpu_count()} CPUs, {cpu}, Python {platform.python_version()}; n={n}, best of {rounds} rounds\n")
        print("| exchange | request bytes | µs per exchange (median) | outcome |")
        print("|---|---:|---:|---|")
        for name, (us, _, outcome, size) in rows.items():
            print(f"| {name} | {size} | {us:.0f} | {outcome} |")
        print("\nper stage, µs (median):\n")
        names = list(next(iter(rows.values()))[1])
        print("| exchange | " + " | ".join(names) + " |")
        print("|---|" + "---:|" * len(names))
        for name, (_, stages, _, _) in rows.items():
            print(f"| {name} | " + " | ".join(f"{stages.get(k, 0):.0f}" for k in names) + " |")
        if gw.revocation:
            s = gw.revocation.stats
            print(f"\nrevocation: {s.ocsp_requests} OCSP request(s), {s.cache_hits} cache hits")
        await gw.records.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("-r", type=int, default=3)
    a = ap.parse_args()
    asyncio.run(main(a.n, a.r))
