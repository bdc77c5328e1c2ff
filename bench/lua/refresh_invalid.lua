-- POST /auth/refresh with a token that fails signature checking: the
-- cheapest rate-limited route (401 without touching the database), so the
-- limiter's own cost is the largest part of what changes between runs.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.body = '{"refresh_token":"not-a-token"}'
