-- wrk script: cycle through pre-signed requests read from a file, and count every non-2xx response.
-- Usage: wrk -t THREADS ... -s requests.lua URL -- REQUEST_FILE THREADS
-- Each line of REQUEST_FILE is METHOD<TAB>TARGET<TAB>AUTHORIZATION<TAB>HEADERS<TAB>BODY (benchmarks/workload.py),
-- HEADERS being "Name: value" pairs separated by "|".
-- Thread i takes lines i, i+THREADS, ...: every request in the file is sent once before any repeats
-- (a file with fewer lines than threads: every thread takes them all).

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path, count = args[1], tonumber(args[2])
  local lines = 0
  for _ in io.lines(path) do lines = lines + 1 end
  if lines < count then count = 1 end
  requests, index, non2xx = {}, 0, 0
  local number = 0
  for line in io.lines(path) do
    if number % count == id % count then
      local method, target, authorization, extra, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = {}
      if authorization ~= "" then headers["Authorization"] = authorization end
      for name, value in extra:gmatch("([^|:]+): ([^|]*)") do headers[name] = value end
      if body == "" then
        body = nil
      else
        headers["Content-Type"] = "application/json"
      end
      -- Formatted once here, so sending costs the same whatever the request.
      requests[#requests + 1] = wrk.format(method, target, headers, body)
    end
    number = number + 1
  end
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, "p50_ms": %.3f, "p99_ms": %.3f}\n',
    summary.requests, summary.duration, bad,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
