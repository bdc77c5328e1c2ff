#!/usr/bin/env bash
# Fault tests on the local cluster (scripts/cluster.sh: nginx, two coffee-api
# replicas, one coffee-worker, a private Redis, an SMTP sink, PostgreSQL),
# under a steady mixed load (bins/api/examples/mixed_load.rs: menu reads,
# logins, checkouts with Idempotency-Key, sign-ups). Run by .ci/run.
#
#   1. rolling restart: SIGTERM replica 1, start it again, then replica 2;
#   2. Redis stopped for 10 s, then started again;
#   3. PostgreSQL away for 10 s (a TCP proxy between it and every process
#      drops all connections and refuses new ones; the shared server keeps
#      running), then back: 503 `service_unavailable` meanwhile, and every
#      process recovers by itself (same PIDs, ready again);
#   4. the worker killed (SIGKILL, no chance to finish its jobs), and a new
#      one started 10 s later.
#
# Each must end with: no 5xx (but 3.'s 503s) and no transport error seen by
# the clients; exactly the orders the clients were told about in the
# database, none doubled (the load retries an unanswered order with its
# Idempotency-Key, as a client should); every mail owed (one verification per
# account signed up, one admin mail per order) delivered exactly once — but
# in 4., where delivery is at least once: a mail the SMTP server took just
# before the kill, whose delivery the dead worker could not record, is sent
# again, so up to WORKER_CONCURRENCY (8 by default) mails may arrive twice.
# Bounded: about 5 minutes in all.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/coffee-target}
export CLUSTER_DIR=${CLUSTER_DIR:-$(mktemp -d /tmp/coffee-faults.XXXXXX)}
export CLUSTER_DB=${CLUSTER_DB:-coffee_faults}
export PORT_BASE=${PORT_BASE:-18500}
# The worker runs the WORKER_CONCURRENCY that 4. allows repeated mails for
# (cluster.sh starts every process with `env -i` and only CLUSTER_ENV added).
WORKER_CONCURRENCY=${WORKER_CONCURRENCY:-8}
[[ "$WORKER_CONCURRENCY" =~ ^[1-9][0-9]*$ ]] ||
    { echo "fault tests: WORKER_CONCURRENCY must be a positive integer" >&2; exit 2; }
export CLUSTER_ENV="AUTH_RATE_LIMIT=off SHUTDOWN_DRAIN=2s WORKER_CONCURRENCY=$WORKER_CONCURRENCY"
# PostgreSQL: the server TEST_DATABASE_URL names (as .ci/run sets it), unless
# PG is given; without either, cluster.sh's default. cluster.sh appends its own
# database names to PG and its database proxy needs host:port, so PG is
# scheme://[user[:password]@]host:port (the URL's database and query dropped).
if [[ -z "${PG:-}" && -n "${TEST_DATABASE_URL:-}" ]]; then
    pg_server=${TEST_DATABASE_URL#*://}
    pg_server=${pg_server%%/*}
    pg_server=${pg_server%%\?*}
    pg_host=${pg_server##*@}
    pg_user=${pg_server%"$pg_host"} # "user[:password]@" or nothing
    pg_host=${pg_host:-localhost}
    # No port (a bare host or [IPv6]): PostgreSQL's default.
    [[ "$pg_host" == *:* && "$pg_host" != \[*\] ]] || pg_host+=":5432"
    export PG="${TEST_DATABASE_URL%%://*}://$pg_user$pg_host"
fi
export APIS=2 WORKERS=1 DB_PROXY=1
LOAD_SECONDS=${LOAD_SECONDS:-30}
CONNECTIONS=${CONNECTIONS:-16}
LOAD="$CARGO_TARGET_DIR/debug/examples/mixed_load"

FAILURE=""
fail() { FAILURE="$*"; echo "FAULT TEST FAILED: $*" >&2; exit 1; }
cleanup() {
    local status=$?
    scripts/cluster.sh stop || true
    if (( status != 0 )); then
        echo "--- logs in $CLUSTER_DIR/logs ---" >&2
        for f in "$CLUSTER_DIR"/logs/*.log; do
            [[ -e "$f" ]] || { echo "(no logs: the cluster did not get that far)" >&2; break; }
            echo "== $f" >&2
            # Warnings and errors first (a 5xx is logged at WARN or ERROR), then the tail.
            grep -E '"level":"(WARN|ERROR)"|\[(error|crit|alert|emerg)\]' "$f" | tail -n 20 >&2 || true
            echo "-- last lines" >&2
            tail -n 8 "$f" >&2 || true
        done
        # Repeated last: CI keeps only the end of a long output.
        echo "FAULT TEST FAILED (exit $status): ${FAILURE:-see above}" >&2
    fi
}

cargo build -q --locked -p coffee-api -p coffee-worker --bins
cargo build -q --locked -p coffee-testkit --example smtp_sink --example tcp_proxy
cargo build -q --locked -p coffee-api --example mixed_load
# Not over a cluster already running there: cleanup would stop it.
if [[ -n "$(ls -A "$CLUSTER_DIR/pids" 2>/dev/null)" ]]; then
    fail "a cluster runs in $CLUSTER_DIR (stop it first)"
fi
# Set before `start`: a start that fails half way leaves processes to stop
# (cluster.sh stop skips whatever never started) and logs to show.
trap cleanup EXIT
scripts/cluster.sh start
eval "$(scripts/cluster.sh env)"
: "${CLUSTER_URL:?}" "${DATABASE_URL:?}" "${MAIL_DIR:?}" "${ADMIN_EMAIL:?}" "${ADMIN_PASSWORD:?}"

ORDERS_SEEN=0

run_load() { # output file [UNAVAILABLE_OK: 1 counts 503 service_unavailable apart]
    UNAVAILABLE_OK=${2:-0} "$LOAD" "$CLUSTER_URL" "$ADMIN_EMAIL" "$ADMIN_PASSWORD" "$LOAD_SECONDS" "$CONNECTIONS" >"$1"
}

sql() { psql "$DATABASE_URL" -AtqX -c "$1"; }

# Distinct mails in the sink: a verification per address, an admin mail per order.
distinct_mails() {
    python3 - "$MAIL_DIR" <<'PY'
import email, email.policy, pathlib, sys
seen = set()
for path in pathlib.Path(sys.argv[1]).glob("*.eml"):
    mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    seen.add((str(mail["To"]), str(mail["Subject"])))
print(len(seen))
PY
}

check() { # name report [mails that may arrive twice]
    local name=$1 report=$2 twice_ok=${3:-0} failures orders signups db_orders missing doubled mails owed distinct
    failures=$(jq -r .failures "$report")
    echo "$name: $(jq -c '{requests, rps, counts, unavailable, p99_ms, max_ms}' "$report")"
    (( failures == 0 )) || fail "$name: $failures requests failed: $(jq -c .failure_samples "$report")"
    orders=$(jq '.orders | length' "$report")
    signups=$(jq '.signups | length' "$report")
    (( orders > 0 && signups > 0 )) || fail "$name: the load placed no order or sign-up"
    ORDERS_SEEN=$((ORDERS_SEEN + orders))
    db_orders=$(sql "select count(*) from orders")
    (( db_orders == ORDERS_SEEN )) ||
        fail "$name: $db_orders orders in the database, clients were told of $ORDERS_SEEN ($(jq -c .counts.order "$report"))"
    jq -r '.orders[]' "$report" | sort >"$CLUSTER_DIR/told.txt"
    sql "select id from orders" | sort >"$CLUSTER_DIR/stored.txt"
    # Captured, not piped into `grep -q`: an early match could kill the
    # writer with SIGPIPE, and the pipeline's 141 would skip the `fail`.
    missing=$(comm -23 "$CLUSTER_DIR/told.txt" "$CLUSTER_DIR/stored.txt")
    [[ -z "$missing" ]] || fail "$name: orders answered 201 but missing from the database"
    doubled=$(jq -r '.orders[]' "$report" | sort | uniq -d | wc -l)
    (( doubled == 0 )) || fail "$name: $doubled orders reported twice"
    jq -r '.signups[]' "$report" | sort >"$CLUSTER_DIR/told.txt"
    sql "select email from users" | sort >"$CLUSTER_DIR/stored.txt"
    missing=$(comm -23 "$CLUSTER_DIR/told.txt" "$CLUSTER_DIR/stored.txt")
    [[ -z "$missing" ]] || fail "$name: sign-ups answered 201 but missing from the database"
    # Owed by what the database holds: an account whose 201 was lost in an
    # outage still gets its mail. The bootstrap admin is created verified.
    owed=$(sql "select (select count(*) from orders) + (select count(*) from users) - 1")
    # Every mail owed arrives, and none twice (wait for the outbox, Redis and the worker).
    for _ in $(seq 1 120); do
        mails=$(find "$MAIL_DIR" -name '*.eml' | wc -l)
        (( mails >= owed )) && (( $(distinct_mails) >= owed )) && break
        sleep 0.5
    done
    sleep 3
    mails=$(find "$MAIL_DIR" -name '*.eml' | wc -l)
    distinct=$(distinct_mails)
    (( distinct == owed )) || fail "$name: $distinct distinct mails delivered, $owed owed"
    (( mails - distinct <= twice_ok )) || fail "$name: $((mails - distinct)) mails delivered twice (at most $twice_ok may be)"
    echo "$name: passed ($orders orders, $signups sign-ups, $mails mails in all, $((mails - distinct)) of them twice)"
}

# The first admin's verification is not mailed: it is created verified.
echo "== 1. rolling restart under load"
run_load "$CLUSTER_DIR/rolling.json" &
load=$!
sleep 6
scripts/cluster.sh restart-api 1
sleep 4
scripts/cluster.sh restart-api 2
wait "$load" || fail "the load generator failed"
check "rolling restart" "$CLUSTER_DIR/rolling.json"

# A dependency away for 10 s in the middle of a load run (take-away and
# bring-back are scripts/cluster.sh commands, e.g. "kill-worker 1").
away_under_load() { # report take-away bring-back [UNAVAILABLE_OK]
    local load take bring
    read -ra take <<<"$2"
    read -ra bring <<<"$3"
    run_load "$1" "${4:-0}" &
    load=$!
    sleep 5
    scripts/cluster.sh "${take[@]}"
    sleep 10
    scripts/cluster.sh "${bring[@]}"
    wait "$load" || fail "the load generator failed"
}

echo "== 2. Redis stopped for 10 s under load"
away_under_load "$CLUSTER_DIR/redis.json" stop-redis start-redis
check "Redis outage" "$CLUSTER_DIR/redis.json"

echo "== 3. PostgreSQL away for 10 s under load"
pids_before=$(cat "$CLUSTER_DIR"/pids/api-* "$CLUSTER_DIR"/pids/worker-*)
away_under_load "$CLUSTER_DIR/postgres.json" cut-db restore-db 1
(( $(jq .unavailable "$CLUSTER_DIR/postgres.json") > 0 )) ||
    fail "PostgreSQL outage: no 503 service_unavailable while the database was away"
[[ "$(cat "$CLUSTER_DIR"/pids/api-* "$CLUSTER_DIR"/pids/worker-*)" == "$pids_before" ]] ||
    fail "PostgreSQL outage: a process was restarted"
statuses=$(scripts/cluster.sh status)
if grep -q "NOT running" <<<"$statuses"; then
    fail "PostgreSQL outage: a process died: $(tr "\n" " " <<<"$statuses")"
fi
for n in $(seq 1 "$APIS"); do
    curl -fsS -o /dev/null "http://127.0.0.1:$((PORT_BASE + n))/health/ready" ||
        fail "PostgreSQL outage: replica $n is not ready again"
done
check "PostgreSQL outage" "$CLUSTER_DIR/postgres.json"

# Last: its duplicates would count against the checks after it.
echo "== 4. the worker killed under load, a new one started 10 s later"
away_under_load "$CLUSTER_DIR/worker.json" "kill-worker 1" "start-worker 1"
# At most one repeat per job a worker runs at once (WORKER_CONCURRENCY, 8 by default).
check "worker killed" "$CLUSTER_DIR/worker.json" "$WORKER_CONCURRENCY"
echo "fault tests passed"
