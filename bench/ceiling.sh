#!/usr/bin/env bash
# Our speed beside PostgreSQL's own, per hot endpoint, in one run: wrk
# against the release coffee-api, then pgbench running exactly the SQL that
# endpoint runs (the statements in bench/sql/ceiling/, captured from the
# server's statement log) with the same connection count, and the ratio.
# Login is compared with the raw Argon2id rate (bench's argon2_rate example).
# See bench/README.md ("Ceiling").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR="$ROOT/bench"
export BENCH_LUA_DIR="$BENCH_DIR/lua"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

PORT=${PORT:-18096}
BENCH_DB=${BENCH_DB:-coffee_bench_ceiling}
# libpq/sqlx TLS mode for both sides; loopback and a compose network carry no TLS.
SSLMODE=${SSLMODE:-disable}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
CONNECTIONS=${CONNECTIONS:-32}
ARGON2_SECONDS=${ARGON2_SECONDS:-5}
export BENCH_USERS=${BENCH_USERS:-1000}
BENCH_PRODUCTS=${BENCH_PRODUCTS:-1000}
export BENCH_PASSWORD=$ADMIN_PASSWORD
OUT=${OUT:-$(mktemp -d /tmp/coffee-ceiling.XXXXXX)}
mkdir -p "$OUT"

BASE="http://127.0.0.1:$PORT"
API_BIN=${API_BIN:-$CARGO_TARGET_DIR/release/coffee-api}
ARGON2_BIN="$CARGO_TARGET_DIR/release/examples/argon2_rate"
DB_URL="$PG/$BENCH_DB?sslmode=$SSLMODE"

die() { echo "ceiling: $*" >&2; exit 1; }
log() { echo "ceiling: $*" >&2; }

for tool in wrk pgbench psql curl jq; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install -y wrk postgresql-client curl jq)"
done
if [[ "${BUILD:-0}" == 1 ]]; then
    (cd "$ROOT" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR" cargo build --release -p coffee-api \
        && CARGO_TARGET_DIR="$CARGO_TARGET_DIR" cargo build --release -p coffee-crypto --example argon2_rate)
fi
[[ -x "$API_BIN" ]] || die "$API_BIN is missing (BUILD=1 bench/ceiling.sh builds it)"
[[ -x "$ARGON2_BIN" ]] || die "$ARGON2_BIN is missing (BUILD=1 bench/ceiling.sh builds it)"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then die "something already listens on 127.0.0.1:$PORT"; fi

SERVER_PID=""
cleanup() {
    local status=$?
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    (( status == 0 )) || { log "failed (exit $status); logs in $OUT"; tail -n 20 "$OUT/server.log" >&2 || true; }
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "output: $OUT"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
recreate_db

(
    cd "$OUT"
    exec env -i PATH="$PATH" HOME="$HOME" PORT="$PORT" HOST=127.0.0.1 DATABASE_URL="$DB_URL" \
        JWT_SECRET="$JWT_SECRET" ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
        ACCESS_TOKEN_TTL=1h AUTH_RATE_LIMIT=off RUST_LOG=warn MEDIA_DIR="$OUT/media" \
        CLEANUP_SCHEDULE="0 0 0 1 1 *" "$API_BIN"
) >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
wait_ready "$SERVER_PID" "$OUT/server.log"

log "seeding $BENCH_USERS users and $BENCH_PRODUCTS products"
psql "$DB_URL" -qX -v ON_ERROR_STOP=1 -v admin="$ADMIN_EMAIL" -v n="$BENCH_USERS" \
    -f "$BENCH_DIR/sql/seed_users.sql" >/dev/null
psql "$DB_URL" -qX -v ON_ERROR_STOP=1 -v n="$BENCH_PRODUCTS" -v term=praline \
    -f "$BENCH_DIR/sql/seed_menu.sql" >/dev/null

token() { # email
    local body
    body=$(jq -cn --arg e "$1" --arg p "$ADMIN_PASSWORD" '{email: $e, password: $p}')
    curl -fsS -H 'Content-Type: application/json' -d "$body" "$BASE/auth/login" | jq -er .access_token
}
ADMIN_TOKEN=$(token "$ADMIN_EMAIL") || die "the admin cannot log in"
USER_TOKEN=$(token user0001@bench.example.com) || die "user0001 cannot log in"
USER_ID=$(curl -fsS -H "Authorization: Bearer $USER_TOKEN" "$BASE/me" | jq -er .id)
ADMIN_ID=$(curl -fsS -H "Authorization: Bearer $ADMIN_TOKEN" "$BASE/me" | jq -er .id)
# The login (session) each token names; every authenticated statement checks it.
sid_of() { psql "$DB_URL" -AtqX -c "select id from sessions where user_id = '$1' and revoked_at is null"; }
USER_SID=$(sid_of "$USER_ID")
ADMIN_SID=$(sid_of "$ADMIN_ID")
[[ $(curl -fsS -H "Authorization: Bearer $ADMIN_TOKEN" "$BASE/users?page_size=20" | jq '.items | length') == 20 ]] ||
    die "GET /users did not answer 20 users"

# pgbench scripts: the endpoint's statements, in its order, one transaction
# per request (each statement runs on its own; none is in a transaction).

# pgbench NAME SCRIPT → "tps p99_ms" (p99 from the per-transaction log)
pgbench_run() {
    local name=$1 script=$2
    rm -f "$OUT/$name".log*
    PGSSLMODE=$SSLMODE pgbench -n -M prepared -c "$CONNECTIONS" -j 1 -T "$DURATION" \
        -D user_id="$USER_ID" -D admin_id="$ADMIN_ID" -D user_sid="$USER_SID" -D admin_sid="$ADMIN_SID" -l --log-prefix="$OUT/$name.log" \
        -f "$script" "$PG/$BENCH_DB" >"$OUT/$name.txt" 2>&1 || die "pgbench $name failed: $(cat "$OUT/$name.txt")"
    local tps p99
    tps=$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\)/\1/p' "$OUT/$name.txt")
    [[ -n "$tps" ]] || die "pgbench $name printed no tps: $(cat "$OUT/$name.txt")"
    p99=$(cat "$OUT/$name".log* | awk '{print $3}' | sort -n |
        awk '{v[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.2f", v[i]/1000}')
    echo "$tps $p99"
}

ROWS=()
row() { # endpoint round "ours_rps ours_p99" "pg_tps pg_p99" what
    local rps p99 tps pg_p99
    read -r rps p99 <<<"$3"
    read -r tps pg_p99 <<<"$4"
    ROWS+=("| $1 | $2 | $(printf "%.0f" "$rps") | $p99 | $5 | $(printf "%.0f" "$tps") | $pg_p99 | $(awk -v a="$rps" -v b="$tps" 'BEGIN {printf "%.0f %%", 100*a/b}') |")
}

# "LOOKUPS PAGES": the menu's version lookups sent and remembered pages
# answered so far, from /metrics (LOOKUPS is "-" for a build without the
# counter).
menu_counters() {
    curl -fsS "$BASE/metrics" | awk '
        /^coffee_list_version_lookups_total / {l = $2}
        /^coffee_list_pages_total\{source="remembered"\} / {p = $2}
        END {print (l == "" ? "-" : l), p + 0}'
}
# lookups_per_page "BEFORE" "AFTER" → "0.31 version lookups per page"
lookups_per_page() {
    awk -v b="$1" -v a="$2" 'BEGIN {
        split(b, x, " "); split(a, y, " ");
        if (x[1] == "-" || y[2] == x[2]) print "one version lookup per page";
        else printf "%.2f version lookups per page\n", (y[1] - x[1]) / (y[2] - x[2]) }'
}

log "warming up"
BENCH_TOKEN=$USER_TOKEN wrk_run warmup get_auth.lua /me -t1 -c"$CONNECTIONS" -d3s >/dev/null
C=(-t1 -c"$CONNECTIONS" -d"${DURATION}s")
for round in $(seq 1 "$ROUNDS"); do
    log "round $round: GET /me"
    ours=$(BENCH_TOKEN=$USER_TOKEN wrk_run "me$round" get_auth.lua /me "${C[@]}")
    pg=$(pgbench_run "pg_me$round" "$BENCH_DIR/sql/ceiling/me.sql")
    row 'GET /me' "$round" "$ours" "$pg" 'PK lookup + session'
    log "round $round: GET /users?page_size=20"
    ours=$(BENCH_TOKEN=$ADMIN_TOKEN wrk_run "users$round" get_auth.lua '/users?page_size=20' "${C[@]}")
    pg=$(pgbench_run "pg_users$round" "$BENCH_DIR/sql/ceiling/users.sql")
    row 'GET /users?page_size=20' "$round" "$ours" "$pg" 'caller + page with total'
    log "round $round: GET /products?page_size=20"
    before=$(menu_counters)
    ours=$(wrk_run "products$round" get.lua '/products?page_size=20' "${C[@]}")
    shared=$(lookups_per_page "$before" "$(menu_counters)")
    pg=$(pgbench_run "pg_products$round" "$BENCH_DIR/sql/ceiling/products.sql")
    row 'GET /products?page_size=20' "$round" "$ours" "$pg" 'page with total and categories (read afresh)'
    pg=$(pgbench_run "pg_products_version$round" "$BENCH_DIR/sql/ceiling/products_version.sql")
    row 'GET /products?page_size=20' "$round" "$ours" "$pg" "the menu version alone (what a remembered page runs; $shared)"
    log "round $round: POST /auth/login against raw Argon2id"
    ours=$(wrk_run "login$round" login.lua /auth/login -t1 -c8 -d"${DURATION}s" --timeout 10s)
    rate=$("$ARGON2_BIN" 2 "$ARGON2_SECONDS" | sed -nE 's/.* ([0-9.]+) hashes\/s.*/\1/p' | tail -1)
    [[ -n "$rate" ]] || die "argon2_rate printed no rate"
    row 'POST /auth/login (8 connections)' "$round" "$ours" "$rate -" 'Argon2id, 2 threads'
done

cat <<EOF

Ceiling run: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg)
wrk -t1 -c$CONNECTIONS -d${DURATION}s; pgbench -M prepared -c $CONNECTIONS -j 1 -T $DURATION; sslmode=$SSLMODE; $BENCH_USERS users, $BENCH_PRODUCTS products

| endpoint | round | ours req/s | ours p99 ms | PostgreSQL alone runs | tps | p99 ms | ours ÷ PostgreSQL |
|---|---:|---:|---:|---|---:|---:|---:|
EOF
printf '%s\n' "${ROWS[@]}"
