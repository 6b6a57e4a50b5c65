-- Log, then look: each connection alternates POST {path}/attempts (odd requests; a new Idempotency-Key each)
-- and GET {path}/me/trend (even requests) for the same user, as a phone that shows the trend after logging.
-- The URL is the API prefix (…/api/v1). BENCH_CHALLENGE_ID: a challenge every token's user may log;
-- BENCH_RUN_ID keeps keys unique across runs.
--
-- wrk calls request() per thread, not per connection, so bench/run.py starts as many threads as
-- connections: a thread's requests are then its one connection's, in order. Each thread takes its users
-- from common.tokens' per-thread split and walks them pair by pair (POST then GET for one user, then the
-- next user). The POSTs answered (any status) are counted per thread for the integrity check.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local threads = {}
local next_thread = 0
function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_number", next_thread)
  threads[#threads + 1] = thread
end

local tokens, pair, posted, in_flight_post, run_id, post_path, trend_path
local body = string.format(
  '{"challenge_id":"%s","outcome":"rejected","distress_before":60,"distress_peak":70,' ..
  '"distress_after":30,"expected_rejection":80}', os.getenv("BENCH_CHALLENGE_ID"))
posts = 0

function init(args)
  tokens = common.tokens(thread_number)
  pair = 1
  posted = false
  run_id = os.getenv("BENCH_RUN_ID") or tostring(os.time())
  local prefix = string.gsub(wrk.path, "/$", "")
  post_path = prefix .. "/attempts"
  trend_path = prefix .. "/me/trend"
end

-- The next kind follows the answers, not the calls: wrk calls request() once more on the first thread to
-- check the script, and again after a reconnect, which then resends the unanswered request (a POST with
-- the same Idempotency-Key, as a phone retries).
function request()
  local headers = {}
  if #tokens > 0 then headers["Authorization"] = "Bearer " .. tokens[(pair - 1) % #tokens + 1] end
  in_flight_post = not posted
  if in_flight_post then
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = string.format("%s-%d-%d", run_id, thread_number, pair)
    return wrk.format("POST", post_path, headers, body)
  end
  return wrk.format("GET", trend_path, headers)
end

function response(status, headers, body)
  if in_flight_post then
    posts = posts + 1
    posted = true
  else
    posted = false
    pair = pair + 1
  end
end

function done(summary, latency, requests)
  local answered = 0
  for _, thread in ipairs(threads) do answered = answered + thread:get("posts") end
  common.done(summary, latency, requests, {posts = answered})
end
