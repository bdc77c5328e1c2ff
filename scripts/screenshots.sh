#!/usr/bin/env bash
# Regenerates the README's Swagger UI screenshots (docs/screenshots/*.png)
# from the browser test that walks a newcomer's first five minutes
# (bins/api/tests/api/docs.rs): headless Chromium, a fresh server on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-chromium.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/coffee-target}
mkdir -p docs/screenshots
CI=true SCREENSHOTS_DIR="$PWD/docs/screenshots" TEST_DATABASE_URL='' TEST_REDIS_URL='' \
    cargo test -p coffee-api --test api a_newcomer_signs_up_verifies_logs_in_and_calls_me_in_swagger_ui
ls -l docs/screenshots
