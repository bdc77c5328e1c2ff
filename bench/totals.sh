#!/usr/bin/env bash
# Remembered list totals and pages (bench/README.md, "Menu totals remembered",
# "Menu pages remembered"):
# binaries side by side on one menu of $BENCH_PRODUCTS products (5 % of them
# `praline`), each started afresh for each request below, warmed up for 2 s,
# then wrk:
#   first  — the first page, no filter (a count of every product);
#   search — `search=praline` (5 000 matches at 100 000 products);
#   cat    — `search=praline` in one category (Espresso);
#   new    — `search=praline` with a filter no request before had
#            (lua/new_filter.lua): a total counted afresh on every request.
# The first three repeat one request, so after the warm-up a binary that
# remembers pages (or only totals) only checks the version (and reads the
# page); `new` is the cost when it cannot.
#
#   bench/totals.sh "$CARGO_TARGET_DIR/release/coffee-api" /tmp/coffee-api.base
#
# The first binary creates the schema; the others run on it without
# migrating (RUN_MIGRATIONS=false), so put the newest first. Needs wrk, psql,
# curl, jq.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export BENCH_LUA_DIR="$BENCH_DIR/lua"

[[ $# -ge 1 ]] || { echo "usage: bench/totals.sh BINARY…" >&2; exit 2; }
PORT=${PORT:-18098}
BENCH_DB=${BENCH_DB:-coffee_bench_totals}
BENCH_PRODUCTS=${BENCH_PRODUCTS:-100000}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-8}
CONNECTIONS=${CONNECTIONS:-32}
KINDS=${KINDS:-first search cat new}
BASE="http://127.0.0.1:$PORT"
OUT=$(mktemp -d /tmp/coffee-totals.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
die() { echo "totals: $*" >&2; exit 1; }
for tool in wrk psql curl jq; do command -v "$tool" >/dev/null || die "needs $tool"; done

start() { # binary migrations?
    env -i PATH="$PATH" HOME="$HOME" PORT="$PORT" HOST=127.0.0.1 DATABASE_URL="$PG/$BENCH_DB?sslmode=disable" \
        JWT_SECRET="$JWT_SECRET" AUTH_RATE_LIMIT=off RUST_LOG=warn MEDIA_DIR="$OUT/media" \
        CLEANUP_SCHEDULE="0 0 0 1 1 *" RUN_MIGRATIONS="$2" "$1" >"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    wait_ready "$SERVER_PID" "$OUT/server.log"
}
stop() { kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; }

recreate_db
start "$1" true
stop
psql "$PG/$BENCH_DB" -qX -v ON_ERROR_STOP=1 -v n="$BENCH_PRODUCTS" -v term=praline \
    -f "$BENCH_DIR/sql/seed_menu.sql" >/dev/null
espresso=$(psql "$PG/$BENCH_DB" -qXtAc "SELECT id FROM categories WHERE name = 'Espresso'")

declare -A PATHS=(
    [first]="/products?page_size=20"
    [search]="/products?page_size=20&search=praline"
    [cat]="/products?page_size=20&search=praline&category_id=$espresso"
    [new]="/products?page_size=20&search=praline"
)
echo "$BENCH_PRODUCTS products, wrk -t1 -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| request | binary | req/s | p99 ms |"
echo "|---|---|---:|---:|"
for kind in $KINDS; do
    lua=get.lua
    [[ $kind == new ]] && lua=new_filter.lua
    for round in $(seq 1 "$ROUNDS"); do
        for bin in "$@"; do
            start "$bin" false
            wrk -t1 -c"$CONNECTIONS" -d2s -s "$BENCH_LUA_DIR/$lua" "$BASE${PATHS[$kind]}" >/dev/null
            result=$(wrk_run "$kind-$round" "$lua" "${PATHS[$kind]}" -t1 -c"$CONNECTIONS" -d"${DURATION}s") ||
                { stop; exit 1; }
            read -r rps p99 <<<"$result"
            stop
            echo "| $kind | $bin | $rps | $p99 |"
        done
    done
done
psql "$PG/postgres" -qXc "DROP DATABASE IF EXISTS \"$BENCH_DB\" WITH (FORCE)" >/dev/null
