"""Worker recycling: a worker whose RSS grew past the limit asks to be replaced; the supervisor starts its successor
and stops it only once the successor listens (docs/resilience.md, "Recycling").

The supervisor side runs with a stand-in worker (a few lines of Python speaking the control protocol), so that the
test decides when a worker asks; the worker side (``watch_memory``) runs with a fake RSS reader.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path

import pytest

from shlyuz.gateway import workers

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="worker processes as on Linux")

STAND_IN = """
import json, os, signal, sys
from pathlib import Path
marks = Path(sys.argv[1])
lines = [sys.stdin.readline(), sys.stdin.readline()]
options = json.loads(lines[1])
first = not (marks / "asked").exists()
signal.signal(signal.SIGTERM, lambda *_: (open(marks / f"stopped-{os.getpid()}", "w").close(), sys.exit(0)))
print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
if first:
    (marks / "asked").write_text(str(os.getpid()))
    print(json.dumps({"recycle": True, "rssMb": 900.0, "baselineMb": 80.0}), flush=True)
sys.stdin.read()  # until the supervisor goes (or SIGTERM)
"""


async def test_a_worker_asking_to_be_recycled_is_replaced_before_it_is_stopped(settings, tmp_path):
    settings.port = 0
    settings.pki.enabled = False
    marks = tmp_path / "marks"
    marks.mkdir()
    command = [sys.executable, "-c", STAND_IN, str(marks)]
    supervisor = workers.Supervisor(settings, 1, command=lambda supervisor_pid, worker: command)
    retired = asyncio.Event()
    retire = supervisor._retire

    async def watched_retire(worker, proc):
        # the successor listens before the old worker is stopped
        assert supervisor.pids[worker] != proc.pid and 1 in supervisor._ready
        assert not (marks / f"stopped-{proc.pid}").exists()
        await retire(worker, proc)
        assert proc.returncode == 0 and (marks / f"stopped-{proc.pid}").exists()  # stopped by SIGTERM, cleanly
        retired.set()

    supervisor._retire = watched_retire  # type: ignore[method-assign]
    run = asyncio.create_task(supervisor.run())
    try:
        await asyncio.wait_for(retired.wait(), 60)
        first = int((marks / "asked").read_text())
        assert supervisor.recycled == 1 and supervisor.pids[1] != first
    finally:
        supervisor.stop()
        code = await asyncio.wait_for(run, 60)
    assert code == 0 and supervisor.failure is None


async def test_the_options_reach_the_worker_after_its_settings(settings):
    supervisor = workers.Supervisor(settings, 1, recycle_rss_mb=64, memory_check_s=2.5)
    assert supervisor.options == {"recycleRssMb": 64, "memoryCheckS": 2.5}
    assert workers.Supervisor(settings, 1, recycle_rss_mb=None).options["recycleRssMb"] is None


async def test_watch_memory_asks_once_when_the_growth_passes_the_limit():
    mb = 2**20
    readings = iter([100 * mb, 150 * mb, 612 * mb, 613 * mb, 700 * mb])  # baseline, then one per interval; 512 is not more
    control = io.StringIO()
    await asyncio.wait_for(workers.watch_memory(control, 512, 0, rss=lambda: next(readings)), 10)
    lines = control.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == [{"recycle": True, "rssMb": 613.0, "baselineMb": 100.0}]


def test_rss_is_read_from_proc():
    assert workers.rss_bytes() > 10 * 2**20 and Path("/proc/self/statm").exists()


def test_the_recycle_limit_is_a_setting(tmp_path):
    """``worker_recycle_rss_mb`` reaches the supervisor; 0 turns recycling off."""
    from shlyuz.config import Settings

    assert workers.Supervisor(Settings(data_dir=tmp_path, worker_recycle_rss_mb=200), 1).options["recycleRssMb"] == 200
    assert workers.Supervisor(Settings(data_dir=tmp_path, worker_recycle_rss_mb=0), 1).options["recycleRssMb"] is None
    assert workers.Supervisor(Settings(data_dir=tmp_path), 1).options["recycleRssMb"] == 512
