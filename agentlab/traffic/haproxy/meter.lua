-- agentlab's meter, loaded into HAProxy (`lua-load`): per-version request counts by status
-- class and a latency histogram, in Prometheus' text format at the metrics frontend.
--
-- agentlab names each server `<replica>--<version>`, so a request's version is the part of
-- its server's name after the last "--". `http-response` rules see the servers' responses
-- only: the ones HAProxy made itself (no server: 502, 503, 504) are the backend's counts
-- less the servers', shown under version "none". Latency is what the proxy sees: from the
-- request's headers to the response's headers. Backends named `agentlab_*` are agentlab's.

local BUCKETS = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
local series = {}  -- "backend\0version" -> {codes = {}, buckets = {}, sum, count}

local function now_us()
  local now = core.now()
  return now.sec * 1000000 + now.usec
end

local function version_of(server)
  if server == nil or server == "" then
    return "none"
  end
  local version = string.match(server, ".*%-%-(.+)$")
  return version or "unknown"
end

core.register_action("agentlab_start", {"http-req"}, function(txn)
  txn:set_priv(now_us())
end)

core.register_action("agentlab_observe", {"http-res"}, function(txn)
  local started = txn:get_priv()
  local backend = txn.f:be_name() or "-"
  local version = version_of(txn.f:srv_name())
  local status = txn.f:status() or 0
  local key = backend .. "\0" .. version
  local entry = series[key]
  if entry == nil then
    entry = {backend = backend, version = version, codes = {}, buckets = {}, sum = 0, count = 0}
    for i = 1, #BUCKETS do entry.buckets[i] = 0 end
    series[key] = entry
  end
  local class = tostring(math.floor(status / 100)) .. "xx"
  entry.codes[class] = (entry.codes[class] or 0) + 1
  if started ~= nil then
    local seconds = (now_us() - started) / 1000000
    entry.sum = entry.sum + seconds
    entry.count = entry.count + 1
    for i = 1, #BUCKETS do
      if seconds <= BUCKETS[i] then entry.buckets[i] = entry.buckets[i] + 1 end
    end
  end
end)

local function labels(entry)
  return string.format('backend="%s",version="%s"', entry.backend, entry.version)
end

local CLASSES = {"1xx", "2xx", "3xx", "4xx", "5xx"}

-- The responses of each agentlab backend that no server gave: backend counts less ours.
local function proxy_made()
  local counted = {}
  for _, entry in pairs(series) do
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
  local out = {
    "# HELP agentlab_requests_total Requests through agentlab's traffic layer.",
    "# TYPE agentlab_requests_total counter",
  }
  for _, entry in pairs(series) do
    for class, count in pairs(entry.codes) do
      out[#out + 1] = string.format('agentlab_requests_total{%s,code="%s"} %d',
                                    labels(entry), class, count)
    end
  end
  for _, made in ipairs(proxy_made()) do
    out[#out + 1] = string.format('agentlab_requests_total{backend="%s",version="none",code="%s"} %d',
                                  made.backend, made.code, made.count)
  end
  out[#out + 1] = "# HELP agentlab_request_duration_seconds Latency seen by the proxy."
  out[#out + 1] = "# TYPE agentlab_request_duration_seconds histogram"
  for _, entry in pairs(series) do
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
