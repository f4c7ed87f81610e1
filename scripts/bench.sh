#!/usr/bin/env bash
# make bench: a fresh PostgreSQL (private port, pg_stat_statements on) and a worker cluster, W1–W4 and
# the 10,000-task creation (3 runs each, median) and the API scale checks; then the same on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export ARBOR_PG_PORT=${ARBOR_BENCH_PG_PORT:-15440}
export ARBOR_PG_DIR=$PWD/.tmp/bench-pg
bash scripts/pg.sh destroy >/dev/null 2>&1 || true
export ARBOR_PG_EXTRA="-c shared_preload_libraries=pg_stat_statements"
export ARBOR_PG_DURABLE=1
URL=$(bash scripts/pg.sh start)
trap 'bash scripts/pg.sh destroy >/dev/null 2>&1 || true' EXIT
psql -h "$ARBOR_PG_DIR/sock" -p "$ARBOR_PG_PORT" -U postgres arbor -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null 2>&1 || true
echo "=== PostgreSQL ==="
DATABASE_URL="$URL" $BIN/python bench/run.py --db postgres --runs "${RUNS:-3}" "$@"
bash scripts/pg.sh destroy >/dev/null 2>&1 || true
trap - EXIT
echo "=== SQLite (embedded default) ==="
rm -f .tmp/bench.sqlite3*
ARBOR_VAR_DIR=$PWD/.tmp/bench-var DATABASE_URL="sqlite:///$PWD/.tmp/bench.sqlite3" $BIN/python bench/run.py --db sqlite --runs "${RUNS:-3}" "$@"
