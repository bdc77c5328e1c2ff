#!/usr/bin/env bash
# Container health check of the coffee image, installed as
# /usr/local/bin/coffee-healthcheck. The image has no curl: this speaks just
# enough HTTP/1.1 over bash's /dev/tcp.
#
#   coffee-api:    healthy when GET /health/ready answers 200 (the database
#                  and, if REDIS_URL is set, Redis are reachable).
#   coffee-worker: serves no HTTP; it retries unreachable dependencies itself
#                  and exits only on a fatal error, so a running process is
#                  all there is to check (compose disables the check anyway).
#
# Usage: coffee-healthcheck [PATH]   (PATH defaults to /health/ready)
set -euo pipefail

read -r main_process </proc/1/comm || main_process=""
if [[ "$main_process" == "coffee-worker" ]]; then
  exit 0
fi

path="${1:-/health/ready}"
exec 3<>"/dev/tcp/127.0.0.1/${PORT:-8080}"
printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: coffee-healthcheck\r\nConnection: close\r\n\r\n' "$path" >&3
IFS=' ' read -r -t 4 _version status _reason <&3
[[ "$status" == "200" ]]
