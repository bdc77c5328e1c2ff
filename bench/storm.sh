#!/usr/bin/env bash
# GET /me while a login storm runs, for one or more coffee-api binaries side
# by side (alternating, ROUNDS times): /me's p99 alone and during the storm,
# and the logins per second during the storm beside the raw Argon2id rate.
# See bench/README.md ("Login storm and other requests").
#
#   VARIANTS="after=$CARGO_TARGET_DIR/release/coffee-api before=/tmp/coffee-api.old" bench/storm.sh
#
# The first variant migrates the database (put the newest binary first).
# BENCH_DELAY_MS=2 paces each /me connection (a wait before each request),
# so that /me leaves the hashing its CPU.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR="$ROOT/bench"
export BENCH_LUA_DIR="$BENCH_DIR/lua"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

PORT=${PORT:-18098}
BENCH_DB=${BENCH_DB:-coffee_bench_storm}
VARIANTS=${VARIANTS:-current=$CARGO_TARGET_DIR/release/coffee-api}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-8}          # seconds of each /me run
ME_CONNECTIONS=${ME_CONNECTIONS:-"4 32"}
LOGIN_CONNECTIONS=${LOGIN_CONNECTIONS:-8}
export BENCH_USERS=${BENCH_USERS:-1000}
export BENCH_PASSWORD=$ADMIN_PASSWORD
ARGON2_BIN="$CARGO_TARGET_DIR/release/examples/argon2_rate"
OUT=${OUT:-$(mktemp -d /tmp/coffee-storm.XXXXXX)}
BASE="http://127.0.0.1:$PORT"

die() { echo "storm: $*" >&2; exit 1; }
log() { echo "storm: $*" >&2; }
for tool in wrk psql curl jq; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
[[ -x "$ARGON2_BIN" ]] || die "$ARGON2_BIN is missing (cargo build --release -p coffee-crypto --example argon2_rate)"

SERVER_PID=""
stop_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
trap 'stop_server' EXIT
trap 'exit 130' INT TERM

start_server() { # binary [run migrations: true]
    [[ -x "$1" ]] || die "$1 is not an executable"
    (
        cd "$OUT"
        exec env -i PATH="$PATH" HOME="$HOME" PORT="$PORT" HOST=127.0.0.1 \
            DATABASE_URL="$PG/$BENCH_DB?sslmode=disable" JWT_SECRET="$JWT_SECRET" \
            ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" ACCESS_TOKEN_TTL=1h \
            AUTH_RATE_LIMIT=off RUN_MIGRATIONS="${2:-false}" RUST_LOG=warn "$1"
    ) >>"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "$BASE/health/ready" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || die "$1 exited during start-up"
        sleep 0.1
    done
    die "$1 is not ready after 30 s"
}


log "output: $OUT"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
recreate_db
read -r -a variants <<<"$VARIANTS"
start_server "${variants[0]#*=}" true # migrations and the admin; later starts skip them
psql "$PG/$BENCH_DB" -qX -v ON_ERROR_STOP=1 -v admin="$ADMIN_EMAIL" -v n="$BENCH_USERS" \
    -f "$BENCH_DIR/sql/seed_users.sql" >/dev/null
stop_server

ROWS=()
for round in $(seq 1 "$ROUNDS"); do
    ceiling=$("$ARGON2_BIN" 2 5 | sed -nE 's/.* ([0-9.]+) hashes\/s.*/\1/p')
    [[ -n "$ceiling" ]] || die "argon2_rate printed no rate"
    for variant in "${variants[@]}"; do
        label=${variant%%=*}
        start_server "${variant#*=}"
        body=$(jq -cn --arg e "$ADMIN_EMAIL" --arg p "$ADMIN_PASSWORD" '{email: $e, password: $p}')
        export BENCH_TOKEN
        BENCH_TOKEN=$(curl -fsS -H 'Content-Type: application/json' -d "$body" "$BASE/auth/login" | jq -er .access_token)
        wrk_run "warm-$label-$round" get_auth.lua /me -t1 -c8 -d2s >/dev/null
        for c in $ME_CONNECTIONS; do
            log "round $round, $label: /me at $c connections alone, then during a login storm"
            read -r _ alone < <(wrk_run "me-$label-$c-$round" get_auth.lua /me -t1 -c"$c" -d"${DURATION}s")
            wrk_run "storm-$label-$c-$round" login.lua /auth/login -t1 -c"$LOGIN_CONNECTIONS" \
                -d"$((DURATION + 4))s" --timeout 10s >"$OUT/storm.result" &
            storm=$!
            sleep 2
            read -r _ during < <(wrk_run "me-storm-$label-$c-$round" get_auth.lua /me -t1 -c"$c" -d"${DURATION}s")
            wait "$storm" || die "the login storm failed"
            read -r logins _ <"$OUT/storm.result"
            ROWS+=("| $label | $round | $c | $alone | $during | $(awk -v a="$alone" -v b="$during" 'BEGIN {printf "%.1f×", b/a}') | $logins | $ceiling | $(awk -v a="$logins" -v b="$ceiling" 'BEGIN {printf "%.0f %%", 100*a/b}') |")
        done
        stop_server
    done
done

cat <<EOF

Login storm run: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg)
/me: wrk -t1 -c<N> -d${DURATION}s; storm: wrk -t1 -c$LOGIN_CONNECTIONS (login.lua, $BENCH_USERS users) from 2 s before to 2 s after; Argon2id ceiling: argon2_rate, 2 threads, 5 s

| variant | round | /me connections | /me p99 alone ms | /me p99 during storm ms | ratio | logins/s during storm | Argon2id hashes/s | logins ÷ ceiling |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
printf '%s\n' "${ROWS[@]}"
