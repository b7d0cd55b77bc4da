-- Shared by the bench scripts: the Streetlighting @context, a per-thread seed, and a
-- done() that prints one machine-readable line: "WRKJSON {...}" (latencies in microseconds).
local M = {}

M.link = '<https://smart-data-models.github.io/dataModel.Streetlighting/context.jsonld>; '
  .. 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'

-- the city: Tianjin, +-0.06 deg longitude, +-0.045 deg latitude (same box as bench/run.py)
M.lon0, M.lat0, M.dlon, M.dlat = 117.20, 39.13, 0.06, 0.045

function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,'
      .. '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,'
      .. '"mean_us":%.1f,"max_us":%.1f,"p50_us":%.1f,"p90_us":%.1f,"p95_us":%.1f,"p99_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency.mean, latency.max, latency:percentile(50),
    latency:percentile(90), latency:percentile(95), latency:percentile(99)))
end

return M
