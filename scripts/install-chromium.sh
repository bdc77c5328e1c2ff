#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (coffee-testkit's
# `browser` feature) when it is missing, then prints its version.
# Idempotent: with `chromium` on PATH it installs nothing.
# Needs apt-get, as root or through sudo; exits non-zero when it cannot.
set -euo pipefail

want=(chromium)

missing=()
for pkg in "${want[@]}"; do
  command -v "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done

if ((${#missing[@]})); then
  echo "install-chromium: installing Debian package(s): ${missing[*]}"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: apt-get not found; install Debian's 'chromium' package by hand or set CHROMIUM." >&2
    exit 1
  fi
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "install-chromium: not root and no password-less sudo; cannot install ${missing[*]}." >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! "${sudo[@]}" apt-get update -qq \
    || ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    echo "install-chromium: apt-get failed to install ${missing[*]}." >&2
    exit 1
  fi
fi

if ! version=$(chromium --version 2>/dev/null); then
  echo "install-chromium: 'chromium --version' failed after installation." >&2
  exit 1
fi
echo "install-chromium: $version ($(command -v chromium))"
