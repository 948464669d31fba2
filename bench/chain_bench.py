"""How long the chain engine takes to run a whole service on the virtual clock (issue #7's target: ≤ 20 ms).

Two figures per service and channel (the all-yes path): the sans-IO engine alone (the walk, the working calendar,
the trace), and the driver through an in-process gateway (GBD FL and ENIS over the SHEP pipeline, the EDS
verification, the application sent over the async channel, the signed result, the record store).

    .venv/bin/python bench/chain_bench.py [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from shlyuz.chains.engine import ChainRun  # noqa: E402
from shlyuz.chains.trace import CheckResult, Decision, Finished, NeedChecks, NeedStep, StepResult  # noqa: E402
from shlyuz.clock import KZ, FixedClock  # noqa: E402
from shlyuz.config import load_settings  # noqa: E402
from shlyuz.services.loader import ServiceCatalogue  # noqa: E402
from shlyuz.worktime import WorkingCalendar  # noqa: E402

START = datetime(2026, 1, 15, 10, 0, tzinfo=KZ)


def engine_once(service, channel: str, cal: WorkingCalendar) -> None:
    run = ChainRun(service, channel, calendar=cal, started_at=START)
    need = run.next_need()
    while not isinstance(need, Finished):
        if isinstance(need, NeedChecks):
            need = run.answer([CheckResult(c, True) for c in need.checks])
        elif isinstance(need, NeedStep):
            need = run.answer(StepResult(decision=Decision(True) if need.decision else None))
        else:
            need = run.answer(StepResult())


async def driver_runs(catalogue, repeat: int) -> dict[tuple[str, str], list[float]]:
    from shlyuz.chains.driver import RunOptions
    from shlyuz.gateway.app import build_gateway

    tmp = Path(tempfile.mkdtemp(prefix="shlyuz-chain-bench-"))
    settings = load_settings(data_dir=tmp, log_level="warning")
    gw = build_gateway(settings, clock=FixedClock(START))
    await gw.storage.open()
    await gw.records.open()
    await gw.async_channel.start()
    out: dict[tuple[str, str], list[float]] = {}
    try:
        for svc in catalogue:
            for ch in svc.channels:
                employer = svc.id == "foreign-labour-permits"
                opts = RunOptions(channel=ch.id.value, applicant="090140541935" if employer else "900101300017",
                                  signer="730506414772" if employer else None)  # fmt: skip
                await gw.chains.start(svc.id, opts)  # warm-up (keys, caches)
                times = []
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    await gw.chains.start(svc.id, opts)
                    times.append((time.perf_counter() - t0) * 1000)
                out[(svc.id, ch.id.value)] = times
    finally:
        await gw.async_channel.stop()
        await gw.records.close()
        await gw.storage.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    from shlyuz.logs import configure_logging

    configure_logging("warning")
    catalogue = ServiceCatalogue.load()
    cal = WorkingCalendar()
    driver = asyncio.run(driver_runs(catalogue, args.repeat))
    print(f"{'service':36} {'channel':10} {'engine ms':>10} {'driver ms':>10}")
    worst = 0.0
    for svc in catalogue:
        for ch in svc.channels:
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                engine_once(svc, ch.id.value, cal)
                times.append((time.perf_counter() - t0) * 1000)
            d = statistics.median(driver[(svc.id, ch.id.value)])
            worst = max(worst, d)
            print(f"{svc.id:36} {ch.id.value:10} {statistics.median(times):10.2f} {d:10.2f}")
    print(f"slowest service through the driver: {worst:.1f} ms (median of {args.repeat}); target ≤ 20 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
