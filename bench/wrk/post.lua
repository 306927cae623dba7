-- POST the JSON body in the file named by BENCH_BODY_FILE; at the end print one line of results
-- as JSON (latencies in microseconds), which bench/harness/loadgen.py reads.
local file = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %.0f, "duration_us": %.0f, "connect": %.0f, "read": %.0f, '
      .. '"write": %.0f, "status": %.0f, "timeout": %.0f, "p50_us": %.1f, "p90_us": %.1f, '
      .. '"p99_us": %.1f, "max_us": %.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
