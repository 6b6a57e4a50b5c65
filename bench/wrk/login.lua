-- POST /api/v1/auth/token: the OAuth2 password form, for BENCH_EMAIL / BENCH_PASSWORD.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local function urlencode(text)
  return (string.gsub(text, "[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "username=" .. urlencode(os.getenv("BENCH_EMAIL")) .. "&password=" .. urlencode(os.getenv("BENCH_PASSWORD"))

done = common.done
