#!/usr/bin/env bash
# A local copy of the docker-compose topology, out of plain processes (no
# Docker engine needed): nginx in front of N coffee-api replicas, M
# coffee-worker processes, a private redis-server, an SMTP sink that writes
# every mail to a folder, and a PostgreSQL database on the local server.
# Everything listens on 127.0.0.1 and is started and stopped by PID.
#
#   scripts/cluster.sh start           # build nothing; uses $CARGO_TARGET_DIR/$PROFILE binaries
#   scripts/cluster.sh status
#   scripts/cluster.sh restart-api 1   # SIGTERM replica 1, wait for its exit, start it again
#   scripts/cluster.sh stop-api 1 | start-api 1
#   scripts/cluster.sh stop-redis | start-redis
#   scripts/cluster.sh cut-db | restore-db   # with DB_PROXY=1: PostgreSQL goes away / returns
#   scripts/cluster.sh env             # shell exports: CLUSTER_URL, DATABASE_URL, REDIS_URL, MAIL_DIR
#   scripts/cluster.sh stop
#
# Settings (environment): APIS (2), WORKERS (1), PROFILE (debug|release,
# default debug), BUILD=1 (cargo build the binaries first), CLUSTER_DIR
# (/tmp/coffee-cluster: pids, logs, mail, configs), PORT_BASE (18300: nginx
# on it, replicas on +1…, Redis on +99), PG (postgres://postgres@127.0.0.1:5432),
# CLUSTER_DB (coffee_cluster, recreated by `start`), and any coffee-api
# setting in CLUSTER_ENV ("AUTH_RATE_LIMIT=off SHUTDOWN_DRAIN=3s").
# DB_PROXY=1 puts a cuttable TCP proxy (coffee-testkit's tcp_proxy example)
# between every replica and worker and PostgreSQL, for `cut-db`/`restore-db`;
# `env` keeps printing the direct DATABASE_URL.
# nginx comes from Debian's package; `start` installs it when missing (as
# root, or through password-less sudo). Every process runs from an empty
# directory under /tmp: coffee-api and coffee-worker would read a .env in
# their working directory or any parent (dotenvy), `env -i` or not.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Absolute, as every path a process is given: none runs from here (see launch).
absolute() { if [[ "$1" == /* ]]; then echo "$1"; else echo "$PWD/$1"; fi; }
CARGO_TARGET_DIR=$(absolute "${CARGO_TARGET_DIR:-$HOME/.cache/coffee-target}")
PROFILE=${PROFILE:-debug}
APIS=${APIS:-2}
WORKERS=${WORKERS:-1}
DIR=$(absolute "${CLUSTER_DIR:-/tmp/coffee-cluster}")
PORT_BASE=${PORT_BASE:-18300}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
CLUSTER_DB=${CLUSTER_DB:-coffee_cluster}
REDIS_PORT=$((PORT_BASE + 99))
BIN="$CARGO_TARGET_DIR/$PROFILE"
JWT_SECRET=${JWT_SECRET:-cluster-jwt-secret-0123456789abcdef0123456789}
ADMIN_EMAIL=${ADMIN_EMAIL:-admin@cluster.example.com}
ADMIN_PASSWORD=${ADMIN_PASSWORD:-cluster-admin-password}

die() { echo "cluster: $*" >&2; exit 1; }
log() { echo "cluster: $*" >&2; }

pid_of() { [[ -f "$DIR/pids/$1" ]] && cat "$DIR/pids/$1"; }
alive() { local pid; pid=$(pid_of "$1") && kill -0 "$pid" 2>/dev/null; }
api_port() { echo $((PORT_BASE + $1)); }

# The first .env dotenvy would find from directory $1 (there or in a parent).
dotenv_from() { # dir
    local d=$1
    while :; do
        [[ -e "$d/.env" ]] && { echo "$d/.env"; return 0; }
        [[ "$d" == / ]] && return 1
        d=$(dirname "$d")
    done
}

# Starts `name` in the background with its output in logs/<name>.log, from
# the empty working directory `start` made (its path in $DIR/cwd), so that no
# .env leaks in; the subshell execs, so the PID is the process's own.
launch() { # name command...
    local name=$1 cwd; shift
    [[ -f "$DIR/cwd" ]] || die "no working directory in $DIR/cwd (start the cluster first)"
    cwd=$(cat "$DIR/cwd")
    (cd "$cwd" && exec "$@") >>"$DIR/logs/$name.log" 2>&1 &
    echo $! >"$DIR/pids/$name"
}

# Sends SIGTERM and waits up to $2 seconds (then SIGKILL).
terminate() { # name seconds
    local pid
    pid=$(pid_of "$1") || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 $(($2 * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$1 did not stop within $2 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$DIR/pids/$1"
}

wait_http() { # url seconds what
    for _ in $(seq 1 $(($2 * 10))); do
        curl -fs -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    die "$3 is not ready at $1 after $2 s"
}

# The database URL the replicas and workers use: through the proxy with DB_PROXY=1.
app_db_url() {
    [[ -f "$DIR/dbproxy.port" ]] || { echo "$PG/$CLUSTER_DB"; return; }
    local prefix
    if [[ "$PG" == *@* ]]; then prefix="${PG%@*}@"; else prefix="${PG%%://*}://"; fi
    echo "${prefix}127.0.0.1:$(cat "$DIR/dbproxy.port")/$CLUSTER_DB"
}

start_db_proxy() {
    local upstream=${PG#*://}
    upstream=${upstream#*@}
    upstream=${upstream%%/*}
    launch dbproxy "$BIN/examples/tcp_proxy" "$upstream" "$DIR/dbproxy.port"
    for _ in $(seq 1 50); do [[ -f "$DIR/dbproxy.port" ]] && return 0; sleep 0.1; done
    die "the database proxy did not start"
}

# Sets ENV_CMD: `env -i` with the settings of one process on `port`.
app_env() { # port migrate
    local mail_port extra=()
    mail_port=$(cat "$DIR/mail/port")
    read -r -a extra <<<"${CLUSTER_ENV:-}"
    ENV_CMD=(env -i PATH="$PATH" HOME="$HOME" HOST=127.0.0.1 PORT="$1" \
        DATABASE_URL="$(app_db_url)" DATABASE_MAX_CONNECTIONS=8 RUN_MIGRATIONS="$2" \
        REDIS_URL="redis://127.0.0.1:$REDIS_PORT" JOBS_QUEUE=coffee-cluster \
        SMTP_URL="smtp://127.0.0.1:$mail_port" JWT_SECRET="$JWT_SECRET" APP_ENV=production \
        ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
        TRUSTED_PROXIES=127.0.0.1 PUBLIC_BASE_URL="http://127.0.0.1:$PORT_BASE" \
        SHOP_INFO_FILE="$DIR/shop.toml" MEDIA_DIR="$DIR/media" RUST_LOG=info LOG_FORMAT=json \
        "${extra[@]}")
}

start_api() { # n
    local port migrate=false
    port=$(api_port "$1")
    alive "api-$1" && die "api-$1 is already running"
    [[ "$1" == 1 ]] && migrate=true
    app_env "$port" "$migrate"
    launch "api-$1" "${ENV_CMD[@]}" "$BIN/coffee-api"
    wait_http "http://127.0.0.1:$port/health/ready" 60 "api-$1"
}

start_worker() { # n
    app_env 0 false
    launch "worker-$1" "${ENV_CMD[@]}" "$BIN/coffee-worker"
}

start_redis() {
    mkdir -p "$DIR/redis"
    launch redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR/redis" \
        --appendonly yes --appendfsync everysec --save ""
    for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
    die "redis-server did not start: $(tail -3 "$DIR/logs/redis.log")"
}

write_nginx_conf() {
    local servers="" n
    for n in $(seq 1 "$APIS"); do
        servers+="        server 127.0.0.1:$(api_port "$n") max_fails=1 fail_timeout=2s;"$'\n'
    done
    mkdir -p "$DIR/nginx/tmp"
    # Like deploy/nginx.conf, with a static upstream instead of Docker's DNS.
    cat >"$DIR/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $DIR/nginx/nginx.pid;
error_log $DIR/logs/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $DIR/nginx/tmp/body;
    proxy_temp_path $DIR/nginx/tmp/proxy;
    fastcgi_temp_path $DIR/nginx/tmp/fastcgi;
    uwsgi_temp_path $DIR/nginx/tmp/uwsgi;
    scgi_temp_path $DIR/nginx/tmp/scgi;
    upstream coffee_api {
$servers    }
    server {
        listen 127.0.0.1:$PORT_BASE;
        client_max_body_size 6m;
        location = /_proxy/health { return 200 "ok\n"; }
        location / {
            proxy_pass http://coffee_api;
            proxy_http_version 1.1;
            proxy_set_header Host \$http_host;
            # As in deploy/nginx.conf: the edge names the peer it saw, only.
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header Connection "";
            # As in deploy/nginx.conf: a replica that stops resets the
            # connections still in its accept queue; those requests were
            # never read, so they go to the next replica, POSTs included.
            proxy_next_upstream error timeout non_idempotent;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
        }
        location ~ ^/ws(/|\$) {
            proxy_pass http://coffee_api;
            proxy_http_version 1.1;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 1h;
            proxy_buffering off;
        }
    }
}
NGINX
}

write_shop() {
    local days="" d
    for d in mon tue wed thu fri sat sun; do
        days+="[[opening_hours]]"$'\n'"day = \"$d\""$'\n'"open = \"00:00\""$'\n'"close = \"00:00\""$'\n'
    done
    cat >"$DIR/shop.toml" <<TOML
name = "Cluster Coffee"
address = "1 Loopback Street"
phone = "+998 71 000 00 00"
email = "shop@cluster.example.com"
currency = "EUR"
timezone = "UTC"
location = { lat = 41.3, lng = 69.24 }
$days
TOML
}

# nginx's path: Debian puts it in /usr/sbin, which a user's PATH may lack.
nginx_bin() { command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; }; }

# As scripts/install-chromium.sh: apt-get as root or through `sudo -n`.
ensure_nginx() {
    nginx_bin >/dev/null && return 0
    command -v apt-get >/dev/null || die "nginx is missing and there is no apt-get to install it"
    local sudo=() apt
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            die "nginx is missing; not root and no password-less sudo to install it"
        fi
    fi
    apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
    log "installing Debian's nginx"
    # nginx-light where Debian still has it; no package lists yet (a fresh
    # machine) or stale ones: update them and try again.
    if ! { "${apt[@]}" install -y -q --no-install-recommends nginx-light ||
        "${apt[@]}" install -y -q --no-install-recommends nginx; } >/dev/null 2>&1; then
        log "updating the package lists"
        "${apt[@]}" update -qq >/dev/null || die "apt-get update failed"
        "${apt[@]}" install -y -q --no-install-recommends nginx-light >/dev/null 2>&1 ||
            "${apt[@]}" install -y -q --no-install-recommends nginx >/dev/null ||
            die "cannot install nginx"
    fi
    nginx_bin >/dev/null || die "nginx is not on PATH or in /usr/sbin after installing it"
}

start() {
    [[ -d "$DIR/pids" && -n "$(ls -A "$DIR/pids" 2>/dev/null)" ]] && die "a cluster runs in $DIR (stop it first)"
    if [[ "${BUILD:-0}" == 1 ]]; then
        local flag=()
        [[ "$PROFILE" == release ]] && flag=(--release)
        (cd "$ROOT" && CARGO_TARGET_DIR="$CARGO_TARGET_DIR" cargo build "${flag[@]}" \
            -p coffee-api -p coffee-worker --bins && CARGO_TARGET_DIR="$CARGO_TARGET_DIR" \
            cargo build "${flag[@]}" -p coffee-testkit --example smtp_sink --example tcp_proxy)
    fi
    local needed=(coffee-api coffee-worker examples/smtp_sink)
    [[ "${DB_PROXY:-0}" == 1 ]] && needed+=(examples/tcp_proxy)
    for b in "${needed[@]}"; do
        [[ -x "$BIN/$b" ]] || die "missing $BIN/$b (run with BUILD=1)"
    done
    command -v redis-server >/dev/null || die "redis-server is not installed"
    ensure_nginx
    rm -rf "$DIR"
    mkdir -p "$DIR"/{pids,logs,mail,media}
    # The processes' working directory (see launch); `stop` removes it.
    local cwd found
    cwd=$(mktemp -d /tmp/coffee-cluster-cwd.XXXXXX)
    echo "$cwd" >"$DIR/cwd"
    if found=$(dotenv_from "$cwd"); then die "$found would configure every process; move it away"; fi
    psql "$PG/postgres" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
DROP DATABASE IF EXISTS "$CLUSTER_DB" WITH (FORCE);
CREATE DATABASE "$CLUSTER_DB";
SQL
    write_shop
    [[ "${DB_PROXY:-0}" == 1 ]] && start_db_proxy
    start_redis
    launch mail "$BIN/examples/smtp_sink" "$DIR/mail"
    for _ in $(seq 1 50); do [[ -f "$DIR/mail/port" ]] && break; sleep 0.1; done
    [[ -f "$DIR/mail/port" ]] || die "the SMTP sink did not start"
    local n
    for n in $(seq 1 "$APIS"); do start_api "$n"; done
    for n in $(seq 1 "$WORKERS"); do start_worker "$n"; done
    write_nginx_conf
    launch nginx "$(nginx_bin)" -c "$DIR/nginx/nginx.conf" -e "$DIR/logs/nginx-error.log"
    wait_http "http://127.0.0.1:$PORT_BASE/health/ready" 20 "nginx"
    log "up: http://127.0.0.1:$PORT_BASE ($APIS replicas, $WORKERS workers); state in $DIR"
}

stop() {
    local file
    terminate nginx 5
    for file in "$DIR"/pids/api-*; do [[ -e "$file" ]] && terminate "${file##*/}" 30 & done
    wait
    for file in "$DIR"/pids/worker-*; do [[ -e "$file" ]] && terminate "${file##*/}" 40 & done
    wait
    terminate mail 5
    terminate dbproxy 5
    terminate redis 5
    # The working directory, nothing running from it any more (kept if not empty).
    if [[ -f "$DIR/cwd" ]]; then
        rmdir "$(cat "$DIR/cwd")" 2>/dev/null || true
        rm -f "$DIR/cwd"
    fi
    log "stopped"
}

status() {
    local file name
    for file in "$DIR"/pids/*; do
        [[ -e "$file" ]] || continue
        name=${file##*/}
        if alive "$name"; then echo "$name: running (pid $(pid_of "$name"))"; else echo "$name: NOT running"; fi
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    start-api) start_api "${2:?replica number}" ;;
    stop-api) terminate "api-${2:?replica number}" 30 ;;
    restart-api) terminate "api-${2:?replica number}" 30; start_api "$2" ;;
    start-worker) start_worker "${2:?worker number}" ;;
    stop-worker) terminate "worker-${2:?worker number}" 40 ;;
    kill-worker) kill -KILL "$(pid_of "worker-${2:?worker number}")"; rm -f "$DIR/pids/worker-$2" ;;
    start-redis) start_redis ;;
    stop-redis) terminate redis 5 ;;
    cut-db) kill -USR1 "$(pid_of dbproxy)" || die "no database proxy (start with DB_PROXY=1)" ;;
    restore-db) kill -USR2 "$(pid_of dbproxy)" || die "no database proxy (start with DB_PROXY=1)" ;;
    env)
        # Quoted for the shell that evals them: PG may carry a password
        # with `$`, `&` or `;` in it.
        printf 'export %s=%q\n' CLUSTER_URL "http://127.0.0.1:$PORT_BASE" DATABASE_URL "$PG/$CLUSTER_DB" \
            REDIS_URL "redis://127.0.0.1:$REDIS_PORT" MAIL_DIR "$DIR/mail" \
            ADMIN_EMAIL "$ADMIN_EMAIL" ADMIN_PASSWORD "$ADMIN_PASSWORD"
        ;;
    *) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
