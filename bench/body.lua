-- wrk script of `make bench`: POST one fixed JSON body, then print the results as one
-- JSON line that bench/wrk.py reads.
--   wrk -t1 -c32 -d8s --latency -s bench/body.lua http://127.0.0.1:8000/v1/models/digits:predict -- body.json

function init(args)
   local file = assert(io.open(args[1], "rb"), "cannot open the body file " .. tostring(args[1]))
   wrk.body = file:read("*a")
   file:close()
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"min": %d, "mean": %.3f, "max": %d, "p50": %d, "p90": %d, "p99": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
