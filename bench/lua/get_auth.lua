-- GET <url> with a bearer token: BENCH_TOKEN (set by run.sh).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("BENCH_TOKEN"), "BENCH_TOKEN is not set")
wrk.headers["Accept"] = "application/json"

-- BENCH_DELAY_MS: each connection waits that long before its next request
-- (a paced load, which leaves the rest of the CPU to others).
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pause > 0 then
    function delay()
        return pause
    end
end
