#!/usr/bin/env bash
# Orders benchmark of coffee-api with wrk. See bench/README.md ("Orders").
#
# Two goals: checkout (POST /orders) >= 300/s at 32 connections, and the
# admin's GET /orders page p99 <= 20 ms with 100 000 orders.
#
# Recreates the PostgreSQL database $BENCH_DB, starts the release coffee-api
# (on 127.0.0.1:$PORT, shop open all day every day), seeds $BENCH_USERS users
# and $BENCH_PRODUCTS products with SQL, logs $CUSTOMERS customers and the
# admin in, then:
#   checkout: counts the SQL statements of one checkout (log_statement =
#      'all' for this database only, $QUERY_SAMPLES sequential requests), then
#      runs wrk -t1 -c$CONNECTIONS: each request a POST /orders with 1–3 items
#      and a fresh Idempotency-Key, round-robin over the customers; compares
#      wrk's 2xx count with the orders the database holds afterwards;
#   list: replaces the orders by $ORDERS seeded in SQL (VACUUM ANALYZE),
#      counts the statements of the admin's GET /orders variants and runs
#      EXPLAIN (ANALYZE, BUFFERS) on them (parameters copied from the log;
#      custom and generic plan), then runs wrk on each variant at each of
#      $LIST_CONNECTIONS connections.
# Prints a markdown report. Manual benchmark, not a test; the server is
# stopped on exit, the database is left for inspection. ~4 minutes.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR="$ROOT/bench"
export BENCH_LUA_DIR="$BENCH_DIR/lua"

CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/coffee-target}
PORT=${PORT:-18097}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
BENCH_DB=${BENCH_DB:-coffee_bench_orders}
# libpq/sqlx TLS mode for both sides; loopback carries no TLS.
SSLMODE=${SSLMODE:-disable}
PARTS=${PARTS:-checkout list}            # which parts run
DURATION=${DURATION:-12}                 # seconds of the measured checkout run
CONNECTIONS=${CONNECTIONS:-32}           # checkout connections
LIST_DURATION=${LIST_DURATION:-10}       # seconds per list run
LIST_CONNECTIONS=${LIST_CONNECTIONS:-32 4 1}
CUSTOMERS=${CUSTOMERS:-500}              # customers logged in for the checkout
BENCH_USERS=${BENCH_USERS:-1000}         # seeded users (customers of the seeded orders)
BENCH_PRODUCTS=${BENCH_PRODUCTS:-200}
ORDERS=${ORDERS:-100000}
ORDER_DAYS=${ORDER_DAYS:-180}            # the seeded orders span this many days
LIST_STATUS=${LIST_STATUS:-ready}
LIST_SORT=${LIST_SORT:--total}
QUERY_SAMPLES=${QUERY_SAMPLES:-10}
ADMIN_EMAIL=admin@bench.example.com
ADMIN_PASSWORD=bench-admin-password-1234
JWT_SECRET=${JWT_SECRET:-bench-jwt-secret-0123456789abcdef0123456789}
# PostgreSQL's server log (stderr of the Debian cluster); found automatically.
PG_LOG=${PG_LOG:-}
OUT=${OUT:-$(mktemp -d /tmp/coffee-bench-orders.XXXXXX)}
mkdir -p "$OUT" "$OUT/media" "$OUT/login"

BASE="http://127.0.0.1:$PORT"
API_BIN=${API_BIN:-$CARGO_TARGET_DIR/release/coffee-api}
DB_URL="$PG/$BENCH_DB?sslmode=$SSLMODE"
ADMIN_DB_URL="$PG/postgres?sslmode=$SSLMODE"
RUN_ID="b$(date +%s)"

die() { echo "orders: $*" >&2; exit 1; }
log() { echo "orders: $*" >&2; }
has_part() { [[ " $PARTS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- preflight
for tool in wrk psql curl jq perl xargs; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install -y wrk postgresql-client curl jq perl)"
done
[[ "$BENCH_DB" =~ ^[a-z_][a-z0-9_]*$ ]] || die "BENCH_DB must be a plain lower-case identifier"
for p in $PARTS; do [[ "$p" == checkout || "$p" == list ]] || die "PARTS: unknown part $p (checkout, list)"; done
for v in DURATION CONNECTIONS LIST_DURATION CUSTOMERS BENCH_USERS BENCH_PRODUCTS ORDERS ORDER_DAYS QUERY_SAMPLES; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
for c in $LIST_CONNECTIONS; do [[ "$c" =~ ^[1-9][0-9]*$ ]] || die "LIST_CONNECTIONS must list positive integers"; done
(( CUSTOMERS <= BENCH_USERS && BENCH_USERS <= 9999 )) || die "need CUSTOMERS <= BENCH_USERS <= 9999"
(( BENCH_PRODUCTS >= 100 )) || die "BENCH_PRODUCTS must be >= 100"
[[ "$LIST_STATUS" =~ ^(pending|confirmed|preparing|ready|completed|cancelled)$ ]] || die "LIST_STATUS: not a status"
[[ "$LIST_SORT" =~ ^-?(status|number|total|pickup_at|created_at)$ ]] || die "LIST_SORT: not a sortable field of orders"

if [[ "${BUILD:-0}" == 1 ]]; then
    log "building the release binary into $CARGO_TARGET_DIR"
    (cd "$ROOT" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR" cargo build --release -p coffee-api)
fi
[[ -x "$API_BIN" ]] || die "$API_BIN is missing: run with BUILD=1, or: CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo build --release -p coffee-api"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "something already listens on 127.0.0.1:$PORT (set PORT=...)"
fi
psql "$ADMIN_DB_URL" -Atqc 'select 1' >/dev/null || die "PostgreSQL is not reachable at $PG"
[[ "$(psql "$ADMIN_DB_URL" -AtqX -c 'select rolsuper from pg_roles where rolname = current_user')" == t ]] \
    || die "the role in PG must be a superuser (ALTER DATABASE … SET log_statement, reading the plans)"

# Which file gets the server log: write a unique marker and look for it.
MARKER="coffee-bench-orders-marker-$$-$RANDOM$RANDOM"
psql "$ADMIN_DB_URL" -qX -v ON_ERROR_STOP=1 -c "DO \$\$BEGIN RAISE LOG '$MARKER'; END\$\$" >/dev/null
sleep 0.3
if [[ -z "$PG_LOG" ]]; then
    for f in /var/log/postgresql/*.log; do
        [[ -r "$f" ]] && grep -qF "$MARKER" "$f" 2>/dev/null && PG_LOG=$f && break
    done
    [[ -n "$PG_LOG" ]] || die "the PostgreSQL log is not a readable /var/log/postgresql/*.log (RAISE LOG marker not found): set PG_LOG=..."
else
    grep -qF "$MARKER" "$PG_LOG" || die "PG_LOG=$PG_LOG does not receive the server log (RAISE LOG marker not found)"
fi
# Lines of this database are recognised by "<user>@<db> " and their pid in
# brackets, i.e. log_line_prefix must contain %p and %d.
PREFIX=$(psql "$ADMIN_DB_URL" -AtqX -c 'show log_line_prefix')
[[ "$PREFIX" == *%p* && "$PREFIX" == *%d* ]] || die "log_line_prefix ($PREFIX) must contain %p and %d"

# ---------------------------------------------------------------- cleanup
SERVER_PID=""
BG_PIDS=()
STATEMENT_LOGGING=0
stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "---- $(date -u '+%H:%M:%S') stop" >>"$OUT/server.log"
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
set_statement_logging() { # on|off
    if [[ "$1" == on ]]; then
        psql "$ADMIN_DB_URL" -qX -v ON_ERROR_STOP=1 -c "ALTER DATABASE \"$BENCH_DB\" SET log_statement = 'all'" >/dev/null
        STATEMENT_LOGGING=1
    else
        psql "$ADMIN_DB_URL" -qX -v ON_ERROR_STOP=1 -c "ALTER DATABASE \"$BENCH_DB\" RESET log_statement" >/dev/null
        STATEMENT_LOGGING=0
    fi
}
cleanup() {
    local status=$?
    for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    stop_server
    if (( STATEMENT_LOGGING )); then
        set_statement_logging off || log "could not reset log_statement of $BENCH_DB: ALTER DATABASE $BENCH_DB RESET log_statement"
    fi
    if (( status != 0 )); then
        log "failed (exit $status); logs in $OUT"
        [[ -f "$OUT/server.log" ]] && tail -n 20 "$OUT/server.log" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "output and logs: $OUT (PostgreSQL log: $PG_LOG)"
START_TIME=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# Open all day, every day (00:00–00:00 is the whole day), so that "as soon as
# possible" orders are accepted whenever the benchmark runs.
{
    printf '%s\n' 'name = "Bench Coffee"' 'address = "1 Loopback Street"' 'phone = "+998 71 000 00 00"' \
        'email = "shop@bench.example.com"' 'currency = "EUR"' 'timezone = "UTC"' 'location = { lat = 41.3, lng = 69.24 }'
    for d in mon tue wed thu fri sat sun; do
        printf '[[opening_hours]]\nday = "%s"\nopen = "00:00"\nclose = "00:00"\n' "$d"
    done
} >"$OUT/shop.toml"

# ---------------------------------------------------------------- server
# env -i: no stray REDIS_URL/SMTP_URL etc. from the caller (so the outbox relay
# runs the mail jobs itself and the log mailer writes them at info level,
# i.e. nowhere at RUST_LOG=warn); cwd $OUT: no .env is read. The hourly
# cleanup is moved to 1 January so that it cannot run during a measurement.
start_server() {
    log "starting $API_BIN on $BASE ($1)"
    echo "---- $(date -u '+%H:%M:%S') start: $1" >>"$OUT/server.log"
    (
        cd "$OUT"
        exec env -i PATH="$PATH" HOME="$HOME" \
            PORT="$PORT" HOST=127.0.0.1 \
            DATABASE_URL="$DB_URL" \
            JWT_SECRET="$JWT_SECRET" ACCESS_TOKEN_TTL=2h \
            ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
            AUTH_RATE_LIMIT=off \
            SHOP_INFO_FILE="$OUT/shop.toml" \
            MEDIA_DIR="$OUT/media" \
            CLEANUP_SCHEDULE='0 0 0 1 1 *' \
            RUST_LOG=warn \
            "$API_BIN"
    ) >>"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    local i
    for i in $(seq 1 600); do
        if curl -fsS -o /dev/null "$BASE/health/ready" 2>/dev/null; then
            if command -v ss >/dev/null && ! ss -ltnpH "sport = :$PORT" | grep -q "pid=$SERVER_PID,"; then
                die "another process answers on 127.0.0.1:$PORT, not the coffee-api just started (set PORT=...)"
            fi
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || die "coffee-api exited during start-up"
        sleep 0.1
    done
    die "coffee-api not ready after 60s"
}

q() { psql "$DB_URL" -AtqX -v ON_ERROR_STOP=1 "$@"; }

# ---------------------------------------------------------------- database
log "recreating database $BENCH_DB"
psql "$ADMIN_DB_URL" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
DROP DATABASE IF EXISTS "$BENCH_DB" WITH (FORCE);
CREATE DATABASE "$BENCH_DB";
SQL
start_server "migrations"
if [[ -n "${AFTER_MIGRATIONS_SQL:-}" ]]; then
    # A/B of the schema on one binary, e.g. AFTER_MIGRATIONS_SQL='DROP INDEX ix_orders_status_id'.
    log "applying AFTER_MIGRATIONS_SQL: $AFTER_MIGRATIONS_SQL"
    psql "$DB_URL" -qX -v ON_ERROR_STOP=1 -c "$AFTER_MIGRATIONS_SQL" >/dev/null
fi

log "seeding $BENCH_USERS users and $BENCH_PRODUCTS products"
psql "$DB_URL" -qX -v ON_ERROR_STOP=1 -v admin="$ADMIN_EMAIL" -v n="$BENCH_USERS" \
    -f "$BENCH_DIR/sql/seed_users.sql" >/dev/null
psql "$DB_URL" -qX -v ON_ERROR_STOP=1 -v n="$BENCH_PRODUCTS" -v term=praline \
    -f "$BENCH_DIR/sql/seed_menu.sql" >/dev/null
q -c "SELECT id FROM products WHERE is_available ORDER BY name, id" >"$OUT/products.txt"
N_AVAILABLE=$(wc -l <"$OUT/products.txt")
(( N_AVAILABLE >= 22 )) || die "only $N_AVAILABLE available products"

token_of() { # FILE: the access token in a login answer
    jq -er .access_token "$1" 2>/dev/null || die "login failed: $(head -c 300 "$1")"
}
curl -fsS -o "$OUT/login/admin.json" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" "$BASE/auth/login" || die "the admin cannot log in"
ADMIN_TOKEN=$(token_of "$OUT/login/admin.json")
# Customers log in through the API (one Argon2 verification each), 4 at a time.
log "logging $CUSTOMERS customers in"
seq -f 'user%04g@bench.example.com' 1 "$CUSTOMERS" \
    | xargs -P 4 -I '{}' curl -sS -o "$OUT/login/{}.json" -H 'Content-Type: application/json' \
        -d "{\"email\":\"{}\",\"password\":\"$ADMIN_PASSWORD\"}" "$BASE/auth/login"
: >"$OUT/tokens.txt"
for f in "$OUT"/login/user*.json; do token_of "$f" >>"$OUT/tokens.txt"; done
(( $(wc -l <"$OUT/tokens.txt") == CUSTOMERS )) || die "got $(wc -l <"$OUT/tokens.txt") customer tokens, expected $CUSTOMERS"
[[ "$(curl -fsS -H "Authorization: Bearer $ADMIN_TOKEN" "$BASE/me" | jq -r .role)" == admin ]] || die "the admin token is not an admin's"

# ---------------------------------------------------------------- statement counting
# count_statements NAME FUNCTION ARGS...: calls FUNCTION ARGS... $QUERY_SAMPLES
# times (sequentially; FUNCTION gets the sample number last); the statements
# this database logged meanwhile go to $OUT/NAME.statements. The outbox
# relay's statements (UPDATE/SELECT on "outbox": background work, one
# delivery per order) are counted apart; a checkout's INSERT INTO "outbox"
# is part of the request. Writes $OUT/NAME.explainK.sql for the K-th
# statement of the first request when it is a SELECT.
count_statements() {
    local name=$1 fn=$2 start end i
    shift 2
    start=$(stat -c %s "$PG_LOG")
    for i in $(seq 1 "$QUERY_SAMPLES"); do "$fn" "$@" "$i"; done
    sleep 0.5   # every statement is logged before its response; leave the log writer a moment
    end=$(stat -c %s "$PG_LOG")
    (( end > start )) || die "nothing was logged to $PG_LOG while counting (was the log rotated?)"
    perl - "$PG_LOG" "$start" "$end" "$BENCH_DB" "$QUERY_SAMPLES" "$OUT/$name" >"$OUT/$name.count" <<'PERL' || die "could not parse the statement log of $name"
use strict; use warnings;
my ($log, $start, $end, $db, $samples, $prefix) = @ARGV;
open my $fh, '<', $log or die "$log: $!";
seek $fh, $start, 0 or die;
read $fh, my $buf, $end - $start;
my (@stmts, %last);
for my $line (split /\n/, $buf) {
    next unless $line =~ /\[(\d+)\]\S* \S*\@\Q$db\E (LOG|DETAIL):  (.*)$/;
    my ($pid, $kind, $text) = ($1, $2, $3);
    if ($kind eq 'LOG' && $text =~ /^(?:statement|execute [^:]*): (.*)$/) {
        push @stmts, { sql => $1, params => [] };
        $last{$pid} = $stmts[-1];
    } elsif ($kind eq 'DETAIL' && $text =~ /^parameters: (.*)$/ && $last{$pid}) {
        my $p = $1;
        push @{ $last{$pid}{params} }, $1 while $p =~ /\$\d+ = ('(?:[^']|'')*'|NULL)/g;
        delete $last{$pid};
    }
}
my @request = grep { $_->{sql} !~ /"outbox"/ || $_->{sql} =~ /^INSERT INTO "outbox"/ } @stmts;
my $background = @stmts - @request;
open my $out, '>', "$prefix.statements" or die;
print $out $_->{sql}, (@{ $_->{params} } ? "  -- (" . join(', ', @{ $_->{params} }) . ')' : ''), "\n" for @request;
close $out;
my $per = @request / $samples;
if ($per == int $per) {
    open my $first, '>', "$prefix.first" or die;
    for my $i (1 .. $per) {
        my $s = $request[$i - 1];
        print $first $s->{sql}, "\n";
        next unless $s->{sql} =~ /^SELECT/;
        my $args = @{ $s->{params} } ? '(' . join(', ', @{ $s->{params} }) . ')' : '';
        open my $sql, '>', "$prefix.explain$i.sql" or die;
        print $sql "\\set ON_ERROR_STOP 1\n\\pset pager off\n",
            "PREPARE q AS $s->{sql};\n",
            "\\echo '-- custom plan (this request''s parameter values)'\n",
            "SET plan_cache_mode = force_custom_plan;\n",
            "EXPLAIN (ANALYZE, BUFFERS) EXECUTE q$args;\n",
            "\\echo '-- generic plan (what a prepared statement may switch to after 5 executions)'\n",
            "SET plan_cache_mode = force_generic_plan;\n",
            "EXPLAIN (ANALYZE, BUFFERS) EXECUTE q$args;\n";
        close $sql;
    }
    close $first;
}
print scalar(@request), " $background $per\n";
PERL
    local req bg per
    read -r req bg per <"$OUT/$name.count"
    echo "$per" >"$OUT/$name.per_request"
    echo "$bg" >"$OUT/$name.background"
    log "  $name: $req statements for $QUERY_SAMPLES requests = $per per request (+ $bg outbox-relay statements)"
}
statement_kind() { # what a logged statement is, by its text
    case "$1" in
        BEGIN*) echo "begin" ;;
        COMMIT*) echo "commit" ;;
        *'COUNT(*)'*) echo "count" ;;
        *'FROM "order_items"'*) echo "lines of the page's orders" ;;
        *'FROM "users"'*'"role" ='*) echo "admin e-mails (mail recipients)" ;;
        *'FROM "users"'*) echo "caller (token's account)" ;;
        *'FROM "products"'*) echo "names and prices of the items" ;;
        'INSERT INTO "idempotency_keys"'*) echo "claim the Idempotency-Key" ;;
        'UPDATE "idempotency_keys"'*) echo "store the answer for the key" ;;
        'INSERT INTO "orders"'*) echo "insert the order (number from the sequence)" ;;
        'INSERT INTO "order_items"'*) echo "insert its lines" ;;
        'INSERT INTO "outbox"'*) echo "enqueue the admins' mail" ;;
        *'FROM "orders"'*) echo "page" ;;
        *) echo "other" ;;
    esac
}
# plan_summary FILE: the access paths of the custom and the generic plan, and
# their execution times (as in bench/menu.sh).
plan_summary() {
    awk '
        /^-- custom plan/ { part = "custom" } /^-- generic plan/ { part = "generic" }
        {
            line = $0
            if (match(line, /(Seq Scan on|Parallel Seq Scan on|Index Scan using|Index Scan Backward using|Index Only Scan using|Index Only Scan Backward using|Parallel Index Only Scan using|Bitmap Index Scan on|Bitmap Heap Scan on) [A-Za-z0-9_."]+( on [A-Za-z0-9_."]+)?/)) {
                node = substr(line, RSTART, RLENGTH)
                if (index(nodes[part], node) == 0) nodes[part] = nodes[part] (nodes[part] == "" ? "" : ", ") node
            } else if (match(line, /(Incremental Sort|Sort|Hash Join|Nested Loop|Merge Join|HashAggregate|Finalize Aggregate|Aggregate|Gather)  \(/)) {
                node = substr(line, RSTART, RLENGTH - 3)
                if (index(ops[part], node) == 0) ops[part] = ops[part] (ops[part] == "" ? "" : ", ") node
            }
            if (match(line, /Execution Time: [0-9.]+ ms/)) time[part] = substr(line, RSTART + 16, RLENGTH - 19)
        }
        END {
            printf "%s; %s | %s | %s; %s | %s", nodes["custom"], ops["custom"], time["custom"], nodes["generic"], ops["generic"], time["generic"]
        }' "$1"
}
EXPLAIN_ROWS=""
STATEMENT_ROWS=""
explain_all() { # NAME LABEL: EXPLAIN the SELECTs of one request, list its statements
    local name=$1 label=$2 per i sql kind
    per=$(cat "$OUT/$name.per_request")
    [[ "$per" =~ ^[0-9]+$ ]] || { log "no EXPLAIN for $name: $per statements per request is not a whole number"; return 0; }
    i=0
    while IFS= read -r sql; do
        i=$((i + 1))
        kind=$(statement_kind "$sql")
        STATEMENT_ROWS+="| $label | $i | $kind | \`$(cut -c1-110 <<<"$sql")…\` |"$'\n'
        [[ -f "$OUT/$name.explain$i.sql" ]] || continue
        psql "$DB_URL" -qX -f "$OUT/$name.explain$i.sql" >"$OUT/$name.explain$i.txt" 2>&1 \
            || die "EXPLAIN of $name statement $i failed: $(tail -n 5 "$OUT/$name.explain$i.txt")"
        EXPLAIN_ROWS+="| $label | $i: $kind | $(plan_summary "$OUT/$name.explain$i.txt") |"$'\n'
    done <"$OUT/$name.first"
}

# ---------------------------------------------------------------- wrk
run_wrk() { # run_wrk NAME LUA PATH WRK-ARGS...
    local name=$1 lua=$2 path=$3
    shift 3
    echo "$*" >"$OUT/$name.args"
    loadavg >"$OUT/$name.load"
    BENCH_NAME=$name wrk --latency "$@" -s "$BENCH_LUA_DIR/$lua" "$BASE$path" >"$OUT/$name.txt" 2>&1 &
    BG_PIDS+=("$!")
    wait "${BG_PIDS[-1]}" || die "wrk $name failed: $(cat "$OUT/$name.txt")"
    unset 'BG_PIDS[-1]'
    grep '^RESULT ' "$OUT/$name.txt" >"$OUT/$name.result" || die "wrk $name printed no RESULT line"
}
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$OUT/$1.result"; }
socket_errors() { echo $(( $(field "$1" connect) + $(field "$1" read) + $(field "$1" write) + $(field "$1" timeout) )); }
ROWS=""
row() { # row LABEL NAME
    ROWS+=$(printf "| %s | \`%s\` | %s | %s | %s | %s | %s | %s | %s |" "$1" "$(cat "$OUT/$2.args")" \
        "$(field "$2" rps)" "$(field "$2" p50_ms)" "$(field "$2" p99_ms)" "$(field "$2" max_ms)" \
        "$(field "$2" non2xx)" "$(socket_errors "$2")" "$(cat "$OUT/$2.load")")$'\n'
}
outbox_backlog() { q -c "SELECT count(*) FROM outbox WHERE relayed_at IS NULL AND parked_at IS NULL"; }
wait_outbox() { # waits (at most 120 s) until the relay has handed every entry over; prints the seconds
    local t0=$SECONDS
    while (( $(outbox_backlog) > 0 )); do
        (( SECONDS - t0 < 120 )) || die "the outbox still holds $(outbox_backlog) entries after 120 s"
        sleep 0.5
    done
    echo $(( SECONDS - t0 ))
}

# ---------------------------------------------------------------- checkout
CHECKOUT_REPORT=""
place() { # place KEY [BODY]: one POST /orders as the first customer; the answer in $OUT/place.json
    local body=${2:-}
    [[ -n "$body" ]] || body=$(jq -cn --arg a "$(sed -n 1p "$OUT/products.txt")" --arg b "$(sed -n 8p "$OUT/products.txt")" \
        '{items: [{product_id: $a, quantity: 2}, {product_id: $b, quantity: 1}]}')
    curl -sS -o "$OUT/place.json" -D "$OUT/place.headers" -w '%{http_code}' \
        -H "Authorization: Bearer $(sed -n 1p "$OUT/tokens.txt")" -H 'Content-Type: application/json' \
        -H "Idempotency-Key: $1" -d "$body" "$BASE/orders"
}
sample_checkout() { # sample_checkout PREFIX N: one checkout with a fresh key
    local code
    code=$(place "$1-$2")
    [[ "$code" == 201 ]] || die "POST /orders answered $code: $(head -c 500 "$OUT/place.json")"
}

if has_part checkout; then
    log "checkout: sanity checks"
    code=$(place "$RUN_ID-sanity")
    [[ "$code" == 201 ]] || die "POST /orders answered $code: $(head -c 500 "$OUT/place.json")"
    jq -e '(.items | length) == 2 and .status == "pending" and .total == (.items | map(.line_total) | add)' "$OUT/place.json" >/dev/null \
        || die "unexpected order: $(cat "$OUT/place.json")"
    code=$(place "$RUN_ID-sanity")
    if [[ "$code" != 201 ]] || ! grep -qi '^idempotent-replayed: true' "$OUT/place.headers"; then
        die "a repeated key was not replayed (HTTP $code): $(cat "$OUT/place.headers")"
    fi
    [[ "$(q -c 'SELECT count(*) FROM orders')" == 1 ]] || die "the replay created a second order"

    log "checkout: statement counting (log_statement = 'all', fresh server)"
    stop_server
    set_statement_logging on
    start_server "log_statement = all"
    for i in 1 2 3 4 5; do sample_checkout "$RUN_ID-warm" "$i"; done
    count_statements checkout sample_checkout "$RUN_ID-count"
    stop_server
    set_statement_logging off

    start_server "checkout benchmark"
    log "checkout: warm-up 3s, then wrk -t1 -c$CONNECTIONS -d${DURATION}s"
    export BENCH_TOKENS="$OUT/tokens.txt" BENCH_PRODUCTS_FILE="$OUT/products.txt"
    BENCH_RUN="$RUN_ID-warmup" run_wrk checkout_warmup checkout.lua /orders -t1 -c"$CONNECTIONS" -d3s
    drained_warmup=$(wait_outbox)
    BEFORE=$(q -c 'SELECT count(*) FROM orders')
    BENCH_RUN="$RUN_ID-measured" run_wrk checkout checkout.lua /orders -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s
    sleep 2   # requests wrk abandoned at the end may still finish
    AFTER=$(q -c 'SELECT count(*) FROM orders')
    DRAIN=$(wait_outbox)
    REQUESTS=$(field checkout requests)
    NON2XX=$(field checkout non2xx)
    OK=$(( REQUESTS - NON2XX ))
    CREATED=$(( AFTER - BEFORE ))
    read -r KEYED KEYED_ORDERS BAD_TOTALS LINES_MIN LINES_MAX N_USERS <<<"$(q -F ' ' -v run="$RUN_ID-measured-%" <<'SQL'
WITH run AS (SELECT order_id FROM idempotency_keys WHERE key LIKE :'run' AND order_id IS NOT NULL),
     o AS (SELECT o.id, o.user_id, o.total, (SELECT count(*) FROM order_items i WHERE i.order_id = o.id) AS lines,
                  (SELECT coalesce(sum(line_total), 0) FROM order_items i WHERE i.order_id = o.id) AS sum
           FROM orders o WHERE o.id IN (SELECT order_id FROM run))
SELECT (SELECT count(*) FROM run), count(*), count(*) FILTER (WHERE total <> sum), min(lines), max(lines),
       count(DISTINCT user_id)
FROM o
SQL
)"
    (( BAD_TOTALS == 0 )) || die "$BAD_TOTALS orders' totals differ from the sum of their lines"
    (( KEYED == KEYED_ORDERS )) || die "$KEYED completed keys but $KEYED_ORDERS orders"
    (( CREATED == KEYED )) || log "warning: $CREATED orders created during the run, $KEYED with this run's keys"
    if (( CREATED == OK )); then
        MATCH="equal"
    elif (( CREATED > OK && CREATED - OK <= CONNECTIONS )); then
        MATCH="$(( CREATED - OK )) more in the database: requests wrk sent but stopped waiting for at the end"
    else
        MATCH="**mismatch by $(( CREATED - OK ))**"
    fi
    row "\`POST /orders\`, 1–3 items, $CUSTOMERS customers" checkout
    CHECKOUT_REPORT=$(cat <<EOF
### Checkout

| Scenario | wrk | orders/s | p50 ms | p99 ms | max ms | non-2xx | socket errors | load avg at start |
|---|---|---:|---:|---:|---:|---:|---:|---:|
${ROWS%$'\n'}

wrk counted $REQUESTS responses, $NON2XX non-2xx, i.e. $OK created orders; the database got $CREATED new orders ($MATCH), all $KEYED with this run's keys, from $N_USERS customers, $LINES_MIN–$LINES_MAX lines each, every total = the sum of its lines.
The outbox relay (mail jobs run in-process: no Redis) needed ${DRAIN}s after the run to hand over the last new-order mails (${drained_warmup}s after the warm-up).
Statements per checkout: $(cat "$OUT/checkout.per_request") (+ $(cat "$OUT/checkout.background") outbox-relay statements for $QUERY_SAMPLES orders, in the background); see the statement table below.
EOF
)
    ROWS=""
    stop_server
fi

# ---------------------------------------------------------------- list
LIST_REPORT=""
PATH_A="/orders?page_size=20"
PATH_B="/orders?page_size=20&status=$LIST_STATUS"
PATH_C="/orders?page_size=20&sort=$LIST_SORT"
sample_get() { # sample_get PATH N
    curl -fsS -o /dev/null -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Accept: application/json' "$BASE$1" || die "GET $1 failed"
}
check() { # check PATH JQ-ASSERTION
    local code
    code=$(curl -sS -o "$OUT/check.json" -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" "$BASE$1") || true
    [[ "$code" == 200 ]] || die "GET $1 answered $code: $(head -c 500 "$OUT/check.json")"
    jq -e "$2" "$OUT/check.json" >/dev/null || die "GET $1: expected $2, got $(jq -c '{total, page_size, items: (.items | length)}' "$OUT/check.json")"
}

if has_part list; then
    stop_server
    log "list: replacing the orders by $ORDERS seeded ones"
    q -c 'TRUNCATE orders, order_items, idempotency_keys' >/dev/null
    t0=$SECONDS
    psql "$DB_URL" -qX -v ON_ERROR_STOP=1 -v n="$ORDERS" -v days="$ORDER_DAYS" -f "$BENCH_DIR/sql/seed_orders.sql" >/dev/null
    SEED_SECONDS=$(( SECONDS - t0 ))
    read -r N_ORDERS N_LINES N_CUST STATUS_N TABLE_MB COUNT_PAGES <<<"$(q -F ' ' -v st="$LIST_STATUS" <<'SQL'
SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_items), (SELECT count(DISTINCT user_id) FROM orders),
       (SELECT count(*) FROM orders WHERE status = :'st'),
       round((pg_total_relation_size('orders') + pg_total_relation_size('order_items')) / 1048576.0),
       pg_relation_size('order_counts') / current_setting('block_size')::int
SQL
)"
    (( N_ORDERS == ORDERS )) || die "seeded $N_ORDERS orders, expected $ORDERS"
    STATUSES=$(q -c "SELECT string_agg(status || ' ' || n, ', ' ORDER BY n DESC) FROM (SELECT status, count(*) AS n FROM orders GROUP BY status) s")
    log "seeded in ${SEED_SECONDS}s: $N_ORDERS orders, $N_LINES lines, $N_CUST customers; $STATUSES"

    start_server "list checks"
    check "$PATH_A" ".total == $ORDERS and (.items | length) == 20 and ([.items[].created_at] as \$c | \$c == (\$c | sort | reverse))
                     and all(.items[]; (.items | length) >= 1)"
    check "$PATH_B" ".total == $STATUS_N and (.items | length) == ([$STATUS_N, 20] | min) and all(.items[]; .status == \"$LIST_STATUS\")"
    check "$PATH_C" ".total == $ORDERS and (.items | length) == 20"
    stop_server

    log "list: statement counting (log_statement = 'all', fresh server)"
    set_statement_logging on
    start_server "log_statement = all"
    for p in "$PATH_A" "$PATH_B" "$PATH_C"; do for i in 1 2 3 4 5; do sample_get "$p" "$i"; done; done
    count_statements list_default sample_get "$PATH_A"
    count_statements list_status sample_get "$PATH_B"
    count_statements list_sort sample_get "$PATH_C"
    stop_server
    set_statement_logging off
    [[ "$(q -c "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = '$BENCH_DB'")" == 0 ]] \
        || die "log_statement is still set on $BENCH_DB"

    start_server "list benchmark"
    log "list: warm-up 3s"
    BENCH_TOKEN=$ADMIN_TOKEN run_wrk list_warmup get_auth.lua "$PATH_A" -t1 -c32 -d3s
    for c in $LIST_CONNECTIONS; do
        for v in default status sort; do
            case $v in default) p=$PATH_A ;; status) p=$PATH_B ;; sort) p=$PATH_C ;; esac
            log "list: GET $p (-t1 -c$c -d${LIST_DURATION}s)"
            BENCH_TOKEN=$ADMIN_TOKEN run_wrk "list_${v}_c$c" get_auth.lua "$p" -t1 -c"$c" -d"${LIST_DURATION}s"
            row "\`GET $p\` (admin)" "list_${v}_c$c"
        done
    done
    stop_server
    LIST_REPORT=$(cat <<EOF
### Admin order list ($N_ORDERS orders)

Seeded in ${SEED_SECONDS}s: $N_ORDERS orders over $ORDER_DAYS days with $N_LINES lines from $N_CUST customers ($STATUSES); orders + lines $TABLE_MB MB with indexes; \`order_counts\` $COUNT_PAGES page(s).
Statements per request: $(cat "$OUT/list_default.per_request") (default), $(cat "$OUT/list_status.per_request") (status=$LIST_STATUS), $(cat "$OUT/list_sort.per_request") (sort=$LIST_SORT).

| Scenario | wrk | req/s | p50 ms | p99 ms | max ms | non-2xx | socket errors | load avg at start |
|---|---|---:|---:|---:|---:|---:|---:|---:|
${ROWS%$'\n'}
EOF
)
fi

# ---------------------------------------------------------------- plans (after the server stopped)
has_part checkout && explain_all checkout "checkout"
if has_part list; then
    explain_all list_default "list default"
    explain_all list_status "list status=$LIST_STATUS"
    explain_all list_sort "list sort=$LIST_SORT"
    # What the total costs by itself: the default list's COUNT, as logged (it
    # has no parameters), run by pgbench on one connection.
    if command -v pgbench >/dev/null && [[ -f "$OUT/list_default.first" ]]; then
        grep -m1 'COUNT(\*)' "$OUT/list_default.first" | sed 's/$/;/' >"$OUT/count.sql" || true
        if [[ -s "$OUT/count.sql" ]] && ! grep -qF "\$1" "$OUT/count.sql"; then
            load=$(loadavg)
            PGSSLMODE=$SSLMODE pgbench -n -c 1 -t 50 -f "$OUT/count.sql" "$PG/$BENCH_DB" >"$OUT/count.pgbench" 2>&1 \
                || die "pgbench of the COUNT failed: $(tail -n 5 "$OUT/count.pgbench")"
            LIST_REPORT+=$'\n\n'"The default list's \`COUNT(*)\` alone (pgbench, 1 connection, 50 runs, load average $load): latency average $(sed -n 's/^latency average = //p' "$OUT/count.pgbench")."
        fi
    fi
fi

read -r LOG_RUNNING LOG_STOPPING < <(awk '/^---- .* start: / { s = 0; next } /^---- .* stop$/ { s = 1; next }
                                           { n[s]++ } END { print n[0] + 0, n[1] + 0 }' "$OUT/server.log")
ELAPSED=$(( $(date +%s) - START_TIME ))

# ---------------------------------------------------------------- report
cat <<EOF

## coffee-api orders benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')

Machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg).
Binary: $API_BIN, built $(date -u -r "$API_BIN" '+%Y-%m-%d %H:%M UTC'); script at commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?').
Database: $BENCH_USERS users, $BENCH_PRODUCTS products ($N_AVAILABLE available); sslmode=$SSLMODE; pool: DATABASE_MAX_CONNECTIONS unset (10). Server log lines (RUST_LOG=warn): $LOG_RUNNING while serving, $LOG_STOPPING while shutting down. Script time: ${ELAPSED}s.

$CHECKOUT_REPORT

$LIST_REPORT

### Statements (first of $QUERY_SAMPLES sequential requests, from the PostgreSQL log)

| Request | # | what | statement |
|---|---:|---|---|
${STATEMENT_ROWS%$'\n'}

### EXPLAIN (ANALYZE, BUFFERS) summary

| Request | statement | custom plan: scans; other nodes | ms | generic plan: scans; other nodes | ms |
|---|---|---|---:|---|---:|
${EXPLAIN_ROWS%$'\n'}

Full plans: $OUT/*.explain*.txt; statements with parameters: $OUT/*.statements; wrk reports, server log: $OUT
EOF
if [[ "${PRINT_PLANS:-1}" == 1 ]]; then
    for f in "$OUT"/checkout.explain*.txt "$OUT"/list_*.explain*.txt; do
        [[ -f "$f" ]] || continue
        printf "\n#### %s\n\n\`\`\`\n%s\n%s\n\`\`\`\n" "$(basename "$f" .txt)" "$(sed -n 's/^PREPARE q AS //p' "${f%.txt}.sql")" "$(cat "$f")"
    done
fi
