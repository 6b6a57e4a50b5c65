-- POST /api/v1/attempts (or the baseline's /attempts): a bearer token and a new Idempotency-Key per request.
-- BENCH_CHALLENGE_ID: a challenge every token's user may log; BENCH_RUN_ID keeps keys unique across runs.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local next_thread = 0
function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_number", next_thread)
end

local tokens, counter, run_id
local body = string.format(
  '{"challenge_id":"%s","outcome":"rejected","distress_before":60,"distress_peak":70,' ..
  '"distress_after":30,"expected_rejection":80}', os.getenv("BENCH_CHALLENGE_ID"))

function init(args)
  tokens = common.tokens(thread_number)
  counter = 0
  run_id = os.getenv("BENCH_RUN_ID") or tostring(os.time())
end

function request()
  counter = counter + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("%s-%d-%d", run_id, thread_number, counter),
  }
  if #tokens > 0 then headers["Authorization"] = "Bearer " .. tokens[counter % #tokens + 1] end
  return wrk.format("POST", nil, headers, body)
end

done = common.done
