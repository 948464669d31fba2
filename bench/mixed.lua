-- wrk script for bench/soak.py: alternate two POSTs, $BENCH_BODY_A to $BENCH_PATH_A and $BENCH_BODY_B to
-- $BENCH_PATH_B (the signed (a) and unsigned (b) exchanges), one after the other on every connection.
local function slurp(name)
  local f = assert(io.open(assert(os.getenv(name), name .. " not set"), "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local headers = { ["Content-Type"] = "text/xml; charset=utf-8", ["SOAPAction"] = '""' }
local reqs = {}
local i = 0

init = function(args)
  reqs[1] = wrk.format("POST", os.getenv("BENCH_PATH_A"), headers, slurp("BENCH_BODY_A"))
  reqs[2] = wrk.format("POST", os.getenv("BENCH_PATH_B"), headers, slurp("BENCH_BODY_B"))
end

request = function()
  i = i + 1
  return reqs[(i % 2) + 1]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d connect_err=%d read_err=%d write_err=%d timeout=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect, e.read, e.write, e.timeout))
end
