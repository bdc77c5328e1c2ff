-- POST /auth/login as the seeded users user0001..userNNNN@bench.example.com,
-- cycling through them (each wrk thread starts at a different user).
-- BENCH_USERS: how many were seeded; BENCH_PASSWORD: their password (run.sh
-- checks it needs no JSON escaping).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local users = tonumber(os.getenv("BENCH_USERS") or "1000")
local password = assert(os.getenv("BENCH_PASSWORD"), "BENCH_PASSWORD is not set")
local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }

local next_thread = 0
function setup(thread)
   thread:set("offset", next_thread * 397)
   next_thread = next_thread + 1
end

local i = 0
function request()
   i = i + 1
   local n = ((offset or 0) + i) % users + 1
   local body = string.format('{"email":"user%04d@bench.example.com","password":"%s"}', n, password)
   return wrk.format("POST", "/auth/login", headers, body)
end
