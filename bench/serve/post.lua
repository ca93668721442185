-- wrk script for bench/serve/run.sh: POST /api/neural with the seed's body
-- ({"gridValues": 28 rows of 28, "method": 0}), cycling through the real
-- MNIST test images in $BODIES (one JSON body per line), and print one
-- machine-readable RESULT line.
local requests = {}

init = function(args)
  for line in io.lines(os.getenv("BODIES")) do
    requests[#requests + 1] = wrk.format("POST", "/api/neural", { ["Content-Type"] = "application/json" }, line)
  end
end

local i = 0
request = function()
  i = i % #requests + 1
  return requests[i]
end

done = function(summary, latency, _)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT requests=%d rps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000, errors))
end
