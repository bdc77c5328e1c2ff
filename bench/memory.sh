#!/usr/bin/env bash
# Memory benchmark of coffee-api: resident memory (RSS) idle, at the peak and
# after a login storm, a storm past the hashing queue, an upload burst, a
# burst of gzip bombs (small compressed bodies that inflate to 60 MB) and a
# GET /me load, for one or more binaries side by side. See bench/README.md
# ("Memory"). Manual, never in CI; takes ~1 minute per variant.
#
# VARIANTS is a space-separated list of LABEL=BINARY[,ENV=VALUE...]; each is
# run in turn against a fresh database. Default: new=<release coffee-api>,
# plus, when BASE_BIN is set, base=$BASE_BIN and
# base-mmap=$BASE_BIN,MALLOC_MMAP_THRESHOLD_=131072 (glibc's fixed mmap threshold).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BENCH_LUA_DIR="$ROOT/bench/lua"

CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/coffee-target}
PORT=${PORT:-18094}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
BENCH_DB=${BENCH_DB:-coffee_bench_memory}
STORM_SECONDS=${STORM_SECONDS:-10}
STORM_CONNECTIONS=${STORM_CONNECTIONS:-64}
FLOOD_CONNECTIONS=${FLOOD_CONNECTIONS:-200}
UPLOADS=${UPLOADS:-20}
BOMBS=${BOMBS:-20}              # concurrent logins, each a 58 KB gzip body of 60 MB of zeros
SETTLE=${SETTLE:-6}             # seconds after a phase before "after" is read
ADMIN_EMAIL=admin@bench.example.com
ADMIN_PASSWORD=bench-admin-password-1234
JWT_SECRET=bench-jwt-secret-0123456789abcdef0123456789
OUT=${OUT:-$(mktemp -d /tmp/coffee-bench-memory.XXXXXX)}
mkdir -p "$OUT"
BASE="http://127.0.0.1:$PORT"

die() { echo "memory: $*" >&2; exit 1; }
log() { echo "memory: $*" >&2; }

if [[ -z "${VARIANTS:-}" ]]; then
    VARIANTS=""
    if [[ -n "${BASE_BIN:-}" ]]; then
        VARIANTS="base=$BASE_BIN base-mmap=$BASE_BIN,MALLOC_MMAP_THRESHOLD_=131072 "
    fi
    VARIANTS+="new=${NEW_BIN:-$CARGO_TARGET_DIR/release/coffee-api}"
fi

for tool in wrk psql curl jq python3; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install -y wrk postgresql-client curl jq python3)"
done
for variant in $VARIANTS; do
    bin=${variant#*=}; bin=${bin%%,*}
    [[ -x "$bin" ]] || die "$bin is missing (cargo build --release -p coffee-api)"
done
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "something already listens on 127.0.0.1:$PORT (set PORT=...)"
fi
psql "$PG/postgres" -Atqc 'select 1' >/dev/null || die "PostgreSQL is not reachable at $PG"

SERVER_PID=""
SAMPLER_PID=""
stop_server() {
    [[ -n "$SAMPLER_PID" ]] && kill "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
# shellcheck disable=SC2154 # status is assigned inside the trap
trap 'status=$?; stop_server; (( status == 0 )) || log "failed (exit $status); logs in $OUT"' EXIT
trap 'exit 130' INT TERM

# A 5 MiB - 1 KiB PNG: a 1x1 PNG whose image data chunk carries random bytes.
# The server reads the signature, the header and the chunks, not the pixels,
# and stores every chunk of this one (none is metadata).
IMAGE="$OUT/image.png"
python3 - "$IMAGE" $((5 * 1024 * 1024 - 1024)) <<'PY'
import os, struct, sys, zlib

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

path, size = sys.argv[1], int(sys.argv[2])
head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
end = chunk(b"IEND", b"")
with open(path, "wb") as f:
    f.write(head + chunk(b"IDAT", os.urandom(size - len(head) - len(end) - 12)) + end)
PY

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.0f", kb / 1024 }'; }

# drain: waits until the hashes the server still has queued are done. When a
# wrk run ends, requests it leaves in flight are still hashed (the server
# finishes a request whose client has gone); a failed login sent now is
# queued behind them (or refused as busy while the queue is full: retry), so
# its answer means the backlog is gone.
drain() {
    local code
    for _ in $(seq 1 600); do
        code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 300 -H 'Content-Type: application/json' \
            -d '{"email":"drain@bench.example.com","password":"wrong password"}' "$BASE/auth/login")
        [[ "$code" == 503 ]] || return 0
        sleep 0.2
    done
}

# phase NAME COMMAND...: RSS before (idle), the maximum sampled every 50 ms
# while COMMAND runs and its backlog drains, and after SETTLE seconds of quiet.
phase() {
    local name=$1 before peak after
    shift
    before=$(rss_kb)
    (while kill -0 "$SERVER_PID" 2>/dev/null; do rss_kb; sleep 0.05; done) >"$OUT/$LABEL.$name.rss" 2>/dev/null &
    SAMPLER_PID=$!
    "$@"
    drain
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
    peak=$(sort -n "$OUT/$LABEL.$name.rss" | tail -n1)
    sleep "$SETTLE"
    after=$(rss_kb)
    echo "$LABEL $name $(mb "$before") $(mb "$peak") $(mb "$after")" >>"$OUT/rss.txt"
    log "  $name: idle $(mb "$before") MB, peak $(mb "$peak") MB, after $(mb "$after") MB"
}

storm() { # storm NAME CONNECTIONS
    BENCH_NAME="$LABEL.$1" wrk -t2 -c"$2" -d"${STORM_SECONDS}s" --timeout 30s \
        -s "$BENCH_LUA_DIR/login_storm.lua" "$BASE/auth/login" >"$OUT/$LABEL.$1.txt" 2>&1
}
uploads() {
    seq 1 "$UPLOADS" | xargs -P "$UPLOADS" -I{} curl -sS -o /dev/null -w '%{http_code}\n' \
        -H "Authorization: Bearer $TOKEN" -F "file=@$IMAGE;type=image/png" \
        "$BASE/products/$PRODUCT/image" >"$OUT/$LABEL.uploads.codes"
}
bombs() {
    seq 1 "$BOMBS" | xargs -P "$BOMBS" -I{} curl -sS -o /dev/null -w '%{http_code}\n' \
        -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' --data-binary "@$OUT/bomb.gz" \
        "$BASE/auth/login" >"$OUT/$LABEL.bombs.codes"
}
me_load() {
    BENCH_NAME="$LABEL.me" BENCH_TOKEN=$TOKEN wrk -t2 -c32 -d"${STORM_SECONDS}s" \
        -s "$BENCH_LUA_DIR/get_auth.lua" "$BASE/me" >"$OUT/$LABEL.me.txt" 2>&1
}

head -c 60000000 /dev/zero | gzip -9 >"$OUT/bomb.gz"
: >"$OUT/rss.txt"
: >"$OUT/rates.txt"
for variant in $VARIANTS; do
    LABEL=${variant%%=*}
    spec=${variant#*=}
    IFS=, read -r -a parts <<<"$spec"
    bin=${parts[0]}
    extra=("${parts[@]:1}")
    log "$LABEL: $bin ${extra[*]}"
    psql "$PG/postgres" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
DROP DATABASE IF EXISTS "$BENCH_DB" WITH (FORCE);
CREATE DATABASE "$BENCH_DB";
SQL
    (
        cd "$OUT"
        exec env -i PATH="$PATH" HOME="$HOME" PORT="$PORT" HOST=127.0.0.1 \
            DATABASE_URL="$PG/$BENCH_DB" JWT_SECRET="$JWT_SECRET" \
            ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
            ACCESS_TOKEN_TTL=1h AUTH_RATE_LIMIT=off RUST_LOG=warn MEDIA_DIR="$OUT/media-$LABEL" \
            "${extra[@]}" "$bin"
    ) >"$OUT/$LABEL.server.log" 2>&1 &
    SERVER_PID=$!
    for i in $(seq 1 300); do
        curl -fsS -o /dev/null "$BASE/health/ready" 2>/dev/null && break
        kill -0 "$SERVER_PID" 2>/dev/null || die "$LABEL: coffee-api exited during start-up"
        (( i < 300 )) || die "$LABEL: not ready after 30s"
        sleep 0.1
    done
    TOKEN=$(curl -fsS -H 'Content-Type: application/json' \
        -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" "$BASE/auth/login" | jq -er .access_token)
    PRODUCT=$(curl -fsS -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
        -d '{"name":"Bench Espresso","price":250}' "$BASE/products" | jq -er .id)
    sleep 5 # the start-up hashes (admin, dummy) are done and their memory released
    echo "$LABEL start $(mb "$(rss_kb)")" >>"$OUT/rss.txt"

    phase storm storm storm "$STORM_CONNECTIONS"
    phase flood storm flood "$FLOOD_CONNECTIONS"
    phase uploads uploads
    phase bombs bombs
    phase me me_load
    for name in storm flood; do
        grep -h '^RESULT\|^STATUS' "$OUT/$LABEL.$name.txt" >>"$OUT/rates.txt" \
            || die "$LABEL $name: wrk printed no RESULT: $(cat "$OUT/$LABEL.$name.txt")"
    done
    grep -h '^RESULT' "$OUT/$LABEL.me.txt" >>"$OUT/rates.txt" || die "$LABEL me: no RESULT"
    echo "UPLOADS name=$LABEL $(sort "$OUT/$LABEL.uploads.codes" | uniq -c | awk '{ printf "%s×%s ", $1, $2 }')" >>"$OUT/rates.txt"
    echo "BOMBS name=$LABEL $(sort "$OUT/$LABEL.bombs.codes" | uniq -c | awk '{ printf "%s×%s ", $1, $2 }')" >>"$OUT/rates.txt"
    stop_server
done

# ---------------------------------------------------------------- report
val() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
echo
echo "## coffee-api memory — $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "Machine: $(nproc) CPUs, load average after: $(cut -d' ' -f1-3 /proc/loadavg). Commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')."
echo "RSS in MB (idle before the phase / peak during it / ${SETTLE} s after it). Storm: ${STORM_SECONDS} s of failed logins at ${STORM_CONNECTIONS} connections; flood: the same at ${FLOOD_CONNECTIONS}; uploads: ${UPLOADS} concurrent 5 MiB images; bombs: ${BOMBS} concurrent logins, each $(stat -c %s "$OUT/bomb.gz") bytes of gzip inflating to 60 MB; /me: ${STORM_SECONDS} s at 32 connections."
echo
echo "| variant | start | storm | flood | uploads | bombs | /me | storm logins/s | flood: checked/s, 503 busy | /me req/s | uploads | bombs |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
for variant in $VARIANTS; do
    LABEL=${variant%%=*}
    cells=()
    for name in storm flood uploads bombs me; do
        read -r _ _ idle peak after < <(grep "^$LABEL $name " "$OUT/rss.txt")
        cells+=("$idle / **$peak** / $after")
    done
    start=$(sed -n "s/^$LABEL start //p" "$OUT/rss.txt")
    storm_status=$(grep "^STATUS name=$LABEL.storm " "$OUT/rates.txt")
    flood_status=$(grep "^STATUS name=$LABEL.flood " "$OUT/rates.txt")
    storm_rate=$(awk -v n="$(val "$storm_status" s401)" -v d="$STORM_SECONDS" 'BEGIN { printf "%.1f", n / d }')
    flood_rate=$(awk -v n="$(val "$flood_status" s401)" -v d="$STORM_SECONDS" 'BEGIN { printf "%.1f", n / d }')
    me_rps=$(val "$(grep "^RESULT name=$LABEL.me " "$OUT/rates.txt")" rps)
    upload_codes=$(sed -n "s/^UPLOADS name=$LABEL //p" "$OUT/rates.txt")
    bomb_codes=$(sed -n "s/^BOMBS name=$LABEL //p" "$OUT/rates.txt")
    echo "| $LABEL | $start | ${cells[0]} | ${cells[1]} | ${cells[2]} | ${cells[3]} | ${cells[4]} | $storm_rate | $flood_rate, $(val "$flood_status" s503) | $me_rps | $upload_codes| $bomb_codes|"
done
echo
echo "Variants: $VARIANTS"
echo "wrk reports, RSS samples and server logs: $OUT"
