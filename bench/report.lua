-- wrk -s bench/report.lua: print one machine-readable line at the end, in the
-- format bench/loadgen prints too, so bench/run.sh parses either.
-- Latencies are in microseconds; non2xx counts statuses >= 400.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50=%d p99=%d reqs=%d non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
