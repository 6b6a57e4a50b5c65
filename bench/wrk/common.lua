-- Shared by the wrk scripts: bearer tokens from a file, and a summary line bench/run.py parses.
local M = {}

-- One token per line; requests take them in turn, so load spreads over several users.
-- Given enough tokens, each wrk thread takes its own share (BENCH_THREADS threads in all),
-- so two requests in flight belong to two users, as when many phones log at once; wrk's
-- threads would otherwise walk the same list in step and send one user's requests together.
function M.tokens(thread_number)
  local tokens = {}
  local path = os.getenv("BENCH_TOKENS_FILE")
  if path then
    for line in io.lines(path) do
      if #line > 0 then tokens[#tokens + 1] = line end
    end
  end
  local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
  if thread_number == nil or #tokens < threads then return tokens end
  local share = {}
  for i, token in ipairs(tokens) do
    if (i - 1) % threads == thread_number - 1 then share[#share + 1] = token end
  end
  return share
end

-- `extra`: more integer fields for the line (e.g. {posts = 123}).
function M.done(summary, latency, requests, extra)
  local e = summary.errors
  local more = ""
  for key, value in pairs(extra or {}) do more = more .. string.format(',"%s":%d', key, value) end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_status":%d,"errors_timeout":%d%s}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout, more))
end

return M
