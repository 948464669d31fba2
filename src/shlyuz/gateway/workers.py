"""Several gateway processes on one port: ``shlyuz serve --workers N`` (N > 1). docs/resilience.md tells the story.

The **supervisor** (the ``shlyuz serve`` process) does once what must happen once — it reserves the port (port 0
becomes a real one here), loads and validates the fixtures, opens the test PKI and issues the fixture identities,
creates the journal schema — and then starts N **workers**, each ``python -m shlyuz serve --worker-of PID
--worker-id K``. Every worker builds its own :class:`~shlyuz.gateway.app.Gateway` and listens on the same host and
port with ``SO_REUSEPORT``; the kernel spreads incoming connections over the workers. The supervisor restarts a
worker that dies and gives up (exit 1) when one keeps dying at start.

Between the supervisor and a worker:

``stdin``
    the supervisor writes the settings as one JSON line, then the worker's own options (``{"recycleRssMb": ...}``) as
    another, and keeps the pipe open. End of file means the supervisor is gone (even by SIGKILL): the worker then
    stops gracefully instead of living on as an orphan.
``stdout``
    the worker writes one JSON line, ``{"ready": true, ...}``, once it listens, and later at most one
    ``{"recycle": true, ...}`` (below); nothing else (the worker points its own fd 1 at stderr after taking the
    channel).
``stderr``
    inherited: every process's JSON logs go to the same place, each line with ``worker`` (0 is the supervisor) and
    ``pid``.

Signals: SIGTERM stops a worker gracefully (in-flight requests finish, the journal writer flushes). Workers ignore
SIGINT: Ctrl-C in a terminal signals the whole process group, and shutdown is the supervisor's to run.

Recycling: a worker whose RSS has grown by more than ``worker_recycle_rss_mb`` (a setting, 512 MiB) since it started listening asks to be
replaced. The supervisor starts a new worker in the same slot and, once that one listens, stops the old one
gracefully (SIGTERM: in-flight requests finish), so the port never lacks a listener. This bounds what nothing else
can: lxml interns every element and attribute name it ever parsed in a per-thread dictionary that is never emptied,
so requests full of fresh names grow a process for good (docs/fuzzing.md, #14).

There is no module-level mutable state: a :class:`Supervisor` holds everything of its run.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, Literal

import structlog
from aiohttp import web

from shlyuz.config import Settings
from shlyuz.gateway.app import Gateway, build_gateway, create_app
from shlyuz.logs import configure_logging

log = structlog.get_logger("shlyuz.workers")

SUPERVISOR = 0  # the ``worker`` value of the supervisor's own log lines
READY_TIMEOUT = 120.0  # seconds a new worker gets to listen (it loads fixtures and the PKI index: ~1 s)
EARLY_DEATH_S = 10.0  # a worker that dies sooner than this after its start died "at start"
MAX_EARLY_DEATHS = 5  # that many early deaths in a row of one worker: the supervisor gives up
KILL_GRACE = 10.0  # seconds beyond shutdown_timeout before a worker that does not stop is killed
MEMORY_CHECK_S = 10.0  # how often a worker reads its RSS

Announce = Callable[[Settings, str, Gateway, list[int]], None]
Command = Callable[[int, int], list[str]]


def worker_command(supervisor_pid: int, worker: int) -> list[str]:
    return [sys.executable, "-m", "shlyuz", "serve", "--worker-of", str(supervisor_pid), "--worker-id", str(worker)]


def tag_process(worker: int) -> None:
    """Every log line of this process carries ``worker`` (0: the supervisor) and ``pid``, and is written whole.

    Several processes share one stderr here. ``print`` (structlog's PrintLogger) writes a line and its newline in
    two ``write`` calls on Python's write-through stderr, so lines of two processes could interleave; structlog's
    WriteLogger writes ``line + "\n"`` at once (atomic on a pipe up to PIPE_BUF, 4096 bytes on Linux)."""
    pid = os.getpid()

    def add_process(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("worker", worker)
        event.setdefault("pid", pid)
        return event

    structlog.configure(
        processors=[add_process, *structlog.get_config()["processors"]],
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
    )


def describe_exit(code: int | None) -> str:
    if code is None:
        return "not started"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (never listen on) ``host:port`` with SO_REUSEPORT: it picks the port when ``port`` is 0 and keeps it
    ours while workers come and go. A listener already there — another program, or another shlyuz — is refused
    first, because SO_REUSEPORT alone would let us join its port."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise OSError("--workers > 1 needs SO_REUSEPORT, which this system lacks; use --workers 1")
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    if port:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no obstacle, a listener is
            probe.bind(address)
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


# --- the supervisor ---------------------------------------------------------------------------------------------


class Supervisor:
    """Starts ``count`` workers, restarts those that die, stops them all on SIGTERM/SIGINT."""

    def __init__(
        self,
        settings: Settings,
        count: int,
        *,
        command: Command = worker_command,
        ready_timeout: float = READY_TIMEOUT,
        recycle_rss_mb: float | None | Literal["settings"] = "settings",
        memory_check_s: float = MEMORY_CHECK_S,
    ) -> None:
        self.settings = settings
        self.count = count
        self.command = command
        self.ready_timeout = ready_timeout
        if recycle_rss_mb == "settings":  # the setting; 0 there means never
            recycle_rss_mb = settings.worker_recycle_rss_mb or None
        self.options = {"recycleRssMb": recycle_rss_mb, "memoryCheckS": memory_check_s}  # None: never recycle
        self.recycled = 0  # workers replaced on their own request
        self._retirements: set[asyncio.Task[None]] = set()  # old workers being stopped after their successor listens
        self.pids: dict[int, int] = {}  # worker → pid of its current process
        self.failure: str | None = None
        self._stop = asyncio.Event()
        self._all_ready = asyncio.Event()
        self._ready: set[int] = set()
        self._payload = b""

    def stop(self, reason: str = "requested") -> None:
        if not self._stop.is_set():
            log.info("supervisor_stopping", reason=reason)
        self._stop.set()

    def _on_signal(self, name: str) -> None:
        if not self._stop.is_set():
            sys.stderr.write("shlyuz: shutting down (finishing in-flight requests)\n")  # one write: see tag_process
        self.stop(name)

    async def run(self, announce: Announce | None = None) -> int:
        """0 when every worker stopped cleanly on request; 1 when workers kept dying or did not stop cleanly.
        Raises what single-process ``serve`` raises for a bad config, bad fixtures or a port it cannot have."""
        loop = asyncio.get_running_loop()
        reservation = reserve_port(self.settings.host, self.settings.port)
        signals: list[signal.Signals] = []
        tasks: list[asyncio.Task[bool]] = []
        try:
            host, port = reservation.getsockname()[:2]
            settings = self.settings.model_copy(update={"port": port})
            started = time.perf_counter()
            gateway = build_gateway(settings)  # fixtures validated, PKI opened, fixture identities issued: once
            await gateway.storage.open()  # the journal schema and WAL mode: once
            await gateway.storage.close()
            if gateway.revocation is not None:
                await gateway.revocation.close()
            log.info("supervisor_prepared", workers=self.count, port=port,
                     ms=round((time.perf_counter() - started) * 1000, 1))  # fmt: skip
            self._payload = (settings.model_dump_json(by_alias=True) + "\n" + json.dumps(self.options) + "\n").encode()
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, self._on_signal, sig.name)
                    signals.append(sig)
                except (NotImplementedError, RuntimeError):
                    pass
            tasks = [asyncio.create_task(self._keep(k), name=f"worker-{k}") for k in range(1, self.count + 1)]
            ready = asyncio.create_task(self._all_ready.wait())
            stopped = asyncio.create_task(self._stop.wait())
            await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
            if self._all_ready.is_set() and not self._stop.is_set():
                log.info("workers_ready", workers=self.count, pids=[self.pids[k] for k in sorted(self.pids)])
                if announce is not None:
                    announce(settings, f"http://{host}:{port}", gateway, [self.pids[k] for k in sorted(self.pids)])
            await stopped
            clean = await asyncio.gather(*tasks)
            await asyncio.gather(*list(self._retirements))
        finally:
            for task in tasks:
                task.cancel()
            for sig in signals:
                loop.remove_signal_handler(sig)
            reservation.close()
        if self.failure is not None:
            log.error("supervisor_gave_up", reason=self.failure)
            return 1
        log.info("supervisor_stopped", clean=all(clean))
        return 0 if all(clean) else 1

    async def _keep(self, worker: int) -> bool:
        """Keep one worker running until the stop; True when its last process stopped cleanly."""
        loop = asyncio.get_running_loop()
        early = 0
        retiring: asyncio.subprocess.Process | None = None  # asked to be recycled; stopped once its successor listens
        try:
            while not self._stop.is_set():
                started = loop.time()
                try:
                    proc = await asyncio.create_subprocess_exec(
                        *self.command(os.getpid(), worker), stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                    )  # fmt: skip
                except OSError as exc:
                    log.error("worker_spawn_failed", child=worker, error=str(exc))
                    ready, code, recycle = False, None, False
                else:
                    self.pids[worker] = proc.pid
                    log.info("worker_started", child=worker, child_pid=proc.pid)
                    ready, code, recycle = await self._watch(worker, proc, retiring)
                    retiring = None  # _watch stopped it (or it was gone)
                    if recycle:
                        retiring, early = proc, 0
                        continue
                    if self._stop.is_set():
                        return code == 0 or not ready  # one that never listened had nothing in flight
                uptime = loop.time() - started
                early = early + 1 if not ready or uptime < EARLY_DEATH_S else 0
                event = "worker_died" if ready else "worker_failed_to_start"
                log.error(event, child=worker, child_pid=self.pids.get(worker), exit=describe_exit(code),
                          uptime_s=round(uptime, 3), early_deaths=early)  # fmt: skip
                if early >= MAX_EARLY_DEATHS:
                    self.failure = f"worker {worker} died {early} times in a row at start ({describe_exit(code)})"
                    self.stop(self.failure)
                    return False
                delay = 0.0 if early <= 1 else min(0.25 * 2 ** (early - 2), 5.0)
                if delay:
                    try:
                        await asyncio.wait_for(self._stop.wait(), delay)
                    except TimeoutError:
                        pass
            return True
        finally:
            if retiring is not None and retiring.returncode is None:
                await self._retire(worker, retiring)

    async def _retire(self, worker: int, proc: asyncio.subprocess.Process) -> None:
        """Stop a worker that asked to be recycled (its successor listens, or the supervisor is stopping)."""
        code = await self._terminate(worker, proc)
        if proc.stdin is not None:
            proc.stdin.close()
        log.info("worker_recycled", child=worker, child_pid=proc.pid, exit=describe_exit(code))

    async def _watch(
        self, worker: int, proc: asyncio.subprocess.Process, retiring: asyncio.subprocess.Process | None = None
    ) -> tuple[bool, int | None, bool]:
        """Hand the worker its settings, wait for it to listen (then stop ``retiring``, the process it replaces),
        then for its exit, the stop (then stop it), or its request to be recycled (then return, leaving it running).
        Returns (listened, exit code, recycle requested)."""
        assert proc.stdin is not None and proc.stdout is not None
        stop = asyncio.create_task(self._stop.wait())
        recycle = False
        try:
            try:
                proc.stdin.write(self._payload)
                await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass  # it died already: its exit tells why
            line = asyncio.create_task(proc.stdout.readline())
            done, _ = await asyncio.wait({stop, line}, timeout=self.ready_timeout, return_when=asyncio.FIRST_COMPLETED)
            ready = False
            if line in done:
                ready = self._ready_line(worker, proc, line.result())
            else:
                line.cancel()
                if not done:
                    log.error("worker_not_ready", child=worker, child_pid=proc.pid, timeout_s=self.ready_timeout)
                    proc.kill()
            if retiring is not None and retiring.returncode is None:  # stopped meanwhile, not in the way of this watch
                task = asyncio.create_task(self._retire(worker, retiring), name=f"retire-{retiring.pid}")
                self._retirements.add(task)
                task.add_done_callback(self._retirements.discard)
            if ready:
                exited = asyncio.create_task(proc.wait())
                try:
                    while True:
                        request = asyncio.create_task(proc.stdout.readline())
                        await asyncio.wait({stop, exited, request}, return_when=asyncio.FIRST_COMPLETED)
                        if not request.done():
                            request.cancel()
                            break
                        raw = request.result()
                        if not raw:  # end of file: it is exiting
                            await asyncio.wait({stop, exited}, return_when=asyncio.FIRST_COMPLETED)
                            break
                        if not self._stop.is_set() and self._recycle_line(worker, proc, raw):
                            recycle = True
                            return True, None, True
                finally:
                    exited.cancel()
            if self._stop.is_set() and proc.returncode is None:
                return ready, await self._terminate(worker, proc), False
            return ready, await proc.wait(), False
        finally:
            stop.cancel()
            if not recycle:
                proc.stdin.close()

    def _recycle_line(self, worker: int, proc: asyncio.subprocess.Process, raw: bytes) -> bool:
        try:
            info = json.loads(raw)
        except ValueError:
            return False
        if not isinstance(info, dict) or info.get("recycle") is not True:
            return False
        self.recycled += 1
        log.warning("worker_recycle_requested", child=worker, child_pid=proc.pid, rss_mb=info.get("rssMb"),
                    baseline_mb=info.get("baselineMb"))  # fmt: skip
        return True

    def _ready_line(self, worker: int, proc: asyncio.subprocess.Process, raw: bytes) -> bool:
        try:
            info = json.loads(raw)
        except ValueError:
            info = None
        if not isinstance(info, dict) or info.get("ready") is not True:
            return False  # end of file: it died before listening
        log.info("worker_ready", child=worker, child_pid=proc.pid, ms=info.get("ms"))
        self._ready.add(worker)
        if len(self._ready) == self.count:
            self._all_ready.set()
        return True

    async def _terminate(self, worker: int, proc: asyncio.subprocess.Process) -> int:
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            code = await asyncio.wait_for(proc.wait(), self.settings.shutdown_timeout + KILL_GRACE)
        except TimeoutError:
            log.error("worker_kill", child=worker, child_pid=proc.pid, reason="did not stop in time")
            proc.kill()
            code = await proc.wait()
        log.info("worker_stopped", child=worker, child_pid=proc.pid, exit=describe_exit(code))
        return code


def run_supervisor(settings: Settings, announce: Announce | None = None) -> int:
    """``shlyuz serve --workers N``: run a supervisor in this process until SIGTERM/SIGINT."""
    tag_process(SUPERVISOR)
    return asyncio.run(Supervisor(settings, settings.workers).run(announce))


# --- a worker ---------------------------------------------------------------------------------------------------


def _read_lines(fd: int, count: int) -> list[bytes]:
    """The first ``count`` lines the supervisor wrote (fewer at end of file); nothing beyond them is read."""
    data = b""
    while data.count(b"\n") < count:
        chunk = os.read(fd, 65536)  # the supervisor writes nothing after them: no line of anything else is taken
        if not chunk:
            break
        data += chunk
    return data.split(b"\n")[:count]


def rss_bytes() -> int:
    """This process's resident set size (Linux /proc)."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def watch_memory(
    control: Any, limit_mb: float, interval: float, rss: Callable[[], int] = rss_bytes
) -> None:
    """Ask the supervisor once, on ``control``, to replace this worker when its RSS has grown by more than
    ``limit_mb`` since this started (the worker goes on serving until it is told to stop)."""
    baseline = rss()
    while True:
        await asyncio.sleep(interval)
        now = rss()
        if now - baseline > limit_mb * 2**20:
            info = {"recycle": True, "rssMb": round(now / 2**20, 1), "baselineMb": round(baseline / 2**20, 1)}
            log.warning("worker_recycle", limit_mb=limit_mb, rss_mb=info["rssMb"], baseline_mb=info["baselineMb"])
            control.write(json.dumps(info) + "\n")
            control.flush()
            return


async def _serve_worker(settings: Settings, worker: int, control: Any, options: dict[str, Any] | None = None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    def supervisor_gone() -> None:
        if not os.read(0, 4096):  # readable and empty: end of file
            loop.remove_reader(0)
            log.warning("supervisor_gone")
            stop.set()

    loop.add_reader(0, supervisor_gone)
    started = time.perf_counter()
    gateway = build_gateway(settings)
    runner = web.AppRunner(
        create_app(gateway), access_log=None, shutdown_timeout=settings.shutdown_timeout, handle_signals=False
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, reuse_address=True, reuse_port=True)
        await site.start()
        ms = round((time.perf_counter() - started) * 1000, 1)
        control.write(json.dumps({"ready": True, "worker": worker, "pid": os.getpid(), "ms": ms}) + "\n")
        control.flush()
        log.info("worker_listening", port=settings.port, ms=ms)
        options = options or {}
        memory = None
        if options.get("recycleRssMb") is not None:
            memory = asyncio.create_task(
                watch_memory(control, float(options["recycleRssMb"]), float(options.get("memoryCheckS") or MEMORY_CHECK_S))
            )
        await stop.wait()
        log.info("worker_stopping")
        if memory is not None:
            memory.cancel()
    finally:
        await runner.cleanup()  # in-flight requests finish, then the journal writer flushes and closes


def run_worker(supervisor_pid: int, worker: int) -> int:
    """``shlyuz serve --worker-of PID --worker-id K``: one worker, started by a supervisor (never by hand)."""
    from shlyuz.config import ConfigError
    from shlyuz.fixtures.store import FixtureError

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.getppid() != supervisor_pid:
        print(f"shlyuz: --worker-of {supervisor_pid}: not started by that supervisor", file=sys.stderr)
        return 2
    control = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # stdout is the control channel now: anything else printed goes to stderr
    lines = _read_lines(0, 2)
    try:
        settings = Settings.model_validate_json(lines[0])
        options = json.loads(lines[1]) if len(lines) > 1 and lines[1].strip() else {}
        if not isinstance(options, dict):
            raise ValueError(f"worker options must be a JSON object, not {lines[1][:60]!r}")  # noqa: TRY004
    except ValueError as exc:
        print(f"shlyuz: worker {worker}: no settings from the supervisor: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    tag_process(worker)
    try:
        asyncio.run(_serve_worker(settings, worker, control, options))
    except (FixtureError, ConfigError) as exc:
        print(f"shlyuz: worker {worker}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"shlyuz: worker {worker}: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
              file=sys.stderr)  # fmt: skip
        return 2
    return 0
