#!/usr/bin/env bash
# Menu search on the embedded profile (SQLite): a fresh database file
# migrated by the release coffee-api, seeded by bench/seed_menu_sqlite.py
# with the menu of bench/sql/seed_menu.sql, then wrk on search, a
# `__contains` filter, search within a category and the plain first page,
# at each connection count in $CONNECTIONS. See bench/README.md
# ("Menu search on SQLite"). A manual measurement, never run by CI.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR="$ROOT/bench"
export BENCH_LUA_DIR="$BENCH_DIR/lua"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
PORT=${PORT:-18121}
BENCH_PRODUCTS=${BENCH_PRODUCTS:-10000}
SEARCH_TERM=${SEARCH_TERM:-praline}
CONNECTIONS=${CONNECTIONS:-"1 4 32"}
READERS=${READERS:-10} # DATABASE_MAX_CONNECTIONS: the read-only connections for lists
DURATION=${DURATION:-8}
OUT=${OUT:-$(mktemp -d /tmp/coffee-search-sqlite.XXXXXX)}
API_BIN=${API_BIN:-$CARGO_TARGET_DIR/release/coffee-api}
BASE="http://127.0.0.1:$PORT"
DB_FILE="$OUT/menu.db"

die() { echo "search_sqlite: $*" >&2; exit 1; }
log() { echo "search_sqlite: $*" >&2; }
for tool in wrk curl jq python3; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
if [[ "${BUILD:-0}" == 1 ]]; then
    (cd "$ROOT" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR" cargo build --release -p coffee-api)
fi
[[ -x "$API_BIN" ]] || die "$API_BIN is missing (BUILD=1 bench/search_sqlite.sh builds it)"

SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
trap stop_server EXIT
start_server() {
    (
        cd "$OUT"
        exec env -i PATH="$PATH" HOME="$HOME" PORT="$PORT" HOST=127.0.0.1 DATABASE_URL="sqlite://$DB_FILE?mode=rwc" \
            JWT_SECRET="$JWT_SECRET" AUTH_RATE_LIMIT=off RUST_LOG=warn DATABASE_MAX_CONNECTIONS="$READERS" \
            MEDIA_DIR="$OUT/media" CLEANUP_SCHEDULE="0 0 0 1 1 *" SHUTDOWN_DRAIN=0s "$API_BIN"
    ) >>"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    wait_ready "$SERVER_PID" "$OUT/server.log"
}

log "output: $OUT"
start_server # migrates the new file
stop_server
log "seeding $BENCH_PRODUCTS products"
python3 "$BENCH_DIR/seed_menu_sqlite.py" "$DB_FILE" "$BENCH_PRODUCTS" "$SEARCH_TERM"
start_server

CATEGORY_ID=$(curl -fsS "$BASE/categories?page_size=50" | jq -er '.items[] | select(.name == "Pastries") | .id')
HITS=$(curl -fsS "$BASE/products?search=$SEARCH_TERM&page_size=1" | jq -er .total)
(( HITS == BENCH_PRODUCTS / 20 )) || die "search '$SEARCH_TERM' found $HITS products, expected $(( BENCH_PRODUCTS / 20 ))"
PATHS=("/products?search=$SEARCH_TERM" "/products?name__contains=$SEARCH_TERM"
       "/products?search=$SEARCH_TERM&category_id=$CATEGORY_ID" "/products?page_size=20")
NAMES=("search=$SEARCH_TERM" "name__contains=$SEARCH_TERM" "search=$SEARCH_TERM in one category" "first page, no filter")

echo
echo "Menu search on SQLite: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$BENCH_PRODUCTS products, '$SEARCH_TERM' in $HITS of them; $READERS read-only connections; wrk -t1 -d${DURATION}s; p99 from wrk --latency"
echo
echo "| request | connections | req/s | p50 ms | p99 ms |"
echo "|---|---:|---:|---:|---:|"
for i in "${!PATHS[@]}"; do
    for c in $CONNECTIONS; do
        line=$(wrk_result "wrk-$i-$c" get.lua "${PATHS[$i]}" -t1 -c"$c" -d"${DURATION}s")
        read -r rps p50 p99 < <(sed -E 's/.* rps=([0-9.]+) p50_ms=([0-9.]+) p99_ms=([0-9.]+) .*/\1 \2 \3/' <<<"$line")
        printf '| %s | %s | %.0f | %s | %s |\n' "${NAMES[$i]}" "$c" "$rps" "$p50" "$p99"
    done
done
