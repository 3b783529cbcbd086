-- wrk script of the credshield benchmark harness (bench/run).
--
-- Sends one request shape, set by the environment:
--   BENCH_METHOD  GET or POST (default GET)
--   BENCH_PATH    request path (default /)
--   BENCH_BODY    request body, sent form-encoded when set
--   BENCH_FLOOD   when "1": every request a new random username and a new
--                 random client address in BENCH_FLOOD_NET (X-Forwarded-For)
-- and counts the status of every answer. done() prints one line per
-- status and one summary line, which bench/run checks:
--   BENCH_STATUS <code> <count>
--   BENCH_RESULT requests=<n> seconds=<s> rps=<r> connect=<n> read=<n> write=<n> timeout=<n>

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.path = os.getenv("BENCH_PATH") or "/"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function init(args)
  statuses = {}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

if os.getenv("BENCH_FLOOD") == "1" then
  -- The first two octets of the flood's addresses, e.g. "10.77".
  local net = os.getenv("BENCH_FLOOD_NET") or "10.77"
  local seeded = false
  request = function()
    if not seeded then
      math.randomseed(os.time() + math.floor(os.clock() * 1e6) + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 1000003)
      seeded = true
    end
    local user = string.format("flood%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
    local addr = string.format("%s.%d.%d", net, math.random(0, 255), math.random(1, 254))
    return wrk.format("POST", wrk.path,
      { ["Content-Type"] = "application/x-www-form-urlencoded", ["X-Forwarded-For"] = addr },
      "grant_type=password&username=" .. user .. "&password=hunter2hunter2")
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then
      for code, n in pairs(s) do
        total[code] = (total[code] or 0) + n
      end
    end
  end
  for code, n in pairs(total) do
    io.write(string.format("BENCH_STATUS %d %d\n", code, n))
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format("BENCH_RESULT requests=%d seconds=%.3f rps=%.1f connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, secs, summary.requests / secs, e.connect, e.read, e.write, e.timeout))
end
