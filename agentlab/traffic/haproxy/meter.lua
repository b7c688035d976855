-- agentlab's meter, loaded into HAProxy (`lua-load`): per-version request counts by status
-- class and a latency histogram, in Prometheus' text format at the metrics frontend.
--
-- agentlab names each server `<replica>--<version>`, so a request's version is the part of
-- its server's name after the last "--". `http-response` rules see the servers' responses
-- only: the ones HAProxy made itself (no server: 502, 503, 504) are the backend's counts
-- less the servers', shown under version "none". Latency is what the proxy sees: from the
-- request's headers to the response's headers. Backends named `agentlab_*` are agentlab's.

-- The configuration stamps each request (`http-request set-var(txn.agentlab_t0)
-- date(0,us)`) and passes the answer to `agentlab_observe` as one variable: "<backend>
-- <server> <status> <microseconds taken>" (`set-var-fmt`): one short Lua call per response,
-- which counts per server (its series made once) and leaves the sums per version to a scrape.

local BUCKETS = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
local series = {}  -- "backend server" -> {backend, version, codes = {}, buckets = {}, ...}

local function version_of(server)
  if server == nil or server == "" or server == "<NOSRV>" then
    return "none"
  end
  local version = string.match(server, ".*%-%-(.+)$")
  return version or "unknown"
end

local function entry_for(backend, server)
  local key = backend .. " " .. server
  local entry = series[key]
  if entry == nil then
    entry = {backend = backend, version = version_of(server), buckets = {}, sum = 0, count = 0,
             codes = {["1xx"] = 0, ["2xx"] = 0, ["3xx"] = 0, ["4xx"] = 0, ["5xx"] = 0}}
    for i = 1, #BUCKETS do entry.buckets[i] = 0 end
    series[key] = entry
  end
  return entry
end

local CLASS = {"1xx", "2xx", "3xx", "4xx", "5xx"}

core.register_action("agentlab_observe", {"http-res"}, function(txn)
  local seen = txn:get_var("txn.agentlab_seen") or ""
  local backend, server, status, micros = string.match(seen, "^(%S+) (%S+) (%d+) (%-?%d+)$")
  if backend == nil then
    return
  end
  local entry = entry_for(backend, server)
  local class = CLASS[math.floor(tonumber(status) / 100)]
  if class ~= nil then
    entry.codes[class] = entry.codes[class] + 1
  end
  local seconds = tonumber(micros) / 1000000
  entry.sum = entry.sum + seconds
  entry.count = entry.count + 1
  for i = 1, #BUCKETS do
    if seconds <= BUCKETS[i] then entry.buckets[i] = entry.buckets[i] + 1 end
  end
end)

local function labels(entry)
  return string.format('backend="%s",version="%s"', entry.backend, entry.version)
end

-- Per backend and version: servers of one version are summed (replicas come and go).
local function by_version()
  local found = {}
  for _, entry in pairs(series) do
    local key = entry.backend .. " " .. entry.version
    local sum = found[key]
    if sum == nil then
      sum = {backend = entry.backend, version = entry.version, codes = {}, buckets = {},
             sum = 0, count = 0}
      for i = 1, #BUCKETS do sum.buckets[i] = 0 end
      found[key] = sum
    end
    for class, count in pairs(entry.codes) do sum.codes[class] = (sum.codes[class] or 0) + count end
    for i = 1, #BUCKETS do sum.buckets[i] = sum.buckets[i] + entry.buckets[i] end
    sum.sum = sum.sum + entry.sum
    sum.count = sum.count + entry.count
  end
  return found
end

local CLASSES = {"1xx", "2xx", "3xx", "4xx", "5xx"}

-- The responses of each agentlab backend that no server gave: backend counts less ours.
local function proxy_made()
  local counted = {}
  for _, entry in pairs(by_version()) do
    local seen = counted[entry.backend] or {}
    for class, count in pairs(entry.codes) do seen[class] = (seen[class] or 0) + count end
    counted[entry.backend] = seen
  end
  local made = {}
  for name, backend in pairs(core.backends) do
    if string.sub(name, 1, 9) == "agentlab_" then
      local stats = backend:get_stats()
      for _, class in ipairs(CLASSES) do
        local extra = (tonumber(stats["hrsp_" .. class]) or 0) - ((counted[name] or {})[class] or 0)
        if extra > 0 then made[#made + 1] = {backend = name, code = class, count = extra} end
      end
    end
  end
  return made
end

core.register_service("agentlab_metrics", "http", function(applet)
  local versions = by_version()
  local out = {
    "# HELP agentlab_requests_total Requests through agentlab's traffic layer.",
    "# TYPE agentlab_requests_total counter",
  }
  for _, entry in pairs(versions) do
    for class, count in pairs(entry.codes) do
      -- 5xx always: a version with no error yet has an error rate of 0, not none (PromQL)
      if count > 0 or class == "5xx" then
        out[#out + 1] = string.format('agentlab_requests_total{%s,code="%s"} %d',
                                      labels(entry), class, count)
      end
    end
  end
  for _, made in ipairs(proxy_made()) do
    out[#out + 1] = string.format('agentlab_requests_total{backend="%s",version="none",code="%s"} %d',
                                  made.backend, made.code, made.count)
  end
  out[#out + 1] = "# HELP agentlab_request_duration_seconds Latency seen by the proxy."
  out[#out + 1] = "# TYPE agentlab_request_duration_seconds histogram"
  for _, entry in pairs(versions) do
    for i = 1, #BUCKETS do
      out[#out + 1] = string.format('agentlab_request_duration_seconds_bucket{%s,le="%g"} %d',
                                    labels(entry), BUCKETS[i], entry.buckets[i])
    end
    out[#out + 1] = string.format('agentlab_request_duration_seconds_bucket{%s,le="+Inf"} %d',
                                  labels(entry), entry.count)
    out[#out + 1] = string.format("agentlab_request_duration_seconds_sum{%s} %.6f",
                                  labels(entry), entry.sum)
    out[#out + 1] = string.format("agentlab_request_duration_seconds_count{%s} %d",
                                  labels(entry), entry.count)
  end
  local body = table.concat(out, "\n") .. "\n"
  applet:set_status(200)
  applet:add_header("content-type", "text/plain; version=0.0.4")
  applet:add_header("content-length", string.len(body))
  applet:start_response()
  applet:send(body)
end)
