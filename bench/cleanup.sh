#!/usr/bin/env bash
# Benchmark of the scheduled cleanup in coffee-worker. See bench/README.md.
#
# Recreates the PostgreSQL database $BENCH_DB, lets the release coffee-api
# create the schema (then stops it), seeds $STALE_USERS unverified users
# created 3 days ago (each with a verification row and a session),
# $VERIFIED_USERS verified users of the same age (each with a session) and
# $FRESH_USERS unverified users created 1 hour ago (each with a verification
# row), starts the release coffee-worker with CLEANUP_SCHEDULE='*/5 * * * * *'
# and JSON logs, and measures the first cleanup run: its wall time (from the
# "cleanup tick" log line to "cleanup finished"), the worker's peak RSS
# (VmRSS sampled every 20 ms, and VmHWM), and what is left in the database.
# Takes ~20 seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/coffee-target}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
BENCH_DB=${BENCH_DB:-coffee_bench_cleanup}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
JOBS_QUEUE=${JOBS_QUEUE:-coffee-bench-cleanup-$(date +%s)-$$}
API_PORT=${API_PORT:-18093}     # coffee-api runs only to migrate the database
STALE_USERS=${STALE_USERS:-100000}
VERIFIED_USERS=${VERIFIED_USERS:-10000}
FRESH_USERS=${FRESH_USERS:-1000}
TIMEOUT=${TIMEOUT:-600}         # seconds to wait for the first cleanup run
JWT_SECRET=${JWT_SECRET:-bench-jwt-secret-0123456789abcdef0123456789}
OUT=${OUT:-$(mktemp -d /tmp/coffee-bench-cleanup.XXXXXX)}
mkdir -p "$OUT"

API_BIN=${API_BIN:-$CARGO_TARGET_DIR/release/coffee-api}
WORKER_BIN=${WORKER_BIN:-$CARGO_TARGET_DIR/release/coffee-worker}
DB_URL="$PG/$BENCH_DB"
# The schedule is fixed: the script starts the worker right after a multiple
# of 5 s so that its start-up memory can be sampled before the first tick.
SCHEDULE='*/5 * * * * *'

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

# ---------------------------------------------------------------- preflight
for tool in psql curl jq redis-cli python3; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install -y postgresql-client curl jq redis-tools python3)"
done
if [[ "${BUILD:-0}" == 1 ]]; then
    log "building release binaries into $CARGO_TARGET_DIR"
    (cd "$ROOT" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR" cargo build --release -p coffee-api -p coffee-worker)
fi
for bin in "$API_BIN" "$WORKER_BIN"; do
    [[ -x "$bin" ]] || die "$bin is missing: run with BUILD=1, or: CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo build --release -p coffee-api -p coffee-worker"
done
[[ "$JOBS_QUEUE" =~ ^[A-Za-z0-9._:-]+$ ]] || die "JOBS_QUEUE may only contain letters, digits and . _ : -"
if (exec 3<>"/dev/tcp/127.0.0.1/$API_PORT") 2>/dev/null; then
    die "something already listens on 127.0.0.1:$API_PORT (set API_PORT=...)"
fi
psql "$PG/postgres" -Atqc 'select 1' >/dev/null || die "PostgreSQL is not reachable at $PG"
[[ "$(redis-cli -u "$REDIS_URL" ping 2>/dev/null)" == PONG ]] || die "Redis is not reachable at $REDIS_URL"
[[ -z "$(redis-cli -u "$REDIS_URL" --scan --pattern "$JOBS_QUEUE:*" | head -n1)" ]] \
    || die "Redis already holds keys of queue $JOBS_QUEUE (set JOBS_QUEUE=...)"

# ---------------------------------------------------------------- cleanup
API_PID=""
WORKER_PID=""
RSS_PID=""
stop() { # stop PID: SIGTERM, up to 10 s grace, then SIGKILL
    local pid=$1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local status=$?
    stop "$WORKER_PID"
    stop "$API_PID"
    [[ -n "$RSS_PID" ]] && kill "$RSS_PID" 2>/dev/null || true
    # The keys apalis created for this run's queue (heartbeats, worker set).
    redis-cli -u "$REDIS_URL" --scan --pattern "$JOBS_QUEUE:*" 2>/dev/null \
        | while read -r key; do redis-cli -u "$REDIS_URL" del "$key" >/dev/null; done || true
    if (( status != 0 )); then
        log "failed (exit $status); logs in $OUT"
        for f in api.log worker.log; do
            [[ -f "$OUT/$f" ]] && { echo "--- $f" >&2; tail -n 20 "$OUT/$f" >&2; }
        done
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "output and logs: $OUT"
START_TIME=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
sql() { psql "$DB_URL" -AtqX -v ON_ERROR_STOP=1 "$@"; }

# ---------------------------------------------------------------- schema
log "recreating database $BENCH_DB"
psql "$PG/postgres" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
DROP DATABASE IF EXISTS "$BENCH_DB" WITH (FORCE);
CREATE DATABASE "$BENCH_DB";
SQL

log "creating the schema: starting coffee-api once (RUN_MIGRATIONS defaults to true)"
# env -i: no stray REDIS_URL/SMTP_URL etc. from the caller; cwd $OUT: no .env is picked up.
(
    cd "$OUT"
    exec env -i PATH="$PATH" HOME="$HOME" \
        PORT="$API_PORT" HOST=127.0.0.1 DATABASE_URL="$DB_URL" JWT_SECRET="$JWT_SECRET" RUST_LOG=warn \
        "$API_BIN"
) >"$OUT/api.log" 2>&1 &
API_PID=$!
for i in $(seq 1 300); do
    curl -fsS -o /dev/null "http://127.0.0.1:$API_PORT/health/ready" 2>/dev/null && break
    kill -0 "$API_PID" 2>/dev/null || die "coffee-api exited during start-up"
    (( i < 300 )) || die "coffee-api not ready after 30s"
    sleep 0.1
done
stop "$API_PID"
API_PID=""
# (If another server had answered on the port, the schema would be missing.)
[[ "$(sql -c "select to_regclass('public.users') is not null and to_regclass('public.outbox') is not null")" == t ]] \
    || die "coffee-api did not create the schema in $BENCH_DB (another server on port $API_PORT?)"

# ---------------------------------------------------------------- seed
# Stale: unverified, created 3 days ago (UNVERIFIED_USER_TTL defaults to 48h),
# with a verification row (expired a day after sign-up, as it would be) and a
# session valid for 30 days, so both disappear only through the cascade.
# Verified: same age, with a valid session. Fresh: unverified, 1 hour old,
# with a valid verification row. Only the stale users may be deleted.
log "seeding $STALE_USERS stale, $VERIFIED_USERS verified and $FRESH_USERS fresh users"
SEED_START=$(date +%s.%N)
sql -v stale="$STALE_USERS" -v verified="$VERIFIED_USERS" -v fresh="$FRESH_USERS" >/dev/null <<'SQL'
BEGIN;
INSERT INTO users (id, email, password_hash, first_name, last_name, phone, role,
                   is_verified, verified_at, created_at, updated_at)
SELECT gen_random_uuid(), format('stale%s@cleanup.bench.example.com', g), 'not-a-hash',
       'Stale', 'User' || g, NULL, 'user', false, NULL,
       now() - interval '3 days' - g * interval '100 ms', now() - interval '3 days'
FROM generate_series(1, :stale) AS g;
INSERT INTO users (id, email, password_hash, first_name, last_name, phone, role,
                   is_verified, verified_at, created_at, updated_at)
SELECT gen_random_uuid(), format('verified%s@cleanup.bench.example.com', g), 'not-a-hash',
       'Verified', 'User' || g, NULL, 'user', true, now() - interval '3 days',
       now() - interval '3 days' - g * interval '100 ms', now() - interval '3 days'
FROM generate_series(1, :verified) AS g;
INSERT INTO users (id, email, password_hash, first_name, last_name, phone, role,
                   is_verified, verified_at, created_at, updated_at)
SELECT gen_random_uuid(), format('fresh%s@cleanup.bench.example.com', g), 'not-a-hash',
       'Fresh', 'User' || g, NULL, 'user', false, NULL,
       now() - interval '1 hour', now() - interval '1 hour'
FROM generate_series(1, :fresh) AS g;
INSERT INTO email_verifications (user_id, code_hash, token_hash, attempts, expires_at, sent_at)
SELECT id, 'not-a-hash', gen_random_uuid()::text, 0, created_at + interval '24 hours', created_at
FROM users WHERE NOT is_verified;
INSERT INTO sessions (id, user_id, family_id, created_at, expires_at, rotated_at, revoked_at)
SELECT gen_random_uuid(), id, gen_random_uuid(), created_at, now() + interval '30 days', NULL, NULL
FROM users WHERE email LIKE 'stale%' OR is_verified;
COMMIT;
ANALYZE users;
ANALYZE email_verifications;
ANALYZE sessions;
CHECKPOINT;
SQL
SEED_SECONDS=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$SEED_START" "$(date +%s.%N)")

counts() { # users stale verified fresh verifications sessions
    sql -F' ' -c "select count(*),
        count(*) filter (where email like 'stale%'),
        count(*) filter (where email like 'verified%' and is_verified),
        count(*) filter (where email like 'fresh%' and not is_verified),
        (select count(*) from email_verifications),
        (select count(*) from sessions)
        from users"
}
read -r U0 S0 V0 F0 EV0 SE0 < <(counts)
EXPECT_EV0=$((STALE_USERS + FRESH_USERS))
EXPECT_SE0=$((STALE_USERS + VERIFIED_USERS))
[[ "$S0 $V0 $F0 $EV0 $SE0" == "$STALE_USERS $VERIFIED_USERS $FRESH_USERS $EXPECT_EV0 $EXPECT_SE0" ]] \
    || die "seed: got stale=$S0 verified=$V0 fresh=$F0 verifications=$EV0 sessions=$SE0"
DB_SIZE_BEFORE=$(sql -c "select pg_size_pretty(pg_database_size(current_database()))")
log "seeded in ${SEED_SECONDS}s: $U0 users, $EV0 verifications, $SE0 sessions ($DB_SIZE_BEFORE)"

# ---------------------------------------------------------------- worker
# Start ~0.3 s after a multiple of 5 s: the first tick then comes ~4.7 s later,
# after start-up, and the start-up memory can be sampled before it.
python3 -c 'import time; t = time.time(); time.sleep((0.3 - t % 5) % 5)'
log "starting $WORKER_BIN (CLEANUP_SCHEDULE='$SCHEDULE', JOBS_QUEUE=$JOBS_QUEUE)"
(
    cd "$OUT"
    exec env -i PATH="$PATH" HOME="$HOME" \
        DATABASE_URL="$DB_URL" REDIS_URL="$REDIS_URL" JOBS_QUEUE="$JOBS_QUEUE" \
        JWT_SECRET="$JWT_SECRET" CLEANUP_SCHEDULE="$SCHEDULE" \
        LOG_FORMAT=json RUST_LOG='info,coffee_jobs=debug' \
        "$WORKER_BIN"
) >"$OUT/worker.log" 2>&1 &
WORKER_PID=$!
WORKER_START=$(date +%s.%N)

status_kb() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$WORKER_PID/status" 2>/dev/null; }
# log_lines MESSAGE: the worker's JSON log lines with this message.
log_lines() { grep -F "\"message\":\"$1\"" "$OUT/worker.log" 2>/dev/null || true; }
epoch() { date -d "$1" +%s.%N; }

# VmRSS every 20 ms ("epoch kB" lines) while the worker lives; no forks but sleep.
(
    while kill -0 "$WORKER_PID" 2>/dev/null; do
        while read -r key value _; do
            [[ "$key" == VmRSS: ]] && { echo "$EPOCHREALTIME $value"; break; }
        done <"/proc/$WORKER_PID/status" 2>/dev/null || true
        sleep 0.02
    done
) >"$OUT/rss.txt" &
RSS_PID=$!

for i in $(seq 1 100); do
    kill -0 "$WORKER_PID" 2>/dev/null || die "coffee-worker exited during start-up"
    [[ -n "$(log_lines 'coffee-worker running')" ]] && break
    (( i < 100 )) || die "coffee-worker not running after 10s"
    sleep 0.1
done
# Peak RSS of the start-up alone (sampled before the first tick, if it has not come yet).
sleep 1.5
START_HWM=""
[[ -z "$(log_lines 'cleanup tick')" ]] && START_HWM=$(status_kb VmHWM)

# Wait for the first run to finish, sampling progress once a second.
log "waiting for the first cleanup run (up to ${TIMEOUT}s)"
echo "epoch users" >"$OUT/progress.txt"
deadline=$(( $(date +%s) + TIMEOUT ))
while [[ -z "$(log_lines 'cleanup finished')" ]]; do
    kill -0 "$WORKER_PID" 2>/dev/null || die "coffee-worker exited"
    (( $(date +%s) < deadline )) || die "no \"cleanup finished\" after ${TIMEOUT}s"
    [[ -n "$(log_lines 'cleanup failed')" ]] && die "cleanup failed: $(log_lines 'cleanup failed')"
    echo "$(date +%s.%N) $(sql -c 'select count(*) from users')" >>"$OUT/progress.txt"
    sleep 1
done
PEAK_HWM=$(status_kb VmHWM)
FIRST=$(log_lines 'cleanup finished' | head -n1)
FIRST_TICK=$(log_lines 'cleanup tick' | head -n1)
[[ -n "$FIRST_TICK" ]] || die "no \"cleanup tick\" line (RUST_LOG must enable coffee_jobs=debug)"

# The next tick (5 s later) must find nothing left: idempotence, and the cost
# of an empty run.
log "waiting for the second cleanup run"
deadline=$(( $(date +%s) + 30 ))
while (( $(log_lines 'cleanup finished' | wc -l) < 2 )); do
    kill -0 "$WORKER_PID" 2>/dev/null || die "coffee-worker exited"
    (( $(date +%s) < deadline )) || die "no second \"cleanup finished\" within 30s"
    sleep 0.5
done
PEAK_HWM2=$(status_kb VmHWM)
RSS_END=$(status_kb VmRSS)
stop "$WORKER_PID"
WORKER_PID=""
wait "$RSS_PID" 2>/dev/null || true
SECOND=$(log_lines 'cleanup finished' | sed -n 2p)
SECOND_TICK=$(log_lines 'cleanup tick' | sed -n 2p)
SKIPPED=$(log_lines 'cleanup still running from the previous tick; skipping this one' | wc -l)

# ---------------------------------------------------------------- results
t_first_tick=$(epoch "$(jq -r .timestamp <<<"$FIRST_TICK")")
t_first_done=$(epoch "$(jq -r .timestamp <<<"$FIRST")")
t_second_tick=$(epoch "$(jq -r .timestamp <<<"$SECOND_TICK")")
t_second_done=$(epoch "$(jq -r .timestamp <<<"$SECOND")")
calc() { python3 -c "print(format($1, '$2'))"; }
PURGE_S=$(calc "$t_first_done - $t_first_tick" .2f)
EMPTY_MS=$(calc "($t_second_done - $t_second_tick) * 1000" .1f)
TICK_AFTER_START=$(calc "$t_first_tick - $WORKER_START" .2f)
report_counts() { jq -r '"\(.unverified_users) \(.expired_sessions) \(.expired_verifications) \(.relayed_outbox)"' <<<"$1"; }
read -r R_USERS R_SESSIONS R_VERIF R_OUTBOX < <(report_counts "$FIRST")
read -r R2_USERS R2_SESSIONS R2_VERIF R2_OUTBOX < <(report_counts "$SECOND")
USERS_PER_S=$(calc "$R_USERS / ($t_first_done - $t_first_tick)" .0f)
BATCHES=$(( R_USERS / 1000 + 1 ))
MS_PER_BATCH=$(calc "($t_first_done - $t_first_tick) * 1000 / $BATCHES" .0f)

# Progress seen by polling, for a rough cross-check of the log-based time.
POLL_NOTE=$(awk -v t0="$t_first_tick" 'NR > 1 && $1 >= t0 - 1 {
        printf "%s%d at %+.2f s", (n++ ? ", " : ""), $2, $1 - t0
    }' "$OUT/progress.txt")
# VmRSS samples: the last one before the first tick, the highest during the
# first run, and during the whole life of the worker.
read -r RSS_BEFORE RSS_RUN RSS_MAX RSS_N < <(awk -v a="$t_first_tick" -v b="$t_first_done" '
    { if ($1 < a) before = $2; else if ($1 <= b + 0.05 && $2 > run) run = $2
      if ($2 > max) max = $2; n++ }
    END { print before + 0, run + 0, max + 0, n + 0 }' "$OUT/rss.txt")

read -r U1 S1 V1 F1 EV1 SE1 < <(counts)
ORPHANS=$(sql -c "select (select count(*) from email_verifications e where not exists (select 1 from users u where u.id = e.user_id))
                       + (select count(*) from sessions s where not exists (select 1 from users u where u.id = s.user_id))")
LEFT_SESSIONS_OK=$(sql -c "select count(*) from sessions s join users u on u.id = s.user_id where u.is_verified")
LEFT_EV_OK=$(sql -c "select count(*) from email_verifications e join users u on u.id = e.user_id where u.email like 'fresh%'")
DB_SIZE_AFTER=$(sql -c "select pg_size_pretty(pg_database_size(current_database()))")

CHECKS=()
check() { # check DESCRIPTION ACTUAL EXPECTED
    if [[ "$2" == "$3" ]]; then CHECKS+=("- ok: $1 = $2"); else CHECKS+=("- **FAILED**: $1 = $2, expected $3"); FAILED=1; fi
}
FAILED=0
check 'users deleted by the first run (log)' "$R_USERS" "$STALE_USERS"
check 'sessions / verifications / outbox purged by the first run (log)' "$R_SESSIONS/$R_VERIF/$R_OUTBOX" "0/0/0"
check 'rows deleted by the second run (log)' "$R2_USERS/$R2_SESSIONS/$R2_VERIF/$R2_OUTBOX" "0/0/0/0"
check 'stale users left' "$S1" 0
check 'verified users left' "$V1" "$VERIFIED_USERS"
check 'fresh unverified users left' "$F1" "$FRESH_USERS"
check 'users left in total' "$U1" "$((VERIFIED_USERS + FRESH_USERS))"
check 'verification rows left (all of fresh users)' "$EV1/$LEFT_EV_OK" "$FRESH_USERS/$FRESH_USERS"
check 'sessions left (all of verified users)' "$SE1/$LEFT_SESSIONS_OK" "$VERIFIED_USERS/$VERIFIED_USERS"
check 'orphaned verification rows + sessions' "$ORPHANS" 0

# Worker log lines at WARN or ERROR (the start-up and shutdown are included).
grep -E '"level":"(WARN|ERROR)"' "$OUT/worker.log" >"$OUT/worker-warnings.log" || true
WARNINGS=$(wc -l <"$OUT/worker-warnings.log")
API_WARNINGS=$(grep -c . "$OUT/api.log" || true)
ELAPSED=$(( $(date +%s) - START_TIME ))
mb() { [[ -n "$1" ]] && calc "$1 / 1024" .1f || echo 'n/a'; }

cat <<EOF

## coffee-worker cleanup benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')

Machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg).
Commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$( [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no -- . ':!bench' 2>/dev/null)" ]] && echo ' (working tree modified)'), coffee-worker built $(date -u -r "$WORKER_BIN" '+%Y-%m-%d %H:%M UTC').
Database: $STALE_USERS stale + $VERIFIED_USERS verified + $FRESH_USERS fresh users, $EV0 verification rows, $SE0 sessions ($DB_SIZE_BEFORE before, $DB_SIZE_AFTER after; seeded in ${SEED_SECONDS}s). Script time: ${ELAPSED}s.

| Measure | Value |
|---|---:|
| First run: "cleanup tick" → "cleanup finished" | ${PURGE_S} s |
| Stale users deleted (+ their ${STALE_USERS} sessions and verification rows by cascade) | $R_USERS |
| Users deleted per second | $USERS_PER_S |
| Per batch of 1000 users ($BATCHES DELETE statements) | ${MS_PER_BATCH} ms |
| Second run (nothing to delete), tick → finished | ${EMPTY_MS} ms |
| Worker RSS just before the first tick → highest during the first run (VmRSS every 20 ms) | $(mb "$RSS_BEFORE") → $(mb "$RSS_RUN") MiB |
| Worker peak RSS (VmHWM) after start-up, before the first tick | $(mb "$START_HWM") MiB |
| Worker peak RSS (VmHWM) after the first run / after the second run | $(mb "$PEAK_HWM") / $(mb "$PEAK_HWM2") MiB |
| Worker RSS at the end | $(mb "$RSS_END") MiB |

First tick ${TICK_AFTER_START} s after the worker was started. Users left, polled once a second (time relative to the first tick): $POLL_NOTE. VmRSS: $RSS_N samples, highest $(mb "$RSS_MAX") MiB.

Checks:
$(printf '%s\n' "${CHECKS[@]}")
- ticks skipped because the first run was still going (expected when it takes over 5 s): $SKIPPED
- worker log lines at WARN/ERROR: $WARNINGS$( (( WARNINGS > 0 )) && echo " (see $OUT/worker-warnings.log)"); coffee-api log lines (RUST_LOG=warn): $API_WARNINGS

Logs and progress samples: $OUT
EOF
(( FAILED == 0 )) || die "some checks failed"
