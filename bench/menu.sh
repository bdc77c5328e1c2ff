#!/usr/bin/env bash
# Menu benchmark of coffee-api with wrk. See bench/README.md ("Menu benchmark").
#
# Recreates the PostgreSQL database $BENCH_DB, lets the release coffee-api
# binary (on 127.0.0.1:$PORT) create the schema, seeds $BENCH_PRODUCTS products
# in $BENCH_CATEGORIES categories with SQL, then:
#   1. counts the SQL statements per request: log_statement = 'all' for this
#      database only (ALTER DATABASE), a server started afresh so that its
#      connections pick the setting up, $QUERY_SAMPLES sequential curl requests
#      per endpoint, the statements counted in the PostgreSQL log, the setting
#      reset (also on failure);
#   2. runs EXPLAIN ANALYZE on the statements of one request of each endpoint,
#      copied with their parameters from that log (custom and generic plan);
#   3. restarts the server (no statement logging) and runs wrk on each endpoint.
# Prints a markdown report. The server is stopped on exit. Takes ~1 minute
# with the default DURATION=15s.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR="$ROOT/bench"
export BENCH_LUA_DIR="$BENCH_DIR/lua"

CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/coffee-target}
PORT=${PORT:-18092}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
BENCH_DB=${BENCH_DB:-coffee_bench_menu}
BENCH_PRODUCTS=${BENCH_PRODUCTS:-10000}
BENCH_CATEGORIES=20              # the seed names exactly 20 categories
DURATION=${DURATION:-15}         # seconds per measured wrk run
QUERY_SAMPLES=${QUERY_SAMPLES:-10}
SEARCH_TERM=praline              # in 1 product of 20 (name or description), see the seed
FILTER_CATEGORY=${FILTER_CATEGORY:-Espresso}
JWT_SECRET=${JWT_SECRET:-bench-jwt-secret-0123456789abcdef0123456789}
# PostgreSQL's server log (stderr of the Debian cluster); found automatically.
PG_LOG=${PG_LOG:-}
OUT=${OUT:-$(mktemp -d /tmp/coffee-bench-menu.XXXXXX)}
mkdir -p "$OUT" "$OUT/media"

BASE="http://127.0.0.1:$PORT"
API_BIN="$CARGO_TARGET_DIR/release/coffee-api"
DB_URL="$PG/$BENCH_DB"

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

# ---------------------------------------------------------------- preflight
for tool in wrk psql curl jq perl; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install -y wrk postgresql-client curl jq perl)"
done
[[ "$BENCH_DB" =~ ^[a-z_][a-z0-9_]*$ ]] || die "BENCH_DB must be a plain lower-case identifier"
if ! [[ "$BENCH_PRODUCTS" =~ ^[0-9]+$ ]] || (( BENCH_PRODUCTS < 100 )); then die "BENCH_PRODUCTS must be an integer >= 100"; fi
if ! [[ "$QUERY_SAMPLES" =~ ^[0-9]+$ ]] || (( QUERY_SAMPLES < 1 )); then die "QUERY_SAMPLES must be a positive integer"; fi
(( ${#JWT_SECRET} >= 32 )) || die "JWT_SECRET must be at least 32 bytes"

if [[ "${BUILD:-0}" == 1 ]]; then
    log "building the release binary into $CARGO_TARGET_DIR"
    (cd "$ROOT" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR" cargo build --release -p coffee-api)
fi
[[ -x "$API_BIN" ]] || die "$API_BIN is missing: run with BUILD=1, or: CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo build --release -p coffee-api"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "something already listens on 127.0.0.1:$PORT (set PORT=...)"
fi
psql "$PG/postgres" -Atqc 'select 1' >/dev/null || die "PostgreSQL is not reachable at $PG"
[[ "$(psql "$PG/postgres" -AtqX -c 'select rolsuper from pg_roles where rolname = current_user')" == t ]] \
    || die "the role in PG must be a superuser (ALTER DATABASE … SET log_statement, reading the plans)"

# Which file gets the server log: write a unique marker and look for it.
MARKER="coffee-bench-menu-marker-$$-$RANDOM$RANDOM"
psql "$PG/postgres" -qX -v ON_ERROR_STOP=1 -c "DO \$\$BEGIN RAISE LOG '$MARKER'; END\$\$" >/dev/null
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
PREFIX=$(psql "$PG/postgres" -AtqX -c 'show log_line_prefix')
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
        psql "$PG/postgres" -qX -v ON_ERROR_STOP=1 -c "ALTER DATABASE \"$BENCH_DB\" SET log_statement = 'all'" >/dev/null
        STATEMENT_LOGGING=1
    else
        psql "$PG/postgres" -qX -v ON_ERROR_STOP=1 -c "ALTER DATABASE \"$BENCH_DB\" RESET log_statement" >/dev/null
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

# ---------------------------------------------------------------- server
# env -i: no stray REDIS_URL/SMTP_URL etc. from the caller; cwd $OUT: no .env
# is read. The hourly cleanup is moved to 1 January so that it cannot run (and
# add statements) during a measurement; the outbox relay still polls every
# 250 ms (its statements are told apart by table, see count_statements).
start_server() {
    log "starting $API_BIN on $BASE ($1)"
    echo "---- $(date -u '+%H:%M:%S') start: $1" >>"$OUT/server.log"
    (
        cd "$OUT"
        exec env -i PATH="$PATH" HOME="$HOME" \
            PORT="$PORT" HOST=127.0.0.1 \
            DATABASE_URL="$DB_URL" \
            JWT_SECRET="$JWT_SECRET" \
            MEDIA_DIR="$OUT/media" \
            CLEANUP_SCHEDULE='0 0 0 1 1 *' \
            RUST_LOG=warn \
            "$API_BIN"
    ) >>"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    local i
    for i in $(seq 1 300); do
        if curl -fsS -o /dev/null "$BASE/health/ready" 2>/dev/null; then
            # Another program may have taken the port since the last stop:
            # then ours failed to bind and someone else answered.
            if command -v ss >/dev/null && ! ss -ltnpH "sport = :$PORT" | grep -q "pid=$SERVER_PID,"; then
                die "another process answers on 127.0.0.1:$PORT, not the coffee-api just started (set PORT=...)"
            fi
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || die "coffee-api exited during start-up"
        sleep 0.1
    done
    die "coffee-api not ready after 30s"
}

# ---------------------------------------------------------------- database
log "recreating database $BENCH_DB"
psql "$PG/postgres" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
DROP DATABASE IF EXISTS "$BENCH_DB" WITH (FORCE);
CREATE DATABASE "$BENCH_DB";
SQL

start_server "migrations"   # creates the schema

# 20 categories; products named "<Adjective> <Item> <n>" with a description
# (NULL for every 10th). The search term is in the name of products n ≡ 1
# (mod 40) and in the description of products n ≡ 21 (mod 40): 1 in 20, half
# through each column. Each product is in 1–3 categories and gets a price
# (100–999 minor units), both from hashtext(), so the data are the same on
# every run but uncorrelated with n (and with the search term).
log "seeding $BENCH_CATEGORIES categories and $BENCH_PRODUCTS products"
psql "$DB_URL" -qX -v ON_ERROR_STOP=1 -v n="$BENCH_PRODUCTS" -v term="$SEARCH_TERM" -f "$BENCH_DIR/sql/seed_menu.sql" >/dev/null

q() { psql "$DB_URL" -AtqX -v ON_ERROR_STOP=1 "$@"; }
read -r N_PRODUCTS N_CATEGORIES N_LINKS MIN_CATS MAX_CATS <<<"$(q -F ' ' -c "
    SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM categories), (SELECT count(*) FROM product_categories),
           min(k), max(k)
    FROM (SELECT count(*) AS k FROM product_categories GROUP BY product_id) AS per_product")"
(( N_PRODUCTS == BENCH_PRODUCTS && N_CATEGORIES == BENCH_CATEGORIES )) \
    || die "seeded $N_PRODUCTS products / $N_CATEGORIES categories"
(( MIN_CATS >= 1 && MAX_CATS <= 3 )) || die "products are in $MIN_CATS..$MAX_CATS categories, expected 1..3"
(( $(q -c "SELECT count(*) FROM products p WHERE NOT EXISTS (SELECT 1 FROM product_categories pc WHERE pc.product_id = p.id)") == 0 )) \
    || die "some products have no category"
CATEGORY_ID=$(q -v name="$FILTER_CATEGORY" <<<"SELECT id FROM categories WHERE name = :'name'")
[[ -n "$CATEGORY_ID" ]] || die "no category named $FILTER_CATEGORY"
IN_CATEGORY=$(q -c "SELECT count(*) FROM product_categories WHERE category_id = '$CATEGORY_ID'")
SEARCH_HITS=$(q -v term="$SEARCH_TERM" <<<"SELECT count(*) FROM products WHERE lower(name) LIKE '%' || :'term' || '%' OR lower(description) LIKE '%' || :'term' || '%'")
EXPECTED_B=$(q -v term="$SEARCH_TERM" -v cat="$CATEGORY_ID" <<<"
    SELECT count(*) FROM products
    WHERE (lower(name) LIKE '%' || :'term' || '%' OR lower(description) LIKE '%' || :'term' || '%')
      AND id IN (SELECT product_id FROM product_categories WHERE category_id = :'cat')")
log "seeded: $N_PRODUCTS products, $N_CATEGORIES categories, $N_LINKS links ($MIN_CATS–$MAX_CATS per product);" \
    "'$SEARCH_TERM' matches $SEARCH_HITS products, $FILTER_CATEGORY holds $IN_CATEGORY, both: $EXPECTED_B"

PATH_A="/products?page_size=20&sort=price"
PATH_B="/products?search=$SEARCH_TERM&category_id=$CATEGORY_ID"
PATH_C="/categories"

# Sanity checks with curl, so a wrong query fails here, not as thousands of
# non-2xx responses.
check() { # check PATH JQ-ASSERTION
    local code
    code=$(curl -sS -o "$OUT/check.json" -w '%{http_code}' -H 'Accept: application/json' "$BASE$1") || true
    [[ "$code" == 200 ]] || die "GET $1 answered $code: $(head -c 500 "$OUT/check.json")"
    jq -e "$2" "$OUT/check.json" >/dev/null || die "GET $1: expected $2, got $(jq -c '{total, page_size, items: (.items | length)}' "$OUT/check.json")"
}
check "$PATH_A" ".total == $BENCH_PRODUCTS and (.items | length) == 20 and ([.items[].price] as \$p | \$p == (\$p | sort))
                 and all(.items[]; (.categories | length) >= 1)"
check "$PATH_B" ".total == $EXPECTED_B and (.items | length) == ([$EXPECTED_B, 20] | min)
                 and all(.items[]; any(.categories[]; .id == \"$CATEGORY_ID\"))
                 and all(.items[]; ((.name + \" \" + (.description // \"\")) | ascii_downcase | contains(\"$SEARCH_TERM\")))"
check "$PATH_C" ".total == $BENCH_CATEGORIES and (.items | length) == $BENCH_CATEGORIES"
stop_server

# ---------------------------------------------------------------- statements per request
# count_statements NAME PATH: $QUERY_SAMPLES sequential requests; the statements
# this database logged meanwhile go to $OUT/NAME.statements. Those on the
# outbox (the relay's poll) are background work and not counted. Also writes
# $OUT/NAME.explainK.sql for the K statements of the first request.
count_statements() {
    local name=$1 path=$2 start end i
    start=$(stat -c %s "$PG_LOG")
    for i in $(seq 1 "$QUERY_SAMPLES"); do
        curl -fsS -o /dev/null -H 'Accept: application/json' "$BASE$path" || die "GET $path failed"
    done
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
my @request = grep { $_->{sql} !~ /"outbox"/ } @stmts;
my $background = @stmts - @request;
open my $out, '>', "$prefix.statements" or die;
print $out $_->{sql}, (@{ $_->{params} } ? "  -- (" . join(', ', @{ $_->{params} }) . ')' : ''), "\n" for @request;
close $out;
my $per = @request / $samples;
if ($per == int $per) {
    for my $i (1 .. $per) {
        my $s = $request[$i - 1];
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
}
print scalar(@request), " $background $per\n";
PERL
    read -r REQ_STMTS BG_STMTS PER_REQ <"$OUT/$name.count"
    echo "$REQ_STMTS" >"$OUT/$name.req_statements"
    echo "$PER_REQ" >"$OUT/$name.per_request"
    log "  $name: $REQ_STMTS statements for $QUERY_SAMPLES requests = $PER_REQ per request (+ $BG_STMTS outbox-relay polls)"
}

log "statement counting: ALTER DATABASE $BENCH_DB SET log_statement = 'all' and a fresh server"
set_statement_logging on
start_server "log_statement = all"
# A few requests first, so the counted ones find warm connections (sqlx
# prepares each statement once per connection; only executions are logged).
for p in "$PATH_A" "$PATH_B" "$PATH_C"; do
    for _ in 1 2 3 4 5; do curl -fsS -o /dev/null "$BASE$p" || die "GET $p failed"; done
done
count_statements list "$PATH_A"
count_statements search "$PATH_B"
count_statements categories "$PATH_C"
stop_server
set_statement_logging off
[[ "$(q -c "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = '$BENCH_DB'")" == 0 ]] \
    || die "log_statement is still set on $BENCH_DB"

# ---------------------------------------------------------------- EXPLAIN ANALYZE
# plan_summary FILE: the access paths of the custom and the generic plan, and
# their execution times.
plan_summary() {
    awk '
        /^-- custom plan/ { part = "custom" } /^-- generic plan/ { part = "generic" }
        {
            line = $0
            if (match(line, /(Seq Scan on|Index Scan using|Index Scan Backward using|Index Only Scan using|Bitmap Index Scan on|Bitmap Heap Scan on) [A-Za-z0-9_."]+( on [A-Za-z0-9_."]+)?/)) {
                node = substr(line, RSTART, RLENGTH)
                if (index(nodes[part], node) == 0) nodes[part] = nodes[part] (nodes[part] == "" ? "" : ", ") node
            } else if (match(line, /(Incremental Sort|Sort|Hash Join|Hash Semi Join|Nested Loop|Nested Loop Semi Join|Merge Join|Hash Right Semi Join|HashAggregate|Aggregate)  \(/)) {
                node = substr(line, RSTART, RLENGTH - 3)
                if (index(ops[part], node) == 0) ops[part] = ops[part] (ops[part] == "" ? "" : ", ") node
            }
            if (match(line, /Execution Time: [0-9.]+ ms/)) time[part] = substr(line, RSTART + 16, RLENGTH - 19)
        }
        END {
            printf "%s; %s | %s | %s; %s | %s", nodes["custom"], ops["custom"], time["custom"], nodes["generic"], ops["generic"], time["generic"]
        }' "$1"
}
statement_kind() { # what a logged statement is, by its text
    case "$1" in
        *'COUNT(*)'*) echo "count" ;;
        *'FROM "product_categories" INNER JOIN "categories"'*) echo "categories of the page" ;;
        *) echo "page" ;;
    esac
}
EXPLAIN_ROWS=""
for name in list search categories; do
    per=$(cat "$OUT/$name.per_request")
    [[ "$per" =~ ^[0-9]+$ ]] || { log "no EXPLAIN for $name: $per statements per request is not a whole number"; continue; }
    for i in $(seq 1 "$per"); do
        psql "$DB_URL" -qX -f "$OUT/$name.explain$i.sql" >"$OUT/$name.explain$i.txt" 2>&1 \
            || die "EXPLAIN of $name statement $i failed: $(tail -n 5 "$OUT/$name.explain$i.txt")"
        sql=$(sed -n 's/^PREPARE q AS //p' "$OUT/$name.explain$i.sql")
        EXPLAIN_ROWS+="| $name | $i: $(statement_kind "$sql") | $(plan_summary "$OUT/$name.explain$i.txt") |"$'\n'
    done
done

# ---------------------------------------------------------------- wrk runs
start_server "benchmark"

run_wrk() { # run_wrk NAME PATH WRK-ARGS...
    local name=$1 path=$2
    shift 2
    echo "$*" >"$OUT/$name.args"
    BENCH_NAME=$name wrk --latency "$@" -s "$BENCH_LUA_DIR/get.lua" "$BASE$path" >"$OUT/$name.txt" 2>&1 &
    BG_PIDS+=("$!")
    wait "${BG_PIDS[-1]}" || die "wrk $name failed: $(cat "$OUT/$name.txt")"
    unset 'BG_PIDS[-1]'
    grep '^RESULT ' "$OUT/$name.txt" >"$OUT/$name.result" || die "wrk $name printed no RESULT line"
}
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$OUT/$1.result"; }

D="${DURATION}s"
log "warm-up: GET $PATH_A 3s"
run_wrk warmup "$PATH_A" -t2 -c32 -d3s
log "1/3 GET $PATH_A (-t2 -c32 -d$D)"
run_wrk list "$PATH_A" -t2 -c32 -d"$D"
log "2/3 GET $PATH_B (-t2 -c32 -d$D)"
run_wrk search "$PATH_B" -t2 -c32 -d"$D"
log "3/3 GET $PATH_C (-t2 -c32 -d$D)"
run_wrk categories "$PATH_C" -t2 -c32 -d"$D"
stop_server

API_CRATES=$(cd "$ROOT" && cargo tree --offline -p coffee-api -e normal,build --prefix none -f '{p}' 2>/dev/null \
    | sed -n "s|.*(\(${ROOT}[^)]*\)).*|\1|p" | sort -u) || true
# shellcheck disable=SC2086 # API_CRATES is a list of paths, one per line
STALE=$(find ${API_CRATES:-"$ROOT/bins" "$ROOT/crates" "$ROOT/migrations"} "$ROOT/Cargo.toml" "$ROOT/Cargo.lock" \
    -name tests -prune -o \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) -newer "$API_BIN" -print | wc -l)
# Server log lines while serving, and while shutting down (after a "stop" marker).
read -r LOG_RUNNING LOG_STOPPING < <(awk '/^---- .* start: / { s = 0; next } /^---- .* stop$/ { s = 1; next }
                                           { n[s]++ } END { print n[0] + 0, n[1] + 0 }' "$OUT/server.log")
ELAPSED=$(( $(date +%s) - START_TIME ))

# ---------------------------------------------------------------- report
row() { # row LABEL NAME
    # shellcheck disable=SC2016 # the backticks are markdown
    printf '| %s | `%s` | %s | %s | %s | %s | %s | %s |\n' "$1" "$(cat "$OUT/$2.args")" \
        "$(field "$2" rps)" "$(field "$2" p50_ms)" "$(field "$2" p99_ms)" "$(field "$2" non2xx)" \
        "$(( $(field "$2" connect) + $(field "$2" read) + $(field "$2" write) + $(field "$2" timeout) ))" \
        "$(cat "$OUT/$2.per_request")"
}

cat <<EOF

## coffee-api menu benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')

Machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg).
Commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$( [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no -- . ':!bench' 2>/dev/null)" ]] && echo ' (working tree modified)'), binary built $(date -u -r "$API_BIN" '+%Y-%m-%d %H:%M UTC')$( (( STALE > 0 )) && echo " (**$STALE source files changed since: rebuild**)").
Database: $N_PRODUCTS products, $N_CATEGORIES categories, $N_LINKS product–category links ($MIN_CATS–$MAX_CATS per product); search '$SEARCH_TERM' matches $SEARCH_HITS products, category $FILTER_CATEGORY holds $IN_CATEGORY, both: $EXPECTED_B. Server log lines (RUST_LOG=warn): $LOG_RUNNING while serving, $LOG_STOPPING while shutting down. Script time: ${ELAPSED}s.

| Scenario | wrk | req/s | p50 ms | p99 ms | non-2xx | socket errors | SQL statements / request |
|---|---|---:|---:|---:|---:|---:|---:|
$(row "(a) \`GET $PATH_A\`" list)
$(row "(b) \`GET /products?search=$SEARCH_TERM&category_id=<$FILTER_CATEGORY>\`" search)
$(row "(c) \`GET $PATH_C\`" categories)

Statements per request: counted with log_statement = 'all' over $QUERY_SAMPLES sequential requests per endpoint (outbox-relay polls excluded); list in \$OUT/*.statements.

| Scenario | statement | custom plan: scans; other nodes | ms | generic plan: scans; other nodes | ms |
|---|---|---|---:|---|---:|
${EXPLAIN_ROWS%$'\n'}

Reports, statements, plans and server log: $OUT
EOF
