-- POST one body per request to wrk's URL; "{n}" in the body becomes a unique value per request.
-- Environment: BENCH_BODY (the template), BENCH_CTYPE, BENCH_COOKIE, BENCH_AUTH, BENCH_PREFIX.
-- Or BENCH_REQUESTS_FILE: pre-signed requests, one a line: "Header: value<TAB>...<TAB>body";
-- thread i sends lines i, i+T, i+2T, ... (a signature cannot be computed in wrk's Lua).
local threads = {}

function setup(thread)
  thread:set("thread_no", #threads)
  table.insert(threads, thread)
end

function init(args)
  template = os.getenv("BENCH_BODY") or ""
  prefix = (os.getenv("BENCH_PREFIX") or "bench") .. "-" .. thread_no .. "-"
  counter = 0
  codes = {}
  headers = {}
  headers["Content-Type"] = os.getenv("BENCH_CTYPE") or "application/x-www-form-urlencoded"
  local cookie = os.getenv("BENCH_COOKIE")
  if cookie and cookie ~= "" then headers["Cookie"] = cookie end
  local auth = os.getenv("BENCH_AUTH")
  if auth and auth ~= "" then headers["Authorization"] = auth end
  local referer = os.getenv("BENCH_REFERER")
  if referer and referer ~= "" then headers["Referer"] = referer end
  presigned = nil
  local path = os.getenv("BENCH_REQUESTS_FILE")
  if path and path ~= "" then
    presigned = {}
    local thread_count = tonumber(os.getenv("BENCH_THREADS") or "2")
    local n = 0
    for line in io.lines(path) do
      if n % thread_count == thread_no then table.insert(presigned, line) end
      n = n + 1
    end
  end
end

function presigned_request()
  local line = presigned[(counter - 1) % #presigned + 1]
  local hdrs = {}
  for name, value in pairs(headers) do hdrs[name] = value end
  local body = line
  for field in line:gmatch("([^\t]*)\t") do
    local name, value = field:match("^([^:]+): (.*)$")
    if name then hdrs[name] = value end
    body = body:sub(#field + 2)
  end
  return wrk.format("POST", nil, hdrs, body)
end

function request()
  counter = counter + 1
  if presigned then return presigned_request() end
  if os.getenv("BENCH_METHOD") == "GET" then return wrk.format("GET", nil, headers) end
  local unique = prefix .. counter
  local body = template:gsub("{n}", function() return unique end)
  return wrk.format("POST", nil, headers, body)
end

function response(status, hdrs, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("codes")
    for status, n in pairs(c) do merged[status] = (merged[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(merged) do table.insert(parts, string.format('"%d":%d', status, n)) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"codes":{%s}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    table.concat(parts, ",")))
end
