#!/usr/bin/env bash
# Installs what the tests need beyond Python: the npm packages pinned in package-lock.json (tfjs,
# its wasm backend, playwright-core), Debian's headless Chromium, and Debian's PostgreSQL server (the
# test of `bot search` with several workers on one study starts its own). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v npm >/dev/null || missing+=(nodejs npm)
command -v chromium >/dev/null || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
npm ci --no-audit --no-fund --silent
