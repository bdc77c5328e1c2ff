#!/usr/bin/env bash
# Soak: a mixed load through nginx on two replicas for $SECONDS_SOAK s at
# $CONNECTIONS connections (menu reads, logins, checkouts, sign-ups; see
# bins/api/examples/mixed_load.rs), on the local cluster (scripts/cluster.sh,
# release build). Reports requests, 5xx and transport errors (must be 0),
# p50/p99, and the RSS of every process at the start and the end (should be
# flat). A manual measurement, never run by CI. See bench/README.md ("Soak").
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/coffee-target}
export PROFILE=release
export CLUSTER_DIR=${CLUSTER_DIR:-$(mktemp -d /tmp/coffee-soak.XXXXXX)}
export CLUSTER_DB=${CLUSTER_DB:-coffee_soak}
export PORT_BASE=${PORT_BASE:-18700}
export CLUSTER_ENV=${CLUSTER_ENV:-"AUTH_RATE_LIMIT=off DATABASE_MAX_CONNECTIONS=16"}
export APIS=${APIS:-2} WORKERS=${WORKERS:-1}
SECONDS_SOAK=${SECONDS_SOAK:-60}
CONNECTIONS=${CONNECTIONS:-256}

if [[ "${BUILD:-0}" == 1 ]]; then
    cargo build --release --locked -p coffee-api -p coffee-worker --bins
    cargo build --release --locked -p coffee-testkit --example smtp_sink
    cargo build --release --locked -p coffee-api --example mixed_load
fi
LOAD="$CARGO_TARGET_DIR/release/examples/mixed_load"
[[ -x "$LOAD" ]] || { echo "soak: missing $LOAD (run with BUILD=1)" >&2; exit 1; }

rss() { # prints "name RSS-MiB" for every cluster process
    local file pid
    for file in "$CLUSTER_DIR"/pids/*; do
        pid=$(cat "$file")
        [[ -r "/proc/$pid/status" ]] || continue
        echo "${file##*/} $(awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status")"
    done
}

scripts/cluster.sh start
trap 'scripts/cluster.sh stop' EXIT
eval "$(scripts/cluster.sh env)"
sleep 2
rss >"$CLUSTER_DIR/rss-start.txt"
"$LOAD" "$CLUSTER_URL" "$ADMIN_EMAIL" "$ADMIN_PASSWORD" "$SECONDS_SOAK" "$CONNECTIONS" >"$CLUSTER_DIR/soak.json"
rss >"$CLUSTER_DIR/rss-end.txt"
sleep 10
rss >"$CLUSTER_DIR/rss-after.txt"

echo "== soak: $SECONDS_SOAK s, $CONNECTIONS connections, $APIS replicas behind nginx, $WORKERS worker(s)"
jq -c '{requests, rps, failures, counts, p50_ms, p99_ms, max_ms}' "$CLUSTER_DIR/soak.json"
echo "process | RSS start MiB | RSS end MiB | 10 s after MiB"
join <(sort "$CLUSTER_DIR/rss-start.txt") <(sort "$CLUSTER_DIR/rss-end.txt") |
    join - <(sort "$CLUSTER_DIR/rss-after.txt") | awk '{printf "%s | %s | %s | %s\n", $1, $2, $3, $4}'
echo "state and logs: $CLUSTER_DIR"
