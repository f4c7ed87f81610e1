#!/usr/bin/env bash
# make bench-scale: the scale checks of issue 18 (bench/scale.py) on a fresh, durable PostgreSQL of
# their own (private port, pg_stat_statements on), served (Daphne + HTTP, DEBUG=0): list and tree
# endpoints with 1,000,000 tasks, idle CPU, throughput with 1, 2 and 4 worker processes, memory per
# worker over 100,000 tasks. Arguments go to bench/scale.py (e.g. --only idle, --tasks 50000).
# scripts/bench.sh runs it after the PostgreSQL figures (not with QUICK=1), each on its own server.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export ARBOR_PG_PORT=${ARBOR_BENCH_PG_PORT:-15440}
export ARBOR_PG_DIR=$PWD/.tmp/bench-scale-pg
mkdir -p .tmp bench/results
bash scripts/pg.sh destroy >/dev/null 2>&1 || true
export ARBOR_PG_EXTRA="-c shared_preload_libraries=pg_stat_statements"
export ARBOR_PG_DURABLE=1
URL=$(bash scripts/pg.sh start)
trap 'bash scripts/pg.sh destroy >/dev/null 2>&1 || true' EXIT
psql -h "$ARBOR_PG_DIR/sock" -p "$ARBOR_PG_PORT" -U postgres arbor -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null 2>&1 || true
echo "=== PostgreSQL, scale checks (uptime: $(uptime)) ==="
DATABASE_URL="$URL" $BIN/python bench/scale.py --db postgres "$@"
