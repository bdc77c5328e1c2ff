# Shared by the bench scripts (sourced): ceiling.sh, storm.sh, startup.sh,
# ab.sh, search_sqlite.sh, deep_pages.sh, totals.sh. The functions need BENCH_DB, BASE, OUT,
# BENCH_LUA_DIR and a die() in the caller.
# shellcheck shell=bash

# Where things are, and the bench's own admin and token secret (ab.sh logs in
# as the admin ceiling.sh created). Used by the scripts that source this.
# shellcheck disable=SC2034
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/coffee-target}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
ADMIN_EMAIL=admin@bench.example.com
ADMIN_PASSWORD=bench-admin-password-1234
JWT_SECRET=bench-jwt-secret-0123456789abcdef0123456789

# wait_ready PID [LOG] → returns once $BASE/health/ready answers; dies if PID
# exits first (with the last lines of LOG, when given) or after 30 s.
wait_ready() {
    local i
    for i in $(seq 1 300); do
        curl -fsS -o /dev/null "$BASE/health/ready" 2>/dev/null && return
        kill -0 "$1" 2>/dev/null || die "coffee-api exited during start-up${2:+: $(tail -n 5 "$2")}"
        (( i < 300 )) || die "coffee-api not ready after 30 s"
        sleep 0.1
    done
}

# Drops and recreates $BENCH_DB.
recreate_db() {
    psql "$PG/postgres" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
DROP DATABASE IF EXISTS "$BENCH_DB" WITH (FORCE);
CREATE DATABASE "$BENCH_DB";
SQL
}

# wrk_result NAME LUA PATH WRK-ARGS… → report.lua's RESULT line (report in
# $OUT/NAME.txt); any non-2xx or socket error stops the run.
wrk_result() {
    local name=$1 lua=$2 path=$3 line
    shift 3
    BENCH_NAME=$name wrk --latency "$@" -s "$BENCH_LUA_DIR/$lua" "$BASE$path" >"$OUT/$name.txt" 2>&1 ||
        die "wrk $name failed: $(cat "$OUT/$name.txt")"
    line=$(grep '^RESULT ' "$OUT/$name.txt") || die "wrk $name printed no RESULT line"
    [[ "$line" == *" non2xx=0 connect=0 read=0 write=0 timeout=0" ]] || die "wrk $name saw errors: $line"
    echo "$line"
}

# wrk_run NAME LUA PATH WRK-ARGS… → "rps p99_ms" of wrk_result.
wrk_run() {
    local line
    line=$(wrk_result "$@") || exit 1
    sed -E 's/.* rps=([0-9.]+) .* p99_ms=([0-9.]+) .*/\1 \2/' <<<"$line"
}
