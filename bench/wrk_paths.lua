-- wrk script for bench/run.sh.
--   BENCH_PATHS   file of request paths, one a line; requests go round-robin through them
--                 (one path: wrk's static request, no Lua per request)
--   BENCH_KEY     bearer key sent as "Authorization: Bearer <key>" (default bench-key)
--   BENCH_HEADER  optional extra header "Name: value" (e.g. "Cache-Control: no-cache")
local file = os.getenv("BENCH_PATHS") or error("BENCH_PATHS is not set")
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "bench-key")
local extra = os.getenv("BENCH_HEADER")
if extra and #extra > 0 then
  local name, value = extra:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end

local paths = {}
for line in io.lines(file) do
  if #line > 0 then paths[#paths + 1] = line end
end
assert(#paths > 0, "no paths in " .. file)

if #paths == 1 then
  wrk.path = paths[1]
else
  local n = #paths
  local reqs = nil
  local i = 0
  -- wrk.format needs wrk.host (for Host:), which is set only once init() runs. Pre-format the
  -- requests when they fit comfortably in memory; format on the fly otherwise.
  function init(args)
    if n <= 200000 then
      reqs = {}
      for k, p in ipairs(paths) do reqs[k] = wrk.format("GET", p) end
    end
  end
  function request()
    i = i + 1
    if i > n then i = 1 end
    if reqs then return reqs[i] end
    return wrk.format("GET", paths[i])
  end
end
