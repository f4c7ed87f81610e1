#!/usr/bin/env bash
# make bench: the served benchmark (Daphne + HTTP, DEBUG=0, JSON-RPC tasks.execute wait: true, a worker
# cluster of 2 processes) on a fresh PostgreSQL (private port, pg_stat_statements on), then the
# in-process breakdown (bench/run.py) on the same server; then both on SQLite.
# make bench-peers (BENCH_PEERS=1): Dask distributed and Celery + Redis on the same shapes in the same
# invocation, then the side-by-side table with Arbor's ratio to the best peer (bench/compare.py).
# Then (not with QUICK=1) the scale checks, scripts/bench-scale.sh, on a fresh PostgreSQL of their own.
# RUNS=N (default 3, the median is reported); QUICK=1: RUNS=1 and no in-process breakdown or scale checks.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
if [ "${QUICK:-0}" = 1 ]; then RUNS=${RUNS:-1}; fi
RUNS=${RUNS:-3}
INPROC_ONLY=${BENCH_INPROC_ONLY:-W1,W2,W3,W4,W5,W6,create,scale}
export ARBOR_PG_PORT=${ARBOR_BENCH_PG_PORT:-15440}
export ARBOR_PG_DIR=$PWD/.tmp/bench-pg
mkdir -p .tmp bench/results
if [ "${BENCH_PEERS:-0}" = 1 ]; then
  echo "=== peers: Dask distributed, Celery + Redis (2 workers each) ==="
  $BIN/python bench/peers.py --runs "$RUNS"
fi
bash scripts/pg.sh destroy >/dev/null 2>&1 || true
export ARBOR_PG_EXTRA="-c shared_preload_libraries=pg_stat_statements -c track_commit_timestamp=on"
export ARBOR_PG_DURABLE=1
URL=$(bash scripts/pg.sh start)
trap 'bash scripts/pg.sh destroy >/dev/null 2>&1 || true' EXIT
psql -h "$ARBOR_PG_DIR/sock" -p "$ARBOR_PG_PORT" -U postgres arbor -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null 2>&1 || true
echo "=== PostgreSQL, served ==="
DATABASE_URL="$URL" $BIN/python bench/served.py --db postgres --runs "$RUNS"
if [ "${QUICK:-0}" != 1 ]; then
  echo "=== PostgreSQL, in-process breakdown ==="
  DATABASE_URL="$URL" $BIN/python bench/run.py --db postgres --runs "$RUNS" --only "$INPROC_ONLY"
fi
bash scripts/pg.sh destroy >/dev/null 2>&1 || true
trap - EXIT
if [ "${QUICK:-0}" != 1 ]; then
  # on a fresh server of its own: its million rows never touch the figures above or below
  bash scripts/bench-scale.sh
fi
echo "=== SQLite (embedded default), served ==="
rm -f .tmp/bench.sqlite3*
ARBOR_VAR_DIR=$PWD/.tmp/bench-var DATABASE_URL="sqlite:///$PWD/.tmp/bench.sqlite3" $BIN/python bench/served.py --db sqlite --runs "$RUNS"
if [ "${QUICK:-0}" != 1 ]; then
  echo "=== SQLite, in-process breakdown ==="
  ARBOR_VAR_DIR=$PWD/.tmp/bench-var DATABASE_URL="sqlite:///$PWD/.tmp/bench.sqlite3" $BIN/python bench/run.py --db sqlite --runs "$RUNS" --only "$INPROC_ONLY"
fi
$BIN/python bench/compare.py | tee bench/results/compare.md
