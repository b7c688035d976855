-- agentlab's meter, loaded into HAProxy (`lua-load`): serves per-version request counts by
-- status class and a latency histogram, in Prometheus' text format at the metrics frontend.
--
-- HAProxy's own rules count (agentlab/traffic/meter_rules.py): per response, a stick-table
-- entry keyed `<backend>/<version>/<thread>` gets one more in its status class and latency
-- bucket, and the latency added to its sum. No Lua runs per request; this reads the table
-- through the runtime API when /metrics/versions is asked for, and answers 503 (one line:
-- why) rather than partial counts. agentlab names each server `<replica>--<version>`; a
-- request's version is the part of its server's name after the last "--" (the rules cut
-- it). `http-response` rules see the servers' responses only: the ones HAProxy
-- made itself (no server: 502, 503, 504) are the backend's counts less the servers',
-- shown under version "none". Latency is what the proxy sees: from the request's headers
-- to the response's headers. Backends named `agentlab_*` are agentlab's.

local function split(text)
  local found = {}
  for item in string.gmatch(text or "", "[^,]+") do found[#found + 1] = item end
  return found
end

-- The table's layout, from the configuration's `setenv` lines.
local TABLE = os.getenv("AGENTLAB_METER_TABLE") or "agentlab_meter"
local CLASSES = split(os.getenv("AGENTLAB_METER_CLASSES"))
local BUCKETS = {}
for i, bound in ipairs(split(os.getenv("AGENTLAB_METER_BUCKETS"))) do BUCKETS[i] = tonumber(bound) end
local RUNTIME_PORT = tonumber(os.getenv("AGENTLAB_RUNTIME_PORT"))

-- The table's entries, through the runtime API (Lua's StickTable:dump() shows only the
-- first element of an array in HAProxy 2.6): one per backend, version and thread.
-- `dump` parses the answer to `show table`: its entries, or nil and why when the answer
-- is no whole dump (the CLI ends a whole answer with an empty line; one cut short would
-- show counts that went backwards) or the table is full (its oldest counts may be gone).
local function dump(lines)
  local found, header, ended = {}, false, false
  for _, line in ipairs(lines) do
    if ended then
      if line ~= "" then return nil, "text after the end of the dump" end
    elseif not header then
      local size, used = string.match(line, "^# table: [^,]+, type: [^,]+, size:(%d+), used:(%d+)")
      if size == nil then return nil, "no table header: " .. string.sub(line, 1, 80) end
      header = true
      if tonumber(used) >= tonumber(size) then
        return nil, "its table is full (" .. size .. " entries): counts may be lost;" ..
                    " a new traffic layer starts afresh"
      end
    elseif line == "" then
      ended = true
    else
      local backend, version = string.match(line, "^0x%x+: key=([^/ ]+)/([^/ ]+)/%d+ ")
      if backend == nil then return nil, "an entry it cannot read: " .. string.sub(line, 1, 80) end
      local gpc, gpt = {}, {}
      for name, index, value in string.gmatch(line, " (gp[ct])(%d+)=(%d+)") do
        local into = name == "gpc" and gpc or gpt
        into[tonumber(index)] = tonumber(value)
      end
      found[#found + 1] = {backend = backend, version = version, gpc = gpc, gpt = gpt}
    end
  end
  if not ended then return nil, "the dump was cut short (no empty line at its end)" end
  return found
end

-- The lines of `show table`, read until the CLI closes; nil and why when it cannot be read.
local function entries()
  local socket = core.tcp()
  socket:settimeout(2)
  if not socket:connect("127.0.0.1", RUNTIME_PORT) then
    return nil, "no runtime API on port " .. tostring(RUNTIME_PORT)
  end
  socket:send("show table " .. TABLE .. "\n")
  local lines = {}
  while true do
    local line = socket:receive("*l")
    if line == nil then break end  -- closed, or the timeout: dump() sees what is missing
    lines[#lines + 1] = line
  end
  socket:close()
  return dump(lines)
end

-- Per backend and version: the threads' entries summed; buckets made cumulative, as
-- Prometheus has them.
local function by_version()
  local read, why = entries()
  if read == nil then return nil, why end
  local found = {}
  for _, entry in ipairs(read) do
    local key = entry.backend .. " " .. entry.version
    local sum = found[key]
    if sum == nil then
      sum = {backend = entry.backend, version = entry.version, codes = {}, buckets = {},
             sum = 0, count = 0}
      for i = 1, #BUCKETS do sum.buckets[i] = 0 end
      found[key] = sum
    end
    for i, class in ipairs(CLASSES) do
      sum.codes[class] = (sum.codes[class] or 0) + (entry.gpc[i - 1] or 0)
    end
    local below = 0
    for i = 1, #BUCKETS do
      below = below + (entry.gpc[#CLASSES + i - 1] or 0)
      sum.buckets[i] = sum.buckets[i] + below
    end
    sum.count = sum.count + below + (entry.gpc[#CLASSES + #BUCKETS] or 0)
    sum.sum = sum.sum + (entry.gpt[1] or 0) + (entry.gpt[0] or 0) / 1000000
  end
  return found
end

local function labels(entry)
  return string.format('backend="%s",version="%s"', entry.backend, entry.version)
end

-- The responses of each agentlab backend that no server gave: backend counts less ours.
local function proxy_made(versions)
  local counted = {}
  for _, entry in pairs(versions) do
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

local function refuse(applet, why)
  applet:set_status(503)
  applet:add_header("content-type", "text/plain")
  applet:add_header("content-length", string.len(why))
  applet:start_response()
  applet:send(why)
end

core.register_service("agentlab_metrics", "http", function(applet)
  local versions, why = by_version()
  if versions == nil then
    return refuse(applet, "agentlab's meter cannot count: " .. why .. " (show table " .. TABLE .. ")\n")
  end
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
  for _, made in ipairs(proxy_made(versions)) do
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
