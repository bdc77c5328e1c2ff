#!/usr/bin/env bash
# Chat benchmark: two coffee-api replicas (release build) on PostgreSQL and
# Redis. See bench/README.md ("Chat"). A manual measurement, never run by CI.
#
# 1. Fan-out latency: customers on replica A send messages at $RATE msg/s
#    (each customer at most 0.8/s, under the per-socket budget of 10 in any
#    10 s); $AGENTS agents receive every one. Baseline: the agents on A too
#    (in-process delivery plus the Redis round trip every publish makes);
#    measured: the agents on B (delivery through Redis pub/sub to the other
#    replica). Interleaved, $ROUNDS rounds of $SECONDS s.
# 2. Sustained rate: the cross-replica run at rising rates ($RATES).
# 3. Idle sockets: RSS of replica A idle, then holding $IDLE_SOCKETS
#    authenticated sockets (5 per customer, the per-user bound), after they
#    opened and after $HOLD s.
#
# The clients are `bins/api/examples/chat_load.rs` (tokio-tungstenite, one
# task per socket, one process), built with the server.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/coffee-target}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
REDIS=${REDIS:-redis://127.0.0.1:6379}
BENCH_DB=${BENCH_DB:-coffee_bench_chat}
PORT_A=${PORT_A:-18101}
PORT_B=${PORT_B:-18102}
AGENTS=${AGENTS:-10}
CUSTOMERS=${CUSTOMERS:-2000}
RATE=${RATE:-200}
RATES=${RATES-"200 500 1000"}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-15}
ROUNDS=${ROUNDS:-2}
IDLE_SOCKETS=${IDLE_SOCKETS:-10000}
HOLD=${HOLD:-30}
JWT_SECRET=${JWT_SECRET:-bench-jwt-secret-0123456789abcdef0123456789}
QUEUE="coffee-bench-chat-$$"
OUT=${OUT:-$(mktemp -d /tmp/coffee-bench-chat.XXXXXX)}
API_BIN=${API_BIN:-$CARGO_TARGET_DIR/release/coffee-api}
LOAD_BIN=${LOAD_BIN:-$CARGO_TARGET_DIR/release/examples/chat_load}
DB="$PG/$BENCH_DB"

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }
for tool in psql curl python3; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
if [[ "${BUILD:-0}" == 1 ]]; then
    (cd "$ROOT" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR" cargo build --release -p coffee-api --bin coffee-api --example chat_load)
fi
[[ -x "$API_BIN" && -x "$LOAD_BIN" ]] || die "missing release binaries: run with BUILD=1"
(( $(ulimit -n) >= IDLE_SOCKETS + 1000 )) || ulimit -n $((IDLE_SOCKETS + 1000)) || die "raise ulimit -n"

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

psql "$PG/postgres" -qXc "DROP DATABASE IF EXISTS \"$BENCH_DB\" WITH (FORCE)" >/dev/null
psql "$PG/postgres" -qXc "CREATE DATABASE \"$BENCH_DB\"" >/dev/null

start_replica() { # port migrate → sets LAST_PID
    # SERVER_ENV: extra settings for both replicas, e.g. "MALLOC_ARENA_MAX=2" or
    # "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2" (another allocator, no rebuild).
    # shellcheck disable=SC2086
    env -i PATH="$PATH" HOME="$HOME" ${SERVER_ENV:-} HOST=127.0.0.1 PORT="$1" DATABASE_URL="$DB" REDIS_URL="$REDIS" \
        JOBS_QUEUE="$QUEUE" JWT_SECRET="$JWT_SECRET" RUN_MIGRATIONS="$2" AUTH_RATE_LIMIT=off \
        DATABASE_MAX_CONNECTIONS=16 RUST_LOG=warn PUBLIC_BASE_URL="http://127.0.0.1:$1" \
        "$API_BIN" >"$OUT/api-$1.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$1/health/ready" >/dev/null && return 0
        sleep 0.1
    done
    die "replica on $1 did not become ready: $(tail -5 "$OUT/api-$1.log")"
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

start_replica "$PORT_A" true; PID_A=$LAST_PID
start_replica "$PORT_B" false
log "replicas up (A pid $PID_A); seeding $AGENTS agents and $CUSTOMERS customers"
psql "$DB" -qX -v agents="$AGENTS" -v customers="$CUSTOMERS" <<'SQL' >/dev/null
INSERT INTO users (id, email, password_hash, role, is_verified, verified_at, created_at, updated_at)
SELECT gen_random_uuid(), format('agent%s@bench.example.com', g), 'x', 'admin', true, now(), now(), now()
FROM generate_series(1, :agents) AS g;
INSERT INTO users (id, email, password_hash, role, is_verified, verified_at, created_at, updated_at)
SELECT gen_random_uuid(), format('customer%s@bench.example.com', g), 'x', 'user', true, now(), now(), now()
FROM generate_series(1, :customers) AS g;
-- A live login per account, with the account's own id so that the tokens can
-- name it (`sid`, checked on every request) without a join.
INSERT INTO sessions (id, user_id, family_id, created_at, expires_at)
SELECT u.id, u.id, u.id, now(), now() + interval '1 day' FROM users u WHERE u.email LIKE '%@bench.example.com';
SQL
mint() { psql "$DB" -AtqX -F' ' -c "select id, role, id from users where email like '$1%' order by email" \
    | python3 "$ROOT/bench/mint_tokens.py" "$JWT_SECRET" 7200; }
mint agent >"$OUT/agents.txt"
mint customer >"$OUT/customers.txt"

A="ws://127.0.0.1:$PORT_A"
B="ws://127.0.0.1:$PORT_B"
echo "== fan-out latency at $RATE msg/s to $AGENTS agents, $ROUNDS rounds of ${SECONDS_PER_RUN}s"
for round in $(seq 1 "$ROUNDS"); do
    echo -n "round $round, same replica (baseline): "
    "$LOAD_BIN" fanout "$A" "$A" "$OUT/customers.txt" "$OUT/agents.txt" "$RATE" "$SECONDS_PER_RUN" | tail -1
    echo -n "round $round, across replicas:         "
    "$LOAD_BIN" fanout "$A" "$B" "$OUT/customers.txt" "$OUT/agents.txt" "$RATE" "$SECONDS_PER_RUN" | tail -1
done
echo "== sustained, across replicas"
for rate in $RATES; do
    echo -n "$rate msg/s offered: "
    "$LOAD_BIN" fanout "$A" "$B" "$OUT/customers.txt" "$OUT/agents.txt" "$rate" "$SECONDS_PER_RUN" | tail -1
done
echo "== $IDLE_SOCKETS idle sockets on replica A"
sleep 2
IDLE_KIB=$(rss_kib "$PID_A")
echo "RSS idle: $(( IDLE_KIB / 1024 )) MiB"
"$LOAD_BIN" idle "$A" "$OUT/customers.txt" "$IDLE_SOCKETS" "$((HOLD + 600))" >"$OUT/idle.log" 2>&1 &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
for _ in $(seq 1 600); do grep -q '^open:' "$OUT/idle.log" && break; sleep 0.2; done
grep '^open:' "$OUT/idle.log" || die "the sockets did not open: $(tail -3 "$OUT/idle.log")"
OPEN_KIB=$(rss_kib "$PID_A")
echo "RSS with every socket open: $(( OPEN_KIB / 1024 )) MiB ($(( (OPEN_KIB - IDLE_KIB) / IDLE_SOCKETS )) KiB per socket)"
sleep "$HOLD"
echo "RSS after ${HOLD}s more: $(( $(rss_kib "$PID_A") / 1024 )) MiB (pings every 20 s)"
kill -TERM "$LOAD_PID" 2>/dev/null || true
sleep 3
echo "RSS after the clients left: $(( $(rss_kib "$PID_A") / 1024 )) MiB"
echo "logs: $OUT"
