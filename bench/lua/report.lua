-- Shared by every bench script: after the run, print one machine-readable line
-- that run.sh parses (wrk's own human-readable report is printed above it).
-- Latencies are in microseconds in wrk; printed in milliseconds.
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "RESULT name=%s requests=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
      os.getenv("BENCH_NAME") or "?",
      summary.requests,
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000,
      latency:percentile(99) / 1000,
      latency.max / 1000,
      e.status, e.connect, e.read, e.write, e.timeout))
end
