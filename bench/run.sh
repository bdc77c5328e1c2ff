#!/usr/bin/env bash
# HTTP benchmark of coffee-api with wrk. See bench/README.md.
#
# Recreates the PostgreSQL database $BENCH_DB, starts the release coffee-api
# binary on 127.0.0.1:$PORT, seeds $BENCH_USERS verified users, runs wrk
# against a few endpoints and prints a markdown table. The server is stopped
# on exit. Every wrk run is bounded by -d; the whole script takes ~2 minutes
# with the default DURATION=15s.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR="$ROOT/bench"
export BENCH_LUA_DIR="$BENCH_DIR/lua"

CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/coffee-target}
PORT=${PORT:-18090}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
BENCH_DB=${BENCH_DB:-coffee_bench}
DURATION=${DURATION:-15}         # seconds per measured wrk run
LIGHT_DURATION=${LIGHT_DURATION:-10}
ARGON2_SECONDS=${ARGON2_SECONDS:-3}
export BENCH_USERS=${BENCH_USERS:-1000}
ADMIN_EMAIL=${ADMIN_EMAIL:-admin@bench.example.com}
ADMIN_PASSWORD=${ADMIN_PASSWORD:-bench-admin-password-1234}
JWT_SECRET=${JWT_SECRET:-bench-jwt-secret-0123456789abcdef0123456789}
OUT=${OUT:-$(mktemp -d /tmp/coffee-bench.XXXXXX)}
mkdir -p "$OUT"

BASE="http://127.0.0.1:$PORT"
API_BIN="$CARGO_TARGET_DIR/release/coffee-api"
ARGON2_BIN="$CARGO_TARGET_DIR/release/examples/argon2_rate"

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

# ---------------------------------------------------------------- preflight
for tool in wrk psql curl jq; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install -y wrk postgresql-client curl jq)"
done
# shellcheck disable=SC1003 # a single backslash, quoted
case "$ADMIN_PASSWORD" in *'"'* | *'\'*) die "ADMIN_PASSWORD must not contain \" or \\ (it is put into JSON by login.lua)" ;; esac
(( ${#JWT_SECRET} >= 32 )) || die "JWT_SECRET must be at least 32 bytes"

if [[ "${BUILD:-0}" == 1 ]]; then
    log "building release binaries into $CARGO_TARGET_DIR"
    (cd "$ROOT" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR" cargo build --release -p coffee-api)
    (cd "$ROOT" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR" cargo build --release -p coffee-crypto --example argon2_rate)
fi
[[ -x "$API_BIN" ]] || die "$API_BIN is missing: run with BUILD=1, or: CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo build --release -p coffee-api"
[[ -x "$ARGON2_BIN" ]] || die "$ARGON2_BIN is missing: run with BUILD=1, or: CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo build --release -p coffee-crypto --example argon2_rate"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "something already listens on 127.0.0.1:$PORT (set PORT=...)"
fi
psql "$PG/postgres" -Atqc 'select 1' >/dev/null || die "PostgreSQL is not reachable at $PG"

# ---------------------------------------------------------------- cleanup
SERVER_PID=""
BG_PIDS=()
cleanup() {
    local status=$?
    for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if (( status != 0 )); then
        log "failed (exit $status); logs in $OUT"
        [[ -f "$OUT/server.log" ]] && tail -n 20 "$OUT/server.log" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "output and logs: $OUT"
START_TIME=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- database + server
log "recreating database $BENCH_DB"
psql "$PG/postgres" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
DROP DATABASE IF EXISTS "$BENCH_DB" WITH (FORCE);
CREATE DATABASE "$BENCH_DB";
SQL

log "starting $API_BIN on $BASE"
# env -i: no stray REDIS_URL/SMTP_URL etc. from the caller; cwd $OUT: no .env is picked up.
(
    cd "$OUT"
    exec env -i PATH="$PATH" HOME="$HOME" \
        PORT="$PORT" HOST=127.0.0.1 \
        DATABASE_URL="$PG/$BENCH_DB" \
        JWT_SECRET="$JWT_SECRET" \
        ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
        ACCESS_TOKEN_TTL=1h \
        RUST_LOG=warn \
        "$API_BIN"
) >"$OUT/server.log" 2>&1 &
SERVER_PID=$!

for i in $(seq 1 300); do
    curl -fsS -o /dev/null "$BASE/health/ready" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "coffee-api exited during start-up"
    (( i < 300 )) || die "coffee-api not ready after 30s"
    sleep 0.1
done

# ---------------------------------------------------------------- seed
# The users get the admin's password hash (Argon2id, OWASP parameters, made by
# the server at start-up), so they log in with ADMIN_PASSWORD and every login
# costs a real verification.
log "seeding $BENCH_USERS verified users"
psql "$PG/$BENCH_DB" -qX -v ON_ERROR_STOP=1 -v admin="$ADMIN_EMAIL" -v n="$BENCH_USERS" -f "$BENCH_DIR/sql/seed_users.sql" >/dev/null
SEEDED=$(psql "$PG/$BENCH_DB" -AtqX -c "select count(*) from users where email like 'user%@bench.example.com'")
[[ "$SEEDED" == "$BENCH_USERS" ]] || die "seeded $SEEDED users, expected $BENCH_USERS"

login() {
    local body code
    body=$(jq -cn --arg e "$1" --arg p "$2" '{email: $e, password: $p}')
    code=$(curl -sS -o "$OUT/login.json" -w '%{http_code}' -H 'Content-Type: application/json' -d "$body" "$BASE/auth/login")
    [[ "$code" == 200 ]] || die "login as $1 answered $code: $(cat "$OUT/login.json")"
    jq -er .access_token "$OUT/login.json"
}
ADMIN_TOKEN=$(login "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
USER_TOKEN=$(login user0001@bench.example.com "$ADMIN_PASSWORD")

# Sanity checks with curl, so a wrong token or query fails here, not as
# thousands of non-2xx responses.
check() {
    local code
    code=$(curl -sS -o "$OUT/check.json" -w '%{http_code}' -H "Authorization: Bearer $1" "$BASE$2")
    [[ "$code" == 200 ]] || die "GET $2 answered $code: $(cat "$OUT/check.json")"
}
check "$USER_TOKEN" /me
check "$ADMIN_TOKEN" '/users?page_size=20'
PAGE_ITEMS=$(jq '.items | length' "$OUT/check.json")
PAGE_TOTAL=$(jq '.total' "$OUT/check.json")
(( PAGE_ITEMS == 20 )) || die "GET /users?page_size=20 returned $PAGE_ITEMS items"

# ---------------------------------------------------------------- wrk runs
# start_wrk NAME SCRIPT URL WRK-ARGS...: runs wrk in the background (pid in
# WRK_PID), its report going to $OUT/NAME.txt; finish_wrk NAME waits for it and
# extracts the RESULT line (see lua/report.lua) into $OUT/NAME.result.
start_wrk() {
    local name=$1 script=$2 url=$3
    shift 3
    echo "$* $url" >"$OUT/$name.args"
    BENCH_NAME=$name wrk --latency "$@" -s "$BENCH_LUA_DIR/$script" "$url" >"$OUT/$name.txt" 2>&1 &
    WRK_PID=$!
    BG_PIDS+=("$WRK_PID")
}
finish_wrk() {
    local name=$1 pid=${BG_PIDS[-1]}
    wait "$pid" || die "wrk $name failed: $(cat "$OUT/$name.txt")"
    unset 'BG_PIDS[-1]'
    grep '^RESULT ' "$OUT/$name.txt" >"$OUT/$name.result" || die "wrk $name printed no RESULT line"
}
run_wrk() { start_wrk "$@"; finish_wrk "$1"; }
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$OUT/$1.result"; }

export BENCH_PASSWORD="$ADMIN_PASSWORD"
D="${DURATION}s"
LOGIN_ARGS=(-t1 -c8 --timeout 10s)   # logins queue on 2 hasher permits: keep the queue short

log "warm-up: GET /me 3s"
BENCH_TOKEN=$USER_TOKEN run_wrk warmup get_auth.lua "$BASE/me" -t2 -c32 -d3s

log "1/5 GET /me (-t2 -c32 -d$D)"
BENCH_TOKEN=$USER_TOKEN run_wrk me get_auth.lua "$BASE/me" -t2 -c32 -d"$D"

log "2/5 GET /users?page_size=20 as admin (-t2 -c32 -d$D)"
BENCH_TOKEN=$ADMIN_TOKEN run_wrk users get_auth.lua "$BASE/users?page_size=20" -t2 -c32 -d"$D"

# Measured right before the login run, while the server is idle, so the two
# figures are taken under the same conditions.
argon2_rate() {
    "$ARGON2_BIN" "$1" "$ARGON2_SECONDS" | tee -a "$OUT/argon2.txt" | sed -n 's/.*: \([0-9.]*\) hashes\/s.*/\1/p'
}
log "argon2_rate: 1 thread, then 2 threads (${ARGON2_SECONDS}s each)"
ARGON2_1=$(argon2_rate 1)
ARGON2_2=$(argon2_rate 2)
[[ -n "$ARGON2_1" && -n "$ARGON2_2" ]] || die "could not parse argon2_rate output: $(cat "$OUT/argon2.txt")"

log "3/5 POST /auth/login (${LOGIN_ARGS[*]} -d$D)"
run_wrk login login.lua "$BASE/auth/login" "${LOGIN_ARGS[@]}" -d"$D"

# GET /me measured while logins saturate the hasher. The login run starts 2s
# earlier and ends 2s later than the /me run.
me_under_login() {
    local name=$1 dur=$2 login_pid
    shift 2
    start_wrk "${name}_login" login.lua "$BASE/auth/login" "${LOGIN_ARGS[@]}" -d"$((dur + 4))s"
    login_pid=$WRK_PID
    sleep 2
    BENCH_TOKEN=$USER_TOKEN start_wrk "$name" get_auth.lua "$BASE/me" "$@" -d"${dur}s"
    finish_wrk "$name"
    [[ "${BG_PIDS[-1]}" == "$login_pid" ]] || die "internal: unexpected background job"
    finish_wrk "${name}_login"
}

log "4/5 GET /me (-t2 -c32) while POST /auth/login runs"
me_under_login me_busy "$DURATION" -t2 -c32

# The same comparison with a light /me load (2 connections), so /me's own
# queueing does not hide the effect of hashing.
log "5/5 GET /me (-t1 -c2) alone, then while POST /auth/login runs"
BENCH_TOKEN=$USER_TOKEN run_wrk me_light get_auth.lua "$BASE/me" -t1 -c2 -d"${LIGHT_DURATION}s"
me_under_login me_light_busy "$LIGHT_DURATION" -t1 -c2

# Sources of coffee-api (its workspace crates, per cargo tree) changed after the
# binary was built: then the figures may not describe the working tree.
API_CRATES=$(cd "$ROOT" && cargo tree --offline -p coffee-api -e normal,build --prefix none -f '{p}' 2>/dev/null \
    | sed -n "s|.*(\(${ROOT}[^)]*\)).*|\1|p" | sort -u) || true
# shellcheck disable=SC2086 # API_CRATES is a list of paths, one per line
STALE=$(find ${API_CRATES:-"$ROOT/bins" "$ROOT/crates" "$ROOT/migrations"} "$ROOT/Cargo.toml" "$ROOT/Cargo.lock" \
    -name tests -prune -o \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) -newer "$API_BIN" -print | wc -l)
SESSIONS=$(psql "$PG/$BENCH_DB" -AtqX -c 'select count(*) from sessions')
ELAPSED=$(( $(date +%s) - START_TIME ))

# ---------------------------------------------------------------- report
row() { # row LABEL NAME
    # shellcheck disable=SC2016 # the backticks are markdown
    printf '| %s | `%s` | %s | %s | %s | %s | %s |\n' "$1" "$(cat "$OUT/$2.args" | sed "s| $BASE.*||; s|--timeout 10s ||")" \
        "$(field "$2" rps)" "$(field "$2" p50_ms)" "$(field "$2" p99_ms)" "$(field "$2" non2xx)" \
        "$(( $(field "$2" connect) + $(field "$2" read) + $(field "$2" write) + $(field "$2" timeout) ))"
}

cat <<EOF

## coffee-api benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')

Machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg).
Commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$( [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no -- . ':!bench' 2>/dev/null)" ]] && echo ' (working tree modified)'), binary built $(date -u -r "$API_BIN" '+%Y-%m-%d %H:%M UTC')$( (( STALE > 0 )) && echo " (**$STALE source files changed since: rebuild**)").
Database: $BENCH_USERS seeded users + admin (GET /users total = $PAGE_TOTAL); $SESSIONS sessions after the run. Script time: ${ELAPSED}s.

| Scenario | wrk | req/s | p50 ms | p99 ms | non-2xx | socket errors |
|---|---|---:|---:|---:|---:|---:|
$(row 'GET /me' me)
$(row 'GET /users?page_size=20 (admin)' users)
$(row 'POST /auth/login' login)
$(row 'GET /me while logins run' me_busy)
$(row '↳ POST /auth/login during that' me_busy_login)
$(row 'GET /me, light load' me_light)
$(row 'GET /me, light load, while logins run' me_light_busy)
$(row '↳ POST /auth/login during that' me_light_busy_login)

| Raw Argon2id (m=19 MiB, t=2, p=1), \`argon2_rate\` | hashes/s |
|---|---:|
| 1 thread | $ARGON2_1 |
| 2 threads | $ARGON2_2 |

wrk reports and server log: $OUT
EOF
