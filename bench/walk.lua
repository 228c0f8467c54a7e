-- wrk script for bench/webhooks.py (run by bench/loads.py): replays signed webhook requests of simulated calls.
-- Each thread reads its own file (path TAB body TAB signature, one request per line), in call order.
-- Usage: wrk -s bench/walk.lua URL -- REQUESTS_FILE_PREFIX

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  requests = {}
  local prefix = args[1]
  for line in io.lines(prefix .. "." .. id) do
    local path, body, sig = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)$")
    local headers = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["X-Twilio-Signature"] = sig,
    }
    table.insert(requests, wrk.format("POST", path, headers, body))
  end
  index = 0
  bad = 0
  ok = 0
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function response(status, headers, body)
  if status == 200 and body:find("<Response>", 1, true) then
    ok = ok + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local ok_total, bad_total = 0, 0
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    bad_total = bad_total + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'WALK_RESULT {"requests": %d, "duration_us": %d, "ok": %d, "bad": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, ok_total, bad_total, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
