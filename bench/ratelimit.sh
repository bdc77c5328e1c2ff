#!/usr/bin/env bash
# Cost of the auth rate limiter (SPEC §9, AUTH_RATE_LIMIT) shared through
# Redis. See bench/README.md ("Rate limiter"). A manual measurement, never
# run by CI.
#
# Two release coffee-api processes on the same PostgreSQL database and the
# same Redis, identical but for AUTH_RATE_LIMIT: `on` has a budget too large
# to be reached (every request still runs the GCRA script in Redis), `off`
# has no limiter. Interleaved, $ROUNDS rounds of $DURATION s each:
#
#   refresh c=1   POST /auth/refresh with an invalid token (401, no database):
#                 the limiter's per-request cost at p50 is on − off
#   refresh c=16  the same under concurrency
#   login   c=8   POST /auth/login, valid (Argon2-bound throughput)
#   /me     c=32  GET /me, not rate limited (must not change)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BENCH_LUA_DIR="$ROOT/bench/lua"
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/coffee-target}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
REDIS=${REDIS:-redis://127.0.0.1:6379}
BENCH_DB=${BENCH_DB:-coffee_bench_ratelimit}
PORT_ON=${PORT_ON:-18111}
PORT_OFF=${PORT_OFF:-18112}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
export BENCH_USERS=${BENCH_USERS:-200}
ADMIN_EMAIL=admin@bench.example.com
export BENCH_PASSWORD=bench-admin-password-1234
JWT_SECRET=${JWT_SECRET:-bench-jwt-secret-0123456789abcdef0123456789}
OUT=${OUT:-$(mktemp -d /tmp/coffee-bench-ratelimit.XXXXXX)}
API_BIN=${API_BIN:-$CARGO_TARGET_DIR/release/coffee-api}
DB="$PG/$BENCH_DB"

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }
for tool in wrk psql curl jq; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
if [[ "${BUILD:-0}" == 1 ]]; then
    (cd "$ROOT" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR" cargo build --release -p coffee-api --bin coffee-api)
fi
[[ -x "$API_BIN" ]] || die "missing $API_BIN: run with BUILD=1"

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

psql "$PG/postgres" -qXc "DROP DATABASE IF EXISTS \"$BENCH_DB\" WITH (FORCE)" >/dev/null
psql "$PG/postgres" -qXc "CREATE DATABASE \"$BENCH_DB\"" >/dev/null

start() { # port limit migrate
    env -i PATH="$PATH" HOME="$HOME" HOST=127.0.0.1 PORT="$1" DATABASE_URL="$DB" REDIS_URL="$REDIS" \
        JOBS_QUEUE="coffee-bench-ratelimit-$$" JWT_SECRET="$JWT_SECRET" RUN_MIGRATIONS="$3" \
        AUTH_RATE_LIMIT="$2" ACCESS_TOKEN_TTL=1h SHUTDOWN_DRAIN=0s RUST_LOG=warn \
        ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$BENCH_PASSWORD" \
        "$API_BIN" >"$OUT/api-$1.log" 2>&1 &
    PIDS+=("$!")
    for _ in $(seq 1 300); do
        curl -fs "http://127.0.0.1:$1/health/ready" >/dev/null && return 0
        sleep 0.1
    done
    die "coffee-api on $1 did not become ready: $(tail -5 "$OUT/api-$1.log")"
}
start "$PORT_ON" 1000000000/min true
start "$PORT_OFF" off false

psql "$DB" -qX -v ON_ERROR_STOP=1 -v admin="$ADMIN_EMAIL" -v n="$BENCH_USERS" >/dev/null <<'SQL'
INSERT INTO users (id, email, password_hash, role, is_verified, verified_at, created_at, updated_at)
SELECT gen_random_uuid(), format('user%s@bench.example.com', lpad(g::text, 4, '0')), a.password_hash,
       'user', true, now(), now(), now()
FROM generate_series(1, :n) AS g, (SELECT password_hash FROM users WHERE email = :'admin') AS a;
ANALYZE users;
SQL
TOKEN=$(curl -fsS -H 'Content-Type: application/json' \
    -d "{\"email\":\"user0001@bench.example.com\",\"password\":\"$BENCH_PASSWORD\"}" \
    "http://127.0.0.1:$PORT_ON/auth/login" | jq -er .access_token)
export BENCH_TOKEN=$TOKEN
limited=$(curl -s -o /dev/null -D - -H 'Content-Type: application/json' -d '{"refresh_token":"x"}' \
    "http://127.0.0.1:$PORT_ON/auth/refresh" | tr -d '\r' | grep -ci '^ratelimit-policy:' || true)
[[ "$limited" == 1 ]] || die "the 'on' replica sent no RateLimit-Policy header: is the limiter running?"

run() { # name port connections script path
    BENCH_NAME="$1" wrk -t1 -c"$3" -d"${DURATION}s" --latency -s "$BENCH_LUA_DIR/$4" "http://127.0.0.1:$2$5" \
        | grep '^RESULT'
}
printf '| round | case | limiter | req/s | p50 ms | p99 ms |\n|---|---|---|---|---|---|\n'
for round in $(seq 1 "$ROUNDS"); do
    for case in "refresh c=1|1|refresh_invalid.lua|/auth/refresh" \
                "refresh c=16|16|refresh_invalid.lua|/auth/refresh" \
                "login c=8|8|login.lua|/auth/login" \
                "/me c=32|32|get_auth.lua|/me"; do
        IFS='|' read -r name conns script path <<<"$case"
        for mode in on off; do
            port=$PORT_ON; [[ $mode == off ]] && port=$PORT_OFF
            line=$(run "$name" "$port" "$conns" "$script" "$path")
            rps=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$line")
            p50=$(sed -E 's/.* p50_ms=([0-9.]+).*/\1/' <<<"$line")
            p99=$(sed -E 's/.* p99_ms=([0-9.]+).*/\1/' <<<"$line")
            printf '| %s | %s | %s | %s | %s | %s |\n' "$round" "$name" "$mode" "$rps" "$p50" "$p99"
        done
    done
done
log "logs: $OUT"
