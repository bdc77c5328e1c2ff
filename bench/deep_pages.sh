#!/usr/bin/env bash
# Does reading deep pages slow down everyone's first page? PostgreSQL may
# switch a prepared statement to one generic plan, made without its values,
# after a few executions, and keep it on that connection (bench/README.md,
# "A page's bounds as numbers"). For each binary in turn, on one menu of
# $BENCH_PRODUCTS products, twice from a fresh start: the first page under
# wrk; then $DEEP requests for the last page first ($DEEP_CONCURRENCY at a
# time: every pooled connection runs it five times and more, as when a
# crawler meets connections newly opened), then the first page under wrk.
#
#   bench/deep_pages.sh /tmp/coffee-api.old "$CARGO_TARGET_DIR/release/coffee-api"
#
# The same trap for search terms: a rare term measured, before and after
# searches for a common one (the seed names 5 % of the products "praline"):
#
#   WARM='/products?page_size=20&search=praline' MEASURE='/products?page_size=20&search=nomatch' \
#       bench/deep_pages.sh /tmp/coffee-api.old "$CARGO_TARGET_DIR/release/coffee-api"
#
# Needs wrk, psql, curl, xargs. Seeds its own database ($BENCH_DB, dropped
# and recreated) with the first binary's migrations and bench/sql/seed_menu.sql.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

[[ $# -ge 1 ]] || { echo "usage: bench/deep_pages.sh BINARY…" >&2; exit 2; }
PORT=${PORT:-18096}
BENCH_DB=${BENCH_DB:-coffee_bench_deep_pages}
BENCH_PRODUCTS=${BENCH_PRODUCTS:-100000}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-8}
CONNECTIONS=${CONNECTIONS:-32}
DEEP=${DEEP:-200}
DEEP_CONCURRENCY=${DEEP_CONCURRENCY:-32}
BASE="http://127.0.0.1:$PORT"
# What is measured, and what is requested $DEEP times before it.
MEASURE=${MEASURE:-/products?page_size=20}
WARM=${WARM:-/products?page_size=20&page=$(( (BENCH_PRODUCTS + 19) / 20 ))}
die() { echo "deep_pages: $*" >&2; exit 1; }
for tool in wrk psql curl xargs; do command -v "$tool" >/dev/null || die "needs $tool"; done

start() { # binary migrations?
    env -i PATH="$PATH" HOME="$HOME" PORT="$PORT" HOST=127.0.0.1 DATABASE_URL="$PG/$BENCH_DB?sslmode=disable" \
        JWT_SECRET="$JWT_SECRET" AUTH_RATE_LIMIT=off RUST_LOG=warn MEDIA_DIR=/tmp/coffee-deep-pages-media \
        CLEANUP_SCHEDULE="0 0 0 1 1 *" RUN_MIGRATIONS="$2" "$1" >/tmp/coffee-deep-pages-server.log 2>&1 &
    SERVER_PID=$!
    wait_ready "$SERVER_PID" /tmp/coffee-deep-pages-server.log
}
stop() { kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; }

# first_page → "req/s p99"
first_page() {
    local out
    out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$BASE$MEASURE")
    ! grep -q "Non-2xx\|Socket errors" <<<"$out" || die "wrk saw errors: $out"
    echo "$(sed -nE 's/^Requests\/sec: *([0-9.]+)/\1/p' <<<"$out") $(sed -nE 's/^ *99% *([0-9.]+[mu]?s)/\1/p' <<<"$out")"
}

recreate_db
start "$1" true
stop
psql "$PG/$BENCH_DB" -qX -v ON_ERROR_STOP=1 -v n="$BENCH_PRODUCTS" -v term=praline \
    -f "$BENCH_DIR/sql/seed_menu.sql" >/dev/null
psql "$PG/$BENCH_DB" -qXc 'VACUUM ANALYZE' >/dev/null

echo "GET $MEASURE at $BENCH_PRODUCTS products, wrk -t1 -c$CONNECTIONS -d${DURATION}s, from a fresh start, and from a fresh"
echo "start after $DEEP requests for $WARM; $ROUNDS rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| binary | measured alone: req/s | p99 | after the warm-up requests: req/s | p99 |"
echo "|---|---:|---:|---:|---:|"
for _ in $(seq 1 "$ROUNDS"); do
    for bin in "$@"; do
        start "$bin" false
        wrk -t1 -c"$CONNECTIONS" -d2s "$BASE$MEASURE" >/dev/null
        read -r before_rps before_p99 <<<"$(first_page)"
        stop
        start "$bin" false
        seq 1 "$DEEP" | xargs -P "$DEEP_CONCURRENCY" -I{} curl -fsS -o /dev/null "$BASE$WARM" ||
            die "a warm-up request failed"
        read -r after_rps after_p99 <<<"$(first_page)"
        stop
        echo "| $bin | $before_rps | $before_p99 | $after_rps | $after_p99 |"
    done
done
