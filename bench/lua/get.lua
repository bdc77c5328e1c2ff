-- Plain GET <url> without credentials (public endpoints, e.g. the menu).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

wrk.method = "GET"
wrk.headers["Accept"] = "application/json"
