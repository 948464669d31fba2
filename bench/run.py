"""Side by side on this machine, one load generator (wrk, a separate process, 127.0.0.1, bounded runs):

  (a)    shlyuz, signed GBD FL exchange on /bip-sync-wss-gost/ (WS-Security + data signature verified, certificate
         checked with cached revocation, routed, answered, reply data and envelope signed) — RSA-2048 keys
  (a-ec) the same with ECDSA P-256 keys everywhere (applicant, system/GBDFL, gateway)
  (b)    shlyuz, unsigned GBD FL exchange on /bip-sync/ (reply data still signed by GBD FL, as by default)
  (c)    WireMock 3.13.2 (npm package wiremock), url + matchesXPath on serviceId, journal off, warmed up 60 s
  (d)    a bare aiohttp handler returning the anchor response bytes (1 and 2 processes, SO_REUSEPORT)

    .venv/bin/python bench/run.py [--duration 10] [--runs 3] [--workers 1,2] [--conns 50,8] [--skip-wiremock]
                                  [--skip-ecdsa] [--no-docs]

Installs wrk (apt-get) and WireMock (npm, into bench/.cache) when missing. Prints a markdown table (median of the
runs), the ratios and the targets, and replaces the generated part of the section "Side by side: shlyuz vs
WireMock (wrk)" in docs/benchmarks.md (unless --no-docs). Every server runs in its own process group and is
stopped on the way out, errors included.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as B  # noqa: E402
from ceiling import ceiling  # noqa: E402

DOC = B.REPO / "docs" / "benchmarks.md"
SECTION = "## Side by side: shlyuz vs WireMock (wrk)"
BEGIN, END = "<!-- bench/run.py: generated, begin -->", "<!-- bench/run.py: generated, end -->"
REF = {"c": 1738.0, "d1": 8397.0, "d2": 12415.0, "ceil-rsa": 1800.0, "ceil-ec": 4000.0}
LABELS = {
    "a": "(a) shlyuz signed, RSA-2048", "a-ec": "(a) shlyuz signed, ECDSA P-256", "b": "(b) shlyuz unsigned",
    "b-ec": "(b) shlyuz unsigned, ECDSA PKI", "c": "(c) WireMock XPath", "d": "(d) bare aiohttp",
}  # fmt: skip


class Bench:
    def __init__(self, args: argparse.Namespace, wrk: str, tmp: Path) -> None:
        self.args, self.wrk, self.tmp = args, wrk, tmp
        self.results: dict[tuple[str, int, int], list[B.WrkResult]] = {}
        self.sizes: dict[str, tuple[int, int]] = {}  # case -> (request bytes, response bytes)
        self.ceil: dict[str, tuple[float, float]] = {}  # key kind -> (req/s on nproc cores, µs per exchange)
        self.notes: list[str] = []
        self.merged: dict[tuple[str, int, int], str] = {}  # key -> when it was measured (rows from --merge)
        self.save = args.save.open("a", encoding="utf-8")

    def record(self, kind: str, **data) -> None:
        self.save.write(json.dumps({"kind": kind, "at": time.strftime("%Y-%m-%d %H:%M"), **data}) + "\n")
        self.save.flush()

    def merge(self, path: Path) -> None:
        """Rows of an earlier run (its --save file) for the (case, processes, conns) this run did not measure."""
        fresh = set(self.results)
        for line in path.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            if d["kind"] == "run" and (key := (d["case"], d["procs"], d["conns"])) not in fresh:
                r = B.WrkResult(**{f.name: d[f.name] for f in dataclasses.fields(B.WrkResult) if f.name in d})
                self.results.setdefault(key, []).append(r)
                self.merged[key] = d["at"]
            elif d["kind"] == "size":
                self.sizes.setdefault(d["case"], tuple(d["sizes"]))  # type: ignore[arg-type]
            elif d["kind"] == "ceiling":
                self.ceil.setdefault(d["key"], tuple(d["value"]))  # type: ignore[arg-type]
            elif d["kind"] == "note" and d["text"] not in self.notes:
                self.notes.append(d["text"])

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            self.record("note", text=text)

    def measure(self, case: str, procs: int, server: B.Server, url: str, body: Path) -> None:
        for conns in self.args.conns:
            for _ in range(self.args.runs):
                self._one(case, procs, conns, server, url, body)

    def _one(self, case: str, procs: int, conns: int, server: B.Server, url: str, body: Path) -> None:
        for attempt in range(self.args.retries + 1):
            B.wait_quiet(self.args.quiet, self.args.quiet_timeout)
            r = B.run_wrk(self.wrk, url, B.BENCH / "post.lua", {"BENCH_BODY": str(body)}, conns=conns,
                          duration=self.args.duration, server=server)  # fmt: skip
            other = r.other_cpu_s / r.duration_s
            if other <= self.args.quiet or attempt == self.args.retries:
                break
            B.log(f"{case} x{procs} c{conns}: run discarded, other processes used {other:.2f} cores")
        self.results.setdefault((case, procs, conns), []).append(r)
        self.record("run", case=case, procs=procs, conns=conns, **dataclasses.asdict(r))
        B.log(f"{case} x{procs} c{conns}: {r.rps:,.0f} req/s p99 {r.p99_ms:.1f} ms cpu {r.cpu_ms_per_req:.3f} ms/req "
              f"rss {r.rss_bytes / 2**20:.0f} MiB errors {r.error_count}")  # fmt: skip

    def warm(self, server: B.Server, url: str, body: Path, seconds: float) -> None:
        if seconds > 0:
            B.log(f"warm-up {seconds:.0f} s: {url}")
            B.run_wrk(self.wrk, url, B.BENCH / "post.lua", {"BENCH_BODY": str(body)}, conns=50, duration=seconds,
                      server=server)  # fmt: skip

    # --- the cases --------------------------------------------------------------------------------------------

    def shlyuz(self, key_kind: str, workers: int, has_workers: bool) -> None:
        data_dir = self.tmp / f"shlyuz-{key_kind}-x{workers}"
        port = B.free_port()
        B.init_pki(data_dir, port, key_kind)
        bodies = B.build_bodies(data_dir)
        files = {}
        for name in ("signed", "unsigned"):
            files[name] = data_dir / f"{name}.xml"
            files[name].write_bytes(bodies[name])  # type: ignore[arg-type]
        ec = key_kind == "ec-p256"
        cases = [("a-ec" if ec else "a", B.WSS, "signed"), ("b-ec" if ec else "b", B.SYNC, "unsigned")]
        cases = [c for c in cases if c[0] in self.args.cases]
        if workers == self.args.workers[0]:
            self.note(f"{key_kind}: requests padded with {bodies['properties']} `properties` of 64 characters; "
                      f"signer key {bodies['key']}")  # fmt: skip
        with B.start_shlyuz(data_dir, port, workers, has_workers, self.args.log_level) as server:
            base = f"http://127.0.0.1:{port}"
            for case, path, name in cases:
                status, reply = B.post(base + path, files[name].read_bytes())
                if status != 200 or b"SCSS001" not in reply:
                    raise RuntimeError(f"{case}: preflight answered {status}: {reply[:600]!r}")
                self.sizes[case] = (files[name].stat().st_size, len(reply))
                self.record("size", case=case, sizes=self.sizes[case])
                self.warm(server, base + path, files[name], self.args.warmup)
            for conns in self.args.conns:  # interleave (a) and (b) runs
                for _ in range(self.args.runs):
                    for case, path, name in cases:
                        self._one(case, workers, conns, server, base + path, files[name])
        if key_kind not in self.ceil:
            self.ceil[key_kind] = ceiling(data_dir)[:2]
            self.record("ceiling", key=key_kind, value=self.ceil[key_kind])

    def bare(self, procs: int) -> None:
        port = B.free_port()
        response = B.ANCHORS / "response.xml"
        cmd = [str(B.PY), str(B.BENCH / "bare_aiohttp.py"), "--port", str(port), "--response", str(response),
               "--processes", str(procs)]  # fmt: skip
        with B.Server(f"bare aiohttp x{procs}", cmd, self.tmp / f"bare-x{procs}.log", "listening on", port) as server:
            server.wait_ready()
            url = f"http://127.0.0.1:{port}/bip-sync/"
            status, reply = B.post(url, (B.ANCHORS / "request.xml").read_bytes())
            assert status == 200 and reply == response.read_bytes(), status
            self.sizes["d"] = ((B.ANCHORS / "request.xml").stat().st_size, len(reply))
            self.record("size", case="d", sizes=self.sizes["d"])
            self.warm(server, url, B.ANCHORS / "request.xml", 3)
            self.measure("d", procs, server, url, B.ANCHORS / "request.xml")

    def wiremock(self) -> None:
        java, jar = B.ensure_wiremock()
        root = self.tmp / "wiremock-xpath"
        shutil.copytree(B.ANCHORS / "wiremock-xpath", root)
        port = B.free_port()
        cmd = [java, "-jar", str(jar), "--port", str(port), "--bind-address", "127.0.0.1", "--root-dir", str(root),
               "--no-request-journal", "--disable-banner"]  # fmt: skip
        self.note(f"WireMock: {jar.name}, {B._version([java, '-version'])}")
        with B.Server("WireMock", cmd, self.tmp / "wiremock.log", "port:", port) as server:
            server.wait_ready()
            url = f"http://127.0.0.1:{port}/bip-sync/"
            status, reply = B.post(url, (B.ANCHORS / "request.xml").read_bytes())
            if status != 200 or reply != (B.ANCHORS / "response.xml").read_bytes():
                raise RuntimeError(f"WireMock answered {status}: {reply[:300]!r}")
            self.sizes["c"] = ((B.ANCHORS / "request.xml").stat().st_size, len(reply))
            self.record("size", case="c", sizes=self.sizes["c"])
            self.warm(server, url, B.ANCHORS / "request.xml", self.args.wiremock_warmup)
            self.measure("c", 1, server, url, B.ANCHORS / "request.xml")

    # --- the report -------------------------------------------------------------------------------------------

    def med(self, case: str, procs: int, conns: int, attr: str = "rps") -> float | None:
        runs = self.results.get((case, procs, conns))
        if not runs:
            return None
        return statistics.median(getattr(r, attr) if attr != "cpu" else r.cpu_ms_per_req for r in runs)

    def table(self) -> str:
        rows = ["| case | processes | conns | req/s | p50 ms | p95 ms | p99 ms | CPU ms/req | RSS MiB | errors "
                "| wrk CPU (cores) | other CPU (cores) | request B | response B |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        order = ["a", "a-ec", "b", "b-ec", "c", "d"]
        for conns in self.args.conns:
            for (case, procs, c), runs in sorted(self.results.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
                if c != conns:
                    continue
                m = lambda attr: self.med(case, procs, c, attr)  # noqa: E731
                errors = sum(r.error_count for r in runs)
                wrk_cores = statistics.median(r.wrk_cpu_s / r.duration_s for r in runs)
                other = max(r.other_cpu_s / r.duration_s for r in runs)
                req, resp = self.sizes.get(case, (0, 0))
                procs_label = f"{procs}" + ("" if case != "c" else " (JVM)")
                mark = f" (measured {self.merged[(case, procs, c)]})" if (case, procs, c) in self.merged else ""
                rows.append(f"| {LABELS[case]}{mark} | {procs_label} | {c} | {m('rps'):,.0f} | {m('p50_ms'):.1f} "
                            f"| {m('p95_ms'):.1f} | {m('p99_ms'):.1f} | {m('cpu'):.3f} | {m('rss_bytes') / 2**20:.0f} "
                            f"| {errors} | {wrk_cores:.2f} | {other:.2f} | {req:,} | {resp:,} |")  # fmt: skip
        return "\n".join(rows)

    def ratios(self) -> tuple[str, str]:
        c50, c8 = self.args.conns[0], (8 if 8 in self.args.conns else None)
        c = self.med("c", 1, c50)
        lines, targets = [], []

        def ratio(name: str, num: float | None, den: float | None, goal: float | None = None, what: str = "") -> None:
            if num is None or den is None or not den:
                return
            r = num / den
            lines.append(f"| {name} | {r:.2f}× | " + (f"≥ {goal:g}× | {'met' if r >= goal else '**not met**'} |"
                                                    if goal is not None else "— | — |"))  # fmt: skip
            if goal is not None:
                targets.append((name, r >= goal))

        for w in self.args.workers:
            a, aec, b = self.med("a", w, c50), self.med("a-ec", w, c50), self.med("b", w, c50)
            ratio(f"(a) RSA / (c), {w} proc", a, c, 1.0)
            if "mixed" in self.ceil:
                ratio(f"(a) RSA / crypto ceiling measured ({self.ceil['mixed'][0]:,.0f}), {w} proc", a,
                      self.ceil["mixed"][0], 0.85)  # fmt: skip
            ratio(f"(a) RSA / crypto ceiling of the issue ({REF['ceil-rsa']:,.0f}), {w} proc", a, REF["ceil-rsa"], 0.85)
            ratio(f"(a) ECDSA / (c), {w} proc", aec, c, 2.0)
            if "ec-p256" in self.ceil:
                ratio(f"(a) ECDSA / crypto ceiling measured ({self.ceil['ec-p256'][0]:,.0f}), {w} proc", aec,
                      self.ceil["ec-p256"][0])  # fmt: skip
            ratio(f"(b) / (c), {w} proc", b, c, 3.0)
            ratio(f"(b) / (d), {w} proc each", b, self.med("d", w, c50), 0.6)
            ratio(f"(b) ECDSA PKI / (d), {w} proc each", self.med("b-ec", w, c50), self.med("d", w, c50))
        if len(self.args.workers) > 1:
            w1, w2 = self.args.workers[0], self.args.workers[-1]
            for case in ("a", "a-ec", "b"):
                ratio(f"{LABELS[case]}: {w2} / {w1} processes", self.med(case, w2, c50), self.med(case, w1, c50), 1.7)
            ratio(f"(d): {w2} / {w1} processes", self.med("d", w2, c50), self.med("d", w1, c50))
        if c8:
            for w in self.args.workers:
                for case in ("a", "a-ec", "b"):
                    p99 = self.med(case, w, c8, "p99_ms")
                    if p99 is not None:
                        ok = p99 <= 20.0
                        lines.append(f"| p99 {LABELS[case]}, {w} proc, 8 conns | {p99:.1f} ms | ≤ 20 ms "
                                     f"| {'met' if ok else '**not met**'} |")  # fmt: skip
                        targets.append((f"p99 {case} {w} proc", ok))
        head = "| ratio (req/s, medians, 50 conns) | value | target | |\n|---|---:|---:|---|\n"
        met = sum(ok for _, ok in targets)
        return head + "\n".join(lines), f"{met} of {len(targets)} targets met"

    def markdown(self, info: dict[str, str], command: str, has_workers: bool, started: float) -> str:
        table, (ratios, summary) = self.table(), self.ratios()
        ceil = "; ".join(f"{k}: {us:.0f} µs per exchange on one core → {rps:,.0f} req/s on {info['nproc']} cores"
                         for k, (rps, us) in self.ceil.items())  # fmt: skip
        procs = ("`shlyuz serve --workers N`" if has_workers else
                 "1 process: `shlyuz serve`; N > 1: bench/shlyuz_multi.py (the same app in N processes with "
                 "SO_REUSEPORT — `serve --workers` did not exist when this ran)")  # fmt: skip
        return "\n".join([
            BEGIN,
            f"Measured {date.today().isoformat()} with `{command}` ({(time.time() - started) / 60:.0f} min).",
            "",
            f"Machine: {info['nproc']} CPUs (`nproc`), {info['cpu']}, {info['ram']} RAM, Linux {info['kernel']}; "
            f"load average before {info['loadavg']}. Python {info['python']}, shlyuz {info['shlyuz']}, aiohttp "
            f"{info['aiohttp']}, lxml {info['lxml']} (libxml2 {info['libxml2']}), cryptography {info['cryptography']}; "
            f"{info['wrk']}; {info['java']}. Source: {info['source']}.",
            "",
            f"Load: `wrk -t2 -c<conns> -d{self.args.duration:g}s -s bench/post.lua` from a separate process on "
            f"127.0.0.1, sharing the {info['nproc']} cores with the server; median of {self.args.runs} runs per row "
            f"(CPU and RSS are the server's processes, from /proc; RSS after the run; other CPU = the rest of the "
            f"machine during the run, the worst of the runs — a run is repeated up to {self.args.retries} times when "
            f"it exceeds {self.args.quiet:g} cores). shlyuz: {procs}; fresh data "
            f"dir per server, journal on (`journal_bodies = true`), log level {self.args.log_level}, warmed "
            f"{self.args.warmup:g} s per endpoint; (a) and (b) runs interleaved. WireMock warmed "
            f"{self.args.wiremock_warmup:g} s.",
            "",
            *[f"- {n}" for n in self.notes],
            "",
            table,
            "",
            ratios,
            "",
            f"**{summary}.** Crypto ceiling (bench/ceiling.py: 2 verifications + 2 signatures + 4 SHA-256 digests, "
            f"no XML/HTTP): {ceil}. The issue's reference ceiling: ~{REF['ceil-rsa']:,.0f} (RSA) / "
            f"~{REF['ceil-ec']:,.0f} (ECDSA) req/s on 2 cores. Anchor figures (issue): WireMock {REF['c']:,.0f}, "
            f"bare aiohttp {REF['d1']:,.0f} / {REF['d2']:,.0f} req/s.",
            END,
        ])  # fmt: skip


def write_doc(block: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    if BEGIN in text and END in text:
        pre, rest = text.split(BEGIN, 1)
        text = pre + block + rest.split(END, 1)[1]
    elif SECTION in text:
        pre, rest = text.split(SECTION, 1)
        text = pre + SECTION + "\n\n" + block + "\n" + rest
    else:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n```sh\n.venv/bin/python bench/run.py\n```\n\n{block}\n"
    DOC.write_text(text, encoding="utf-8")
    B.log(f"wrote {DOC}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    ap.add_argument("--runs", type=int, default=3, help="runs per case, the median is reported (default 3)")
    ap.add_argument("--workers", default="1,2", help="shlyuz and bare aiohttp process counts (default 1,2)")
    ap.add_argument("--conns", default="50,8", help="wrk connections; the first is the throughput run (default 50,8)")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up per shlyuz endpoint (default 5)")
    ap.add_argument("--wiremock-warmup", type=float, default=60.0, help="seconds of WireMock warm-up (default 60)")
    ap.add_argument("--quiet", type=float, default=0.2,
                    help="a run counts when other processes used at most this many cores (default 0.2)")
    ap.add_argument("--quiet-timeout", type=float, default=300, help="seconds to wait for a quiet machine")
    ap.add_argument("--retries", type=int, default=2, help="re-runs of a run disturbed by other processes")
    ap.add_argument("--cases", default="a,b,a-ec,b-ec,c,d", help="cases to run (default all: a,b,a-ec,b-ec,c,d)")
    ap.add_argument("--merge", type=Path, action="append", default=[],
                    help="an earlier run's --save file: its rows fill in the cases not run now")
    ap.add_argument("--save", type=Path, help="where every run is recorded (default bench/.cache/run-<time>.jsonl)")
    ap.add_argument("--skip-wiremock", action="store_true", help="same as leaving c out of --cases")
    ap.add_argument("--skip-ecdsa", action="store_true", help="same as leaving a-ec,b-ec out of --cases")
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                    help="shlyuz log level (default info, as shipped)")  # fmt: skip
    ap.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data dirs and logs")
    args = ap.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    args.conns = [int(c) for c in args.conns.split(",")]
    args.cases = set(args.cases.split(","))
    if args.skip_wiremock:
        args.cases.discard("c")
    if args.skip_ecdsa:
        args.cases -= {"a-ec", "b-ec"}
    B.CACHE.mkdir(parents=True, exist_ok=True)
    args.save = args.save or B.CACHE / f"run-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    command = " ".join([".venv/bin/python bench/run.py", *sys.argv[1:]])
    started = time.time()
    B.install_signal_handlers()
    wrk = B.ensure_wrk()
    if "c" in args.cases:
        B.ensure_wiremock()
    has_workers = B.serve_has_workers()
    info = B.machine_info()
    tmp = Path(tempfile.mkdtemp(prefix="shlyuz-bench-"))
    bench = Bench(args, wrk, tmp)
    failed = True
    try:
        for key_kind, pair in (("mixed", {"a", "b"}), ("ec-p256", {"a-ec", "b-ec"})):
            if pair & args.cases:
                for w in args.workers:
                    bench.shlyuz(key_kind, w, has_workers)
        if "d" in args.cases:
            for w in args.workers:
                bench.bare(w)
        if "c" in args.cases:
            bench.wiremock()
        failed = False
    finally:
        B._stop_all()
        if args.keep or failed:
            B.log(f"kept {tmp} (server logs, data dirs)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    B.log(f"runs recorded in {args.save}")
    for path in args.merge:
        bench.merge(path)
    block = bench.markdown(info, command, has_workers, started)
    print(block)
    if not args.no_docs:
        write_doc(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
