-- wrk script for bench/load_bench.sh: each connection sends one request every 50 ms (so
-- 10 connections make 200 requests/s), cycling through the read routes of the API.
local paths = {
  "/api/status",
  "/api/results/ip-topk/latest",
  "/api/results/protocol-share?limit=20",
  "/metrics",
  "/api/results/ip-outliers/latest",
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
delay = function()
  return 50
end
local non2xx = 0
response = function(status, headers, body)
  if status ~= 200 then non2xx = non2xx + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("p50_ms %.3f\np90_ms %.3f\np99_ms %.3f\nmax_ms %.3f\nrequests %d\nerrors %d\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
      + summary.errors.timeout))
end
