-- GET <url>&created_at__gte=<a random second of 2000–2019>: every request a
-- filter no request before it had (so a total never counted before), each
-- matching what <url> alone matches (the seeded menu is newer), for
-- bench/totals.sh.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("seed", counter)
end

function init(args)
   math.randomseed(os.time() * 1000 + (seed or 0))
end

function request()
   local at = os.date("!%Y-%m-%dT%H:%M:%SZ", 946684800 + math.random(0, 630000000))
   return wrk.format("GET", wrk.path .. "&created_at__gte=" .. at, { ["Accept"] = "application/json" })
end
