#!/usr/bin/env bash
# Proves that the OpenAPI document at /openapi.json tells the truth, against
# a real coffee-api (debug build, embedded profile: SQLite file, mail to the
# log, no Redis) that this script builds, starts and stops itself:
#
#   0. openapi-spec-validator accepts the document as OpenAPI 3.0;
#   1. the Python client openapi-python-client generates from the document,
#      unpatched, signs up, verifies with the code from the logged mail, logs
#      in (JSON and form), reads and changes /me, and as admin creates a
#      category (scripts/openapi/drive_python.py);
#   2. the TypeScript types openapi-typescript generates, with openapi-fetch,
#      do the same after `tsc --strict` accepts the driving code
#      (scripts/openapi/drive.ts);
#   3. Schemathesis runs every check (`--checks all`) twice, without a token
#      and with an admin's bearer token; any failure or error fails the script.
#      scripts/openapi/schemathesis.toml lists, with its reason, each operation
#      for which a schema-valid request may still be refused by a rule the
#      schema cannot state. No check is excluded.
#
# The clients run first: Schemathesis, as admin, may change the admin account.
#
# Tools are pinned (scripts/openapi/requirements.txt, package-lock.json) and
# installed once under $COFFEE_OPENAPI_HOME (default ~/.cache/coffee-openapi),
# reused while the pins stay the same; the first run needs the Python package
# index and the npm registry. Needs python3 (venv, pip), node >= 20, npm.
#
# Knobs: OPENAPI_CHECK_EXAMPLES (test cases per operation and phase, default
# 40), OPENAPI_CHECK_SEED (default 1; a fixed seed keeps CI reproducible).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

TOOLS_HOME="${COFFEE_OPENAPI_HOME:-$HOME/.cache/coffee-openapi}"
VENV="$TOOLS_HOME/venv"
NODE_HOME="$TOOLS_HOME/node"
EXAMPLES="${OPENAPI_CHECK_EXAMPLES:-40}"
SEED="${OPENAPI_CHECK_SEED:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/coffee-target}"
# Absolute (cargo reads a relative one from here): the server runs elsewhere.
[[ "$CARGO_TARGET_DIR" == /* ]] || CARGO_TARGET_DIR="$repo/$CARGO_TARGET_DIR"
ADMIN_EMAIL="openapi-admin@example.com"
ADMIN_PASSWORD="openapi-check-admin-password"

log() { echo "openapi-check: $*"; }

install_python_tools() {
  local stamp="$VENV/.coffee-openapi-requirements"
  if [[ -x "$VENV/bin/python" && -f "$stamp" ]] && cmp -s "$stamp" scripts/openapi/requirements.txt; then
    return
  fi
  log "installing schemathesis and openapi-python-client into $VENV"
  rm -rf "$VENV"
  mkdir -p "$TOOLS_HOME"
  python3 -m venv "$VENV"
  PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$VENV/bin/python" -m pip install --quiet --only-binary=:all: -r scripts/openapi/requirements.txt
  cp scripts/openapi/requirements.txt "$stamp"
}

install_node_tools() {
  local stamp="$NODE_HOME/.coffee-openapi-lock"
  if [[ -d "$NODE_HOME/node_modules" && -f "$stamp" ]] && cmp -s "$stamp" scripts/openapi/package-lock.json; then
    return
  fi
  log "installing openapi-typescript, openapi-fetch and typescript into $NODE_HOME"
  rm -rf "$NODE_HOME"
  mkdir -p "$NODE_HOME"
  cp scripts/openapi/package.json scripts/openapi/package-lock.json "$NODE_HOME/"
  (cd "$NODE_HOME" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  cp scripts/openapi/package-lock.json "$stamp"
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

started=$SECONDS
install_python_tools
install_node_tools

log "building coffee-api"
cargo build --locked --quiet -p coffee-api --bin coffee-api

# Under /tmp, whatever TMPDIR says: the server runs from $work/server (below).
work="$(mktemp -d /tmp/coffee-openapi.XXXXXX)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(free_port)"
base="http://127.0.0.1:$port"
server_log="$work/server.log"
mkdir -p "$work/media" "$work/server"
# The server reads a .env in its working directory or any parent (dotenvy),
# past `env -i`: it runs from the empty $work/server, with absolute paths only.
dir="$work/server"
while :; do
  if [[ -e "$dir/.env" ]]; then
    log "$dir/.env would configure coffee-api; move it away"
    exit 1
  fi
  [[ "$dir" != / ]] || break
  dir="$(dirname "$dir")"
done
# A clean environment: nothing from the caller's (or CI's) configuration
# leaks in; no REDIS_URL and no SMTP_URL is the embedded profile. The
# subshell execs, so $server_pid is the server's own.
(cd "$work/server" && exec env -i PATH="$PATH" HOME="$HOME" \
  APP_ENV=development HOST=127.0.0.1 PORT="$port" PUBLIC_BASE_URL="$base" \
  DATABASE_URL="sqlite://$work/coffee.db?mode=rwc" MEDIA_DIR="$work/media" \
  JWT_SECRET="openapi-check-secret-$(date +%s%N)-0123456789abcdef" \
  ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  AUTH_RATE_LIMIT=off SHUTDOWN_DRAIN=0 LOG_FORMAT=json RUST_LOG=info \
  "$CARGO_TARGET_DIR/debug/coffee-api") >"$server_log" 2>&1 &
server_pid=$!

log "waiting for coffee-api on $base"
for _ in $(seq 1 120); do
  if "$VENV/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "$base/health/ready" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    tail -n 40 "$server_log" >&2
    log "coffee-api exited before it was ready"
    exit 1
  fi
  sleep 0.5
done
"$VENV/bin/python" -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
  "$base/openapi.json" "$work/openapi.json"

failed=()
parts=0 # parts run: each one passes or adds its name to failed

log "== the document is valid OpenAPI (openapi-spec-validator)"
parts=$((parts + 1))
if ! "$VENV/bin/openapi-spec-validator" "$work/openapi.json"; then
  failed+=("openapi-spec-validator")
fi

log "== Python client (openapi-python-client $("$VENV/bin/openapi-python-client" --version | awk '{print $NF}'))"
parts=$((parts + 1))
printf 'project_name_override: coffee-client\npackage_name_override: coffee_client\n' >"$work/python-client.yaml"
# The generator's default post-hooks format the code with ruff from the venv.
if PATH="$VENV/bin:$PATH" "$VENV/bin/openapi-python-client" generate --path "$work/openapi.json" \
  --output-path "$work/python/coffee_client" --meta none --config "$work/python-client.yaml" >"$work/python-gen.log" 2>&1 &&
  "$VENV/bin/python" scripts/openapi/drive_python.py "$work/python" "$base" "$server_log" "$ADMIN_EMAIL" "$ADMIN_PASSWORD"; then
  :
else
  cat "$work/python-gen.log" >&2
  failed+=("python client")
fi

log "== TypeScript client (openapi-typescript + openapi-fetch)"
parts=$((parts + 1))
mkdir -p "$work/ts"
cp scripts/openapi/drive.ts scripts/openapi/tsconfig.json scripts/openapi/package.json "$work/ts/"
ln -s "$NODE_HOME/node_modules" "$work/ts/node_modules"
if (
  cd "$work/ts" &&
    node_modules/.bin/openapi-typescript "$work/openapi.json" --output schema.d.ts --silent &&
    node_modules/.bin/tsc --project tsconfig.json &&
    node out/drive.js "$base" "$server_log" "$ADMIN_EMAIL" "$ADMIN_PASSWORD"
); then
  :
else
  failed+=("typescript client")
fi

schemathesis() { # label, extra st arguments...
  local label="$1"
  shift
  log "== schemathesis ($label): every check, $EXAMPLES examples per operation, seed $SEED"
  parts=$((parts + 1))
  # One worker: with threads, Hypothesis trips over a CPython 3.11 race in
  # its AST parsing ("AST constructor recursion depth mismatch").
  # From the work directory: Schemathesis keeps a cache (.schemathesis/) in its current directory.
  if ! (cd "$work" && "$VENV/bin/st" --config-file "$repo/scripts/openapi/schemathesis.toml" run "$base/openapi.json" \
    --checks all --max-examples "$EXAMPLES" --seed "$SEED" --workers 1 "$@"); then
    failed+=("schemathesis ($label)")
  fi
}

schemathesis "no token"
token="$("$VENV/bin/python" - "$base" "$ADMIN_EMAIL" "$ADMIN_PASSWORD" <<'PY'
import json
import sys
import urllib.request

base, email, password = sys.argv[1:4]
request = urllib.request.Request(
    f"{base}/auth/login",
    data=json.dumps({"email": email, "password": password}).encode(),
    headers={"Content-Type": "application/json"},
)
print(json.load(urllib.request.urlopen(request))["access_token"])
PY
)"
schemathesis "admin token" --header "Authorization: Bearer $token"

# The parts run (the validator, two clients, two Schemathesis runs) less
# those that failed; a dead server fails the lot.
passed=$((parts - ${#failed[@]}))
if ! kill -0 "$server_pid" 2>/dev/null; then
  failed+=("coffee-api died during the run")
  passed=0
fi
if [[ ${#failed[@]} -gt 0 ]]; then
  tail -n 20 "$server_log" >&2
  log "FAILED: ${failed[*]} ($((SECONDS - started)) s)"
  echo "openapi-check: $passed passed, ${#failed[@]} failed"
  exit 1
fi
log "the document matches the server: both clients work, schemathesis found nothing ($((SECONDS - started)) s)"
echo "openapi-check: $passed passed, 0 failed"
