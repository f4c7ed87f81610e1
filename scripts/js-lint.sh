#!/usr/bin/env bash
# The browser side's checks: eslint (static/tasks_app/js, ES modules), prettier (JS and CSS
# formatting), stylelint (CSS) and the node unit tests of the pure JS helpers. Installs what it
# needs in a clean clone: Debian's nodejs/npm when `node` is missing, then the pinned tools from
# package-lock.json (`npm ci`) when node_modules is missing or older than the lock file.
# Development only: running Arbor needs neither node nor a build step.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing Debian's nodejs and npm for the JS lint…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "npm ci: the pinned JS lint tools…"
  npm ci --no-audit --no-fund --silent
fi

BIN=node_modules/.bin
"$BIN/eslint" --max-warnings 0 .
"$BIN/prettier" --check --log-level warn static/tasks_app/js static/tasks_app/css eslint.config.js stylelint.config.js
"$BIN/stylelint" "static/**/*.css"
out=$(node --test static/tasks_app/js/tests/ 2>&1) || { echo "$out"; exit 1; }
echo "JS lint, format and unit tests passed"
