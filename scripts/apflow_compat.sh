#!/usr/bin/env bash
# apflow compatibility (docs/apflow.md): a pinned apflow, in its own virtualenv under .tmp/, runs
# (a) its own JSON-RPC test module (tests/api/a2a/test_http_json_rpc.py from its sdist, copied at
# run time and not edited; scripts/apflow_compat/conftest.py points it at Arbor) and (b) its CLI in
# API mode, against a served Arbor (SQLite, Daphne + a worker cluster, a Bearer token).
# Prints "N passed, M failed" for each; fails only on a regression: a test that fails and is not
# in scripts/apflow_compat/expected_failures.txt (a listed test that passes is reported, not fatal).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
APFLOW_VERSION=${APFLOW_VERSION:-0.18.1}
PY=${ARBOR_PYTHON:-$ROOT/.venv/bin/python}
WORK=$ROOT/.tmp/apflow-compat
VENV=$ROOT/.tmp/apflow-venv
HERE=$ROOT/scripts/apflow_compat
mkdir -p "$WORK"

# --- apflow, pinned, in its own virtualenv ---------------------------------------------------------
if ! "$VENV/bin/python" -c "import apflow, sys; sys.exit(apflow.__version__ != '$APFLOW_VERSION')" 2>/dev/null; then
  echo "installing apflow $APFLOW_VERSION into $VENV…"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "apflow[cli,a2a]==$APFLOW_VERSION" "a2a-sdk==0.3.22" greenlet pytest pytest-asyncio httpx 2>&1 \
    | grep -v "^WARNING: Location" || true
fi
SDIST=$WORK/sdist/apflow-$APFLOW_VERSION
if [ ! -f "$SDIST/tests/api/a2a/test_http_json_rpc.py" ]; then
  "$VENV/bin/pip" download -q --no-deps --no-binary :all: "apflow==$APFLOW_VERSION" -d "$WORK/sdist" 2>&1 \
    | grep -v "^WARNING: Location" || true
  tar xzf "$WORK/sdist/apflow-$APFLOW_VERSION.tar.gz" -C "$WORK/sdist"
fi

# --- a served Arbor ---------------------------------------------------------------------------------
PORT=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
VAR=$WORK/var
rm -rf "$VAR" && mkdir -p "$VAR"
export DJANGO_SETTINGS_MODULE=orchestrator_site.settings_test ARBOR_DISPATCH=q2 ARBOR_VAR_DIR=$VAR PYTHONUNBUFFERED=1
unset DATABASE_URL REDIS_URL
"$PY" manage.py migrate -v0
# the user apflow's tests name in user_id; a superuser: they run system_info (staff-only here)
"$PY" manage.py shell -c "
from django.contrib.auth import get_user_model
get_user_model().objects.create_superuser('test-user', 'test@example.com', 'pw-test-user-123')" >/dev/null
TOKEN=$("$PY" manage.py arbor_token test-user --name apflow-compat 2>/dev/null | tail -1)
PIDS=()
cleanup() {  # SIGTERM to each main pid (django-q2 deadlocks if its whole group is signalled), then SIGKILL the group
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.2
  done
  for pid in "${PIDS[@]}"; do kill -KILL "-$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
setsid "$PY" -m daphne -b 127.0.0.1 -p "$PORT" orchestrator_site.asgi:application >"$WORK/daphne.log" 2>&1 &
PIDS+=($!)
setsid "$PY" manage.py qcluster >"$WORK/qcluster.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  curl -fs -o /dev/null -X POST -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$PORT/" && break
  sleep 0.2
done
export ARBOR_URL=http://127.0.0.1:$PORT ARBOR_TOKEN=$TOKEN
# apflow's own config and local database (which Arbor never sees) stay under .tmp, never in the repo
mkdir -p "$WORK/apflow-config"
export APFLOW_CONFIG_DIR=$WORK/apflow-config APFLOW_DATABASE_URL=duckdb:///$WORK/apflow-local.duckdb

# --- (a) apflow's JSON-RPC test module ------------------------------------------------------------
RUN=$WORK/run
rm -rf "$RUN" && mkdir -p "$RUN"
cp "$SDIST/tests/api/a2a/test_http_json_rpc.py" "$RUN/"
cp "$HERE/conftest.py" "$RUN/conftest.py"
printf '[pytest]\nasyncio_mode = auto\n' >"$RUN/pytest.ini"
(cd "$RUN" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider -rA test_http_json_rpc.py \
  >"$WORK/jsonrpc.log" 2>&1 || true)
grep -E "^(PASSED|FAILED|ERROR) " "$WORK/jsonrpc.log" | sed -E 's/ - .*//' | sort -u >"$WORK/jsonrpc.results" || true
RPC_PASSED=$(grep -c "^PASSED " "$WORK/jsonrpc.results" || true)
RPC_FAILED=$(grep -cE "^(FAILED|ERROR) " "$WORK/jsonrpc.results" || true)
echo "apflow $APFLOW_VERSION JSON-RPC tests: $RPC_PASSED passed, $RPC_FAILED failed"

# --- (b) its CLI in API mode --------------------------------------------------------------------
(cd "$WORK" && APFLOW_BIN=$VENV/bin/apflow "$VENV/bin/python" "$HERE/cli_check.py" >"$WORK/cli.log" 2>&1 || true)
grep -E "^(PASS|FAIL) " "$WORK/cli.log" | sed -E 's/:.*//' >"$WORK/cli.results" || true
echo "apflow $APFLOW_VERSION CLI (API mode): $(tail -1 "$WORK/cli.log")"

# --- regressions against the documented expected failures -----------------------------------------
EXPECTED=$HERE/expected_failures.txt
regressions=0
while read -r outcome name; do
  case "$outcome" in
    FAILED|ERROR|FAIL)
      if ! grep -qxF "$name" <(grep -v '^#' "$EXPECTED" | sed -E 's/ +#.*//'); then
        echo "REGRESSION: $name"; regressions=$((regressions + 1))
      fi ;;
    PASSED|PASS)
      if grep -qxF "$name" <(grep -v '^#' "$EXPECTED" | sed -E 's/ +#.*//'); then
        echo "now passing (remove from expected_failures.txt): $name"
      fi ;;
  esac
done < <(sed -E 's/^(PASSED|FAILED|ERROR) test_http_json_rpc.py::/\1 /' "$WORK/jsonrpc.results"; cat "$WORK/cli.results" | sed -E 's/^(PASS|FAIL) /\1 cli: /')
if [ "$regressions" -gt 0 ]; then
  echo "apflow compatibility: $regressions regression(s); logs in $WORK"
  exit 1
fi
echo "apflow compatibility: no regressions"
