-- GET the URL's path with a bearer token per request.
-- BENCH_IF_NONE_MATCH: sent as If-None-Match (a polling frontend that has the answer already).
-- BENCH_UNIQUE_SINCE=1: adds a different `since` (before any data) to every request, so no cached answer fits.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local next_thread = 0
function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_number", next_thread)
end

local tokens, counter
local if_none_match = os.getenv("BENCH_IF_NONE_MATCH")
local unique_since = os.getenv("BENCH_UNIQUE_SINCE") == "1"

function init(args)
  tokens = common.tokens(thread_number)
  counter = 0
end

function request()
  counter = counter + 1
  local headers = {}
  if #tokens > 0 then headers["Authorization"] = "Bearer " .. tokens[counter % #tokens + 1] end
  if if_none_match then headers["If-None-Match"] = if_none_match end
  local path = wrk.path
  if unique_since then
    -- 2000-01-01 plus a second count no two requests share.
    local seconds = 946684800 + thread_number * 10000000 + counter
    local sep = string.find(path, "?", 1, true) and "&" or "?"
    path = path .. sep .. "since=" .. os.date("!%Y-%m-%dT%H:%M:%SZ", seconds)
  end
  return wrk.format("GET", path, headers)
end

done = common.done
