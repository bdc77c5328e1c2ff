#!/usr/bin/env bash
# Start-up to ready and idle RSS of the release coffee-api on an
# already-migrated PostgreSQL database: ROUNDS starts, each timed from exec
# to the first 200 of /health/ready (polled every 5 ms), then the RSS 3 s
# later. See bench/README.md ("Start-up and idle memory").
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

API_BIN=${API_BIN:-$CARGO_TARGET_DIR/release/coffee-api}
PORT=${PORT:-18095}
BENCH_DB=${BENCH_DB:-coffee_bench_startup}
ROUNDS=${ROUNDS:-5}
OUT=${OUT:-$(mktemp -d /tmp/coffee-startup.XXXXXX)}

die() { echo "startup: $*" >&2; exit 1; }
[[ -x "$API_BIN" ]] || die "$API_BIN is missing (cargo build --release -p coffee-api)"
PID=""
trap '[[ -z "$PID" ]] || { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }' EXIT

start() {
    env -i PATH="$PATH" HOME="$HOME" PORT="$PORT" HOST=127.0.0.1 \
        DATABASE_URL="$PG/$BENCH_DB?sslmode=disable" JWT_SECRET="$JWT_SECRET" \
        RUST_LOG=warn "$API_BIN" >>"$OUT/server.log" 2>&1 &
    PID=$!
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
ready() {
    for _ in $(seq 1 6000); do
        curl -fs -o /dev/null "http://127.0.0.1:$PORT/health/ready" 2>/dev/null && return 0
        kill -0 "$PID" 2>/dev/null || die "coffee-api exited: $(tail -3 "$OUT/server.log")"
        sleep 0.005
    done
    die "not ready after 30 s"
}

recreate_db
start; ready; stop # migrates
echo "| round | start-up to ready ms | idle RSS MiB |"
echo "|---:|---:|---:|"
for round in $(seq 1 "$ROUNDS"); do
    began=$(date +%s%N)
    start
    ready
    ms=$((($(date +%s%N) - began) / 1000000))
    sleep 3
    kib=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")
    echo "| $round | $ms | $(awk -v k="$kib" 'BEGIN {printf "%.1f", k/1024}') |"
    stop
done
