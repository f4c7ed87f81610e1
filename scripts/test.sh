#!/usr/bin/env bash
# The whole suite: lint (Python and JS), then SQLite (unit, services, workers, browser), then a private PostgreSQL
# (the same plus the fault-injection suite), which this script starts and tears down itself.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-all}
BIN=.venv/bin
mkdir -p .tmp tests/artifacts
export PYTHONUNBUFFERED=1

pytest_ok() {  # pytest exit code 5 = "no test selected by this marker": not a failure
  local rc=0
  "$BIN/pytest" "$@" || rc=$?
  [ "$rc" -eq 5 ] && rc=0
  return "$rc"
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    echo "installing Debian's chromium for the browser tests…"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null
  fi
}

lint() {
  "$BIN/ruff" check .
  "$BIN/ruff" format --check . >/dev/null && echo "ruff format: nothing to change"
  "$BIN/lint-imports" --no-cache >/dev/null && echo "import contracts kept"
  "$BIN/mypy"  # configured in pyproject.toml: strict for engine/ and executors/, checked elsewhere
  bash scripts/js-lint.sh  # eslint, prettier, stylelint and the node unit tests (installs node/npm ci if missing)
}

sqlite_suite() {
  echo "=== SQLite ==="
  unset DATABASE_URL
  # branch coverage of tasks_app on this pass only (settings in [tool.coverage] of pyproject.toml);
  # the table lists the modules not fully covered, its TOTAL line is the figure
  pytest_ok -m "not e2e and not fault" -p no:playwright --cov --cov-report=term:skip-covered
  ensure_chromium
  pytest_ok -m "e2e"
}

postgres_suite() {
  echo "=== PostgreSQL ==="
  local url
  url=$(bash scripts/pg.sh start)
  trap 'bash scripts/pg.sh stop' EXIT
  export DATABASE_URL="$url"
  pytest_ok -m "not e2e and not fault" -p no:playwright
  ensure_chromium
  pytest_ok -m "e2e"
  redis_suite
  bash scripts/pg.sh stop
  trap - EXIT
  fault_suite
}

redis_suite() {  # live delivery and the multi-process test again, with Redis as the wake-up path
  echo "=== PostgreSQL + Redis: live delivery and scale-out ==="
  if ! command -v redis-server >/dev/null; then
    echo "installing Debian's redis-server for the Redis pass…"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
  fi
  local port=${ARBOR_REDIS_PORT:-16379}
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --dir "$PWD/.tmp" --pidfile "$PWD/.tmp/redis-$port.pid" --logfile "$PWD/.tmp/redis-$port.log"
  local rc=0
  REDIS_URL="redis://127.0.0.1:$port/0" pytest_ok tests/live tests/ops -p no:playwright -m "not e2e" || rc=$?
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || kill "$(cat ".tmp/redis-$port.pid")" 2>/dev/null || true
  return "$rc"
}

fault_suite() {  # real worker processes and signals, on a second private server the suite may restart
  echo "=== PostgreSQL: fault injection ==="
  local url
  url=$(ARBOR_PG_PORT=15433 bash scripts/pg.sh start)
  trap 'ARBOR_PG_PORT=15433 bash scripts/pg.sh stop' EXIT
  DATABASE_URL="$url" pytest_ok -m fault -p no:playwright -rs
  ARBOR_PG_PORT=15433 bash scripts/pg.sh stop
  trap - EXIT
}

apflow_suite() {  # apflow's own JSON-RPC tests and CLI against a served Arbor; fails only on regressions
  echo "=== apflow compatibility ==="
  bash scripts/apflow_compat.sh
}

case "$MODE" in
  all) lint; sqlite_suite; apflow_suite; postgres_suite ;;
  apflow) apflow_suite ;;
  sqlite) sqlite_suite ;;
  postgres) postgres_suite ;;
  fault) fault_suite ;;
  redis) url=$(bash scripts/pg.sh start); trap 'bash scripts/pg.sh stop' EXIT; DATABASE_URL="$url" redis_suite ;;
  lint) lint ;;
  *) echo "usage: $0 [all|sqlite|postgres|fault|redis|lint|apflow]" >&2; exit 2 ;;
esac
echo "all test suites passed"
