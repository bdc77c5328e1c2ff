#!/usr/bin/env bash
# The cost of the request metrics on GET /me: two release coffee-api binaries,
# identical but for the metrics (BASE_BIN built from the commit before them,
# METRICS_BIN from this one), measured one after the other in alternating
# rounds against the same database. See bench/README.md ("Metrics").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BENCH_LUA_DIR="$ROOT/bench/lua"

BASE_BIN=${BASE_BIN:?set BASE_BIN to a release coffee-api without the metrics}
METRICS_BIN=${METRICS_BIN:?set METRICS_BIN to a release coffee-api with the metrics}
PORT=${PORT:-18091}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
BENCH_DB=${BENCH_DB:-coffee_bench_metrics}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
ADMIN_EMAIL=admin@bench.example.com
ADMIN_PASSWORD=bench-admin-password-1234
JWT_SECRET=bench-jwt-secret-0123456789abcdef0123456789
OUT=${OUT:-$(mktemp -d /tmp/coffee-bench-metrics.XXXXXX)}
BASE="http://127.0.0.1:$PORT"

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }
for tool in wrk psql curl jq; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
[[ -x "$BASE_BIN" && -x "$METRICS_BIN" ]] || die "BASE_BIN or METRICS_BIN is not an executable"

SERVER_PID=""
stop_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM

psql "$PG/postgres" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
DROP DATABASE IF EXISTS "$BENCH_DB" WITH (FORCE);
CREATE DATABASE "$BENCH_DB";
SQL

start_server() { # binary
    (
        cd "$OUT"
        exec env -i PATH="$PATH" HOME="$HOME" PORT="$PORT" HOST=127.0.0.1 DATABASE_URL="$PG/$BENCH_DB" \
            JWT_SECRET="$JWT_SECRET" ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
            ACCESS_TOKEN_TTL=1h SHUTDOWN_DRAIN=0s RUST_LOG=warn "$1"
    ) >>"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    for i in $(seq 1 300); do
        curl -fsS -o /dev/null "$BASE/health/ready" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || die "$1 exited during start-up"
        (( i < 300 )) || die "$1 not ready after 30s"
        sleep 0.1
    done
}

token() {
    curl -fsS -H 'Content-Type: application/json' \
        -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" "$BASE/auth/login" | jq -er .access_token
}

measure() { # name binary
    local name=$1 bin=$2 tok
    start_server "$bin"
    tok=$(token)
    BENCH_TOKEN=$tok BENCH_NAME=warm wrk -t2 -c32 -d2s -s "$BENCH_LUA_DIR/get_auth.lua" "$BASE/me" >/dev/null
    BENCH_TOKEN=$tok BENCH_NAME=$name wrk --latency -t2 -c32 -d"${DURATION}s" -s "$BENCH_LUA_DIR/get_auth.lua" \
        "$BASE/me" >"$OUT/$name.txt"
    grep '^RESULT ' "$OUT/$name.txt" | tee -a "$OUT/results.txt" >&2
    stop_server
}

log "output: $OUT; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
    # Alternate which binary goes first, so a drift in machine load hits both.
    if (( r % 2 )); then
        measure "base_$r" "$BASE_BIN"; measure "metrics_$r" "$METRICS_BIN"
    else
        measure "metrics_$r" "$METRICS_BIN"; measure "base_$r" "$BASE_BIN"
    fi
done
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

rps() { sed -n "s/^RESULT name=$1_[0-9]* .* rps=\([0-9.]*\) .*/\1/p" "$OUT/results.txt"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
B=$(rps base | median)
M=$(rps metrics | median)
echo
echo "| binary | GET /me req/s per round | median |"
echo "|---|---|---:|"
echo "| without metrics | $(rps base | tr '\n' ' ') | $B |"
echo "| with metrics | $(rps metrics | tr '\n' ' ') | $M |"
awk -v b="$B" -v m="$M" 'BEGIN { printf "\nmetrics cost: %.1f %% of the median throughput\n", (b - m) * 100 / b }'
