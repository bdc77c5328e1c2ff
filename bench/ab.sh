#!/usr/bin/env bash
# Binaries side by side on one endpoint: for each round and each binary in
# turn, start it alone on the database bench/ceiling.sh leaves seeded, warm
# up, then wrk; prints req/s, p99 and the server's CPU time per request
# (utime + stime from /proc/PID/stat), which a noisy machine blurs less than
# throughput. See bench/README.md ("Ceiling").
#
#   bench/ab.sh /me /tmp/coffee-api.old "$CARGO_TARGET_DIR/release/coffee-api"
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -ge 2 ]] || { echo "usage: bench/ab.sh PATH BINARY…" >&2; exit 2; }
REQUEST_PATH=$1
shift
PORT=${PORT:-18097}
BENCH_DB=${BENCH_DB:-coffee_bench_ceiling}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-8}
CONNECTIONS=${CONNECTIONS:-32}
BASE="http://127.0.0.1:$PORT"
LUA=$(mktemp /tmp/coffee-ab.XXXXXX.lua)
trap 'rm -f "$LUA"' EXIT

run() { # binary
    # SERVER_ENV: extra settings, e.g. "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2".
    # shellcheck disable=SC2086
    env -i PATH="$PATH" HOME="$HOME" PORT="$PORT" HOST=127.0.0.1 DATABASE_URL="$PG/$BENCH_DB?sslmode=disable" \
        JWT_SECRET="$JWT_SECRET" ACCESS_TOKEN_TTL=1h AUTH_RATE_LIMIT=off \
        RUST_LOG=warn MEDIA_DIR=/tmp/coffee-ab-media CLEANUP_SCHEDULE="0 0 0 1 1 *" RUN_MIGRATIONS=false \
        ${SERVER_ENV:-} "$1" >/tmp/coffee-ab-server.log 2>&1 &
    local pid=$! i token out t0 t1 n
    for i in $(seq 1 100); do
        curl -fsS -o /dev/null "$BASE/health/ready" 2>/dev/null && break
        (( i < 100 )) || { echo "ab: $1 did not start" >&2; kill "$pid"; exit 1; }
        sleep 0.1
    done
    token=$(curl -fsS -H 'Content-Type: application/json' \
        -d "$(jq -cn --arg e "$ADMIN_EMAIL" --arg p "$ADMIN_PASSWORD" '{email: $e, password: $p}')" "$BASE/auth/login" |
        jq -er .access_token) || { echo "ab: no admin on $BENCH_DB (run bench/ceiling.sh first)" >&2; kill "$pid"; exit 1; }
    echo "wrk.headers[\"Authorization\"] = \"Bearer $token\"" >"$LUA"
    wrk -t1 -c"$CONNECTIONS" -d2s -s "$LUA" "$BASE$REQUEST_PATH" >/dev/null
    t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$LUA" "$BASE$REQUEST_PATH")
    t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    n=$(sed -nE 's/^ *([0-9]+) requests in.*/\1/p' <<<"$out")
    ! grep -q "Non-2xx" <<<"$out" || { echo "ab: non-2xx answers: $out" >&2; exit 1; }
    printf '| %s | %s | %s | %s |\n' "$1" "$(sed -nE 's/^Requests\/sec: *([0-9.]+)/\1/p' <<<"$out")" \
        "$(sed -nE 's/^ *99% *([0-9.]+[mu]?s)/\1/p' <<<"$out")" \
        "$(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) / n ))"
}

echo "GET $REQUEST_PATH, wrk -t1 -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| binary | req/s | p99 | server CPU µs / request |"
echo "|---|---:|---:|---:|"
for _ in $(seq 1 "$ROUNDS"); do
    for bin in "$@"; do run "$bin"; done
done
