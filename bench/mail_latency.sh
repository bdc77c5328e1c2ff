#!/usr/bin/env bash
# Signup-to-mailbox latency through the outbox, Redis and coffee-worker.
# See bench/README.md.
#
# Recreates the PostgreSQL database $BENCH_DB, starts an SMTP sink
# (bench/mail_latency.py sink), the release coffee-api (127.0.0.1:$PORT) and
# coffee-worker on one fresh Redis queue, performs $COUNT sign-ups and times
# each from the request to the mail's arrival at the sink. Then it keeps
# listening $GRACE s for duplicates, restarts the worker (RESTART=1) and
# listens $RESTART_WAIT s more: a mail that arrives then was sent twice.
# Every process is stopped on exit. Takes ~35 seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR="$ROOT/bench"

CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/coffee-target}
PORT=${PORT:-18091}
SMTP_PORT=${SMTP_PORT:-18025}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
BENCH_DB=${BENCH_DB:-coffee_bench_mail}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
JOBS_QUEUE=${JOBS_QUEUE:-coffee-bench-mail-$(date +%s)-$$}
COUNT=${COUNT:-200}
CONCURRENCY=${CONCURRENCY:-1}
RATE=${RATE:-0}                 # sign-ups/s over all connections; 0 = as fast as they are answered
WAIT=${WAIT:-60}                # seconds to wait for missing mails after the last sign-up
GRACE=${GRACE:-5}               # seconds to keep listening for duplicates
RESTART=${RESTART:-1}           # then restart the worker and listen RESTART_WAIT s more
RESTART_WAIT=${RESTART_WAIT:-12} # > 5 missed 1 s heartbeats, after which apalis re-enqueues a dead worker's jobs
JWT_SECRET=${JWT_SECRET:-bench-jwt-secret-0123456789abcdef0123456789}
OUT=${OUT:-$(mktemp -d /tmp/coffee-bench-mail.XXXXXX)}
mkdir -p "$OUT"

BASE="http://127.0.0.1:$PORT"
DB_URL="$PG/$BENCH_DB"
API_BIN=${API_BIN:-$CARGO_TARGET_DIR/release/coffee-api}
WORKER_BIN=${WORKER_BIN:-$CARGO_TARGET_DIR/release/coffee-worker}

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

# ---------------------------------------------------------------- preflight
for tool in psql curl jq redis-cli python3; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install -y postgresql-client curl jq redis-tools python3)"
done
python3 -c 'import aiosmtpd' 2>/dev/null || die "the Python package aiosmtpd is missing (pip install aiosmtpd)"
if [[ "${BUILD:-0}" == 1 ]]; then
    log "building release binaries into $CARGO_TARGET_DIR"
    (cd "$ROOT" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR" cargo build --release -p coffee-api -p coffee-worker)
fi
for bin in "$API_BIN" "$WORKER_BIN"; do
    [[ -x "$bin" ]] || die "$bin is missing: run with BUILD=1, or: CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo build --release -p coffee-api -p coffee-worker"
done
[[ "$JOBS_QUEUE" =~ ^[A-Za-z0-9._:-]+$ ]] || die "JOBS_QUEUE may only contain letters, digits and . _ : -"
for p in "$PORT" "$SMTP_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        die "something already listens on 127.0.0.1:$p (set PORT=... / SMTP_PORT=...)"
    fi
done
psql "$PG/postgres" -Atqc 'select 1' >/dev/null || die "PostgreSQL is not reachable at $PG"
[[ "$(redis-cli -u "$REDIS_URL" ping 2>/dev/null)" == PONG ]] || die "Redis is not reachable at $REDIS_URL"
[[ -z "$(redis-cli -u "$REDIS_URL" --scan --pattern "$JOBS_QUEUE:*" | head -n1)" ]] \
    || die "Redis already holds keys of queue $JOBS_QUEUE (set JOBS_QUEUE=...)"

# ---------------------------------------------------------------- cleanup
API_PID=""
WORKER_PID=""
SINK_PID=""
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
    stop "$SINK_PID"
    redis-cli -u "$REDIS_URL" --scan --pattern "$JOBS_QUEUE:*" 2>/dev/null \
        | while read -r key; do redis-cli -u "$REDIS_URL" del "$key" >/dev/null; done || true
    if (( status != 0 )); then
        log "failed (exit $status); logs in $OUT"
        for f in sink.log api.log worker.log worker2.log; do
            [[ -f "$OUT/$f" ]] && { echo "--- $f" >&2; tail -n 20 "$OUT/$f" >&2; }
        done
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "output and logs: $OUT"
START_TIME=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- database + processes
log "recreating database $BENCH_DB"
psql "$PG/postgres" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
DROP DATABASE IF EXISTS "$BENCH_DB" WITH (FORCE);
CREATE DATABASE "$BENCH_DB";
SQL

log "starting the SMTP sink on 127.0.0.1:$SMTP_PORT"
python3 "$BENCH_DIR/mail_latency.py" sink --port "$SMTP_PORT" --arrivals "$OUT/arrivals.tsv" >"$OUT/sink.log" 2>&1 &
SINK_PID=$!
for i in $(seq 1 100); do
    grep -q 'sink ready' "$OUT/sink.log" 2>/dev/null && break
    kill -0 "$SINK_PID" 2>/dev/null || die "the SMTP sink exited during start-up"
    (( i < 100 )) || die "the SMTP sink is not ready after 10s"
    sleep 0.1
done

# env -i: no stray variables from the caller; cwd $OUT: no .env is picked up.
log "starting $API_BIN on $BASE (JOBS_QUEUE=$JOBS_QUEUE)"
(
    cd "$OUT"
    exec env -i PATH="$PATH" HOME="$HOME" \
        PORT="$PORT" HOST=127.0.0.1 DATABASE_URL="$DB_URL" \
        REDIS_URL="$REDIS_URL" JOBS_QUEUE="$JOBS_QUEUE" \
        JWT_SECRET="$JWT_SECRET" AUTH_RATE_LIMIT=off RUST_LOG=warn \
        "$API_BIN"
) >"$OUT/api.log" 2>&1 &
API_PID=$!
for i in $(seq 1 300); do
    curl -fsS -o /dev/null "$BASE/health/ready" 2>/dev/null && break
    kill -0 "$API_PID" 2>/dev/null || die "coffee-api exited during start-up"
    (( i < 300 )) || die "coffee-api not ready after 30s"
    sleep 0.1
done

[[ "$(psql "$DB_URL" -AtqX -c "select to_regclass('public.outbox') is not null")" == t ]] \
    || die "coffee-api did not create the schema in $BENCH_DB (another server on port $PORT?)"

# start_worker LOG: coffee-worker with JSON logs at info (WORKER_PID).
start_worker() {
    (
        cd "$OUT"
        exec env -i PATH="$PATH" HOME="$HOME" \
            DATABASE_URL="$DB_URL" REDIS_URL="$REDIS_URL" JOBS_QUEUE="$JOBS_QUEUE" \
            SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" JWT_SECRET="$JWT_SECRET" \
            LOG_FORMAT=json RUST_LOG=info \
            "$WORKER_BIN"
    ) >"$OUT/$1" 2>&1 &
    WORKER_PID=$!
    for i in $(seq 1 100); do
        grep -qF '"message":"coffee-worker running"' "$OUT/$1" 2>/dev/null && break
        kill -0 "$WORKER_PID" 2>/dev/null || die "coffee-worker exited during start-up"
        (( i < 100 )) || die "coffee-worker not running after 10s"
        sleep 0.1
    done
}
# The worker starts after the API has migrated the database (it touches no schema).
log "starting $WORKER_BIN (SMTP_URL=smtp://127.0.0.1:$SMTP_PORT)"
start_worker worker.log
sleep 2   # let the consumer register with Redis and do its first poll

# redis_keys: "name size" per key of this queue (the worker part of per-worker keys as *).
redis_keys() {
    local key name type size
    redis-cli -u "$REDIS_URL" --scan --pattern "$JOBS_QUEUE:*" | while read -r key; do
        name=${key#"$JOBS_QUEUE":}
        [[ "$name" == *:* ]] && name="${name%%:*}:*"
        type=$(redis-cli -u "$REDIS_URL" type "$key")
        case "$type" in
            zset) size=$(redis-cli -u "$REDIS_URL" zcard "$key") ;;
            set) size=$(redis-cli -u "$REDIS_URL" scard "$key") ;;
            list) size=$(redis-cli -u "$REDIS_URL" llen "$key") ;;
            hash) size=$(redis-cli -u "$REDIS_URL" hlen "$key") ;;
            *) size=1 ;;
        esac
        echo "$name $size"
    done | awk '{ n[$1] += $2 } END { for (k in n) printf "%s %d\n", k, n[k] }' | sort
}
redis_note() { redis_keys | awk '{ printf "%s`%s` %d", (i++ ? ", " : ""), $1, $2 }'; }

# ---------------------------------------------------------------- measurement
log "$COUNT sign-ups (concurrency $CONCURRENCY, rate ${RATE}/s), then waiting for the mails"
python3 "$BENCH_DIR/mail_latency.py" signup --base "$BASE" --count "$COUNT" --concurrency "$CONCURRENCY" \
    --rate "$RATE" --wait "$WAIT" --sent "$OUT/sent.tsv" --arrivals "$OUT/arrivals.tsv"
log "listening ${GRACE}s more for duplicates"
sleep "$GRACE"
REDIS_BEFORE=$(redis_note)
RSS_WORKER=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$WORKER_PID/status" 2>/dev/null || true)
RESTART_AT=""
REDIS_AFTER=""
if [[ "$RESTART" == 1 ]]; then
    log "restarting the worker, then listening ${RESTART_WAIT}s more"
    RESTART_AT=$(date +%s.%N)
    stop "$WORKER_PID"
    WORKER_PID=""
    start_worker worker2.log
    sleep "$RESTART_WAIT"
    REDIS_AFTER=$(redis_note)
fi
stop "$WORKER_PID"
WORKER_PID=""
stop "$API_PID"
API_PID=""
stop "$SINK_PID"
SINK_PID=""

set +e
python3 "$BENCH_DIR/mail_latency.py" report --sent "$OUT/sent.tsv" --arrivals "$OUT/arrivals.tsv" \
    --db-url "$DB_URL" ${RESTART_AT:+--restart-at "$RESTART_AT"} --concurrency "$CONCURRENCY" --rate "$RATE" \
    --csv "$OUT/mail_latency.csv" >"$OUT/result.md"
PY_STATUS=$?
set -e
[[ -s "$OUT/result.md" ]] || die "mail_latency.py report printed nothing (exit $PY_STATUS)"

cat "$OUT"/worker*.log | grep -E '"level":"(WARN|ERROR)"' >"$OUT/worker-warnings.log" || true
WORKER_WARNINGS=$(wc -l <"$OUT/worker-warnings.log")
API_LINES=$(grep -c . "$OUT/api.log" || true)
ELAPSED=$(( $(date +%s) - START_TIME ))

cat <<EOF

## Signup → mail latency — $(date -u '+%Y-%m-%d %H:%M UTC')

Machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg).
Commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$( [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no -- . ':!bench' 2>/dev/null)" ]] && echo ' (working tree modified)'), coffee-api built $(date -u -r "$API_BIN" '+%Y-%m-%d %H:%M UTC'), coffee-worker built $(date -u -r "$WORKER_BIN" '+%Y-%m-%d %H:%M UTC'). Script time: ${ELAPSED}s.

$(cat "$OUT/result.md")
- Redis keys of the queue ${GRACE} s after the last mail: ${REDIS_BEFORE:-none}$( [[ -n "$RESTART_AT" ]] && echo "; ${RESTART_WAIT} s after the worker restart: ${REDIS_AFTER:-none}")
- worker log lines at WARN/ERROR: $WORKER_WARNINGS$( (( WORKER_WARNINGS > 0 )) && echo " (see $OUT/worker-warnings.log)"); coffee-api log lines (RUST_LOG=warn): $API_LINES; worker peak RSS $( [[ -n "$RSS_WORKER" ]] && echo "$(( RSS_WORKER / 1024 )) MiB" || echo n/a)

Per-address times: $OUT/mail_latency.csv; logs in $OUT
EOF
(( PY_STATUS == 0 )) || die "missing, duplicate or unexpected mails, or failed sign-ups (exit $PY_STATUS)"
