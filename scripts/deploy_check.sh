#!/usr/bin/env bash
# Follow docs/deployment.md "One machine" step by step against a private PostgreSQL, then check
# the result the way an operator would: probes, metrics, the login page, a tree created through
# the API with a token, run by the worker role to completion. Stops everything it started.
#
#   bash scripts/deploy_check.sh          (ARBOR_DEPLOY_CHECK_PORT=18750, ARBOR_PG_PORT=15434)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=${ARBOR_DEPLOY_CHECK_PORT:-18750}
export ARBOR_PG_PORT=${ARBOR_PG_PORT:-15434}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/arbor-deploy-check.XXXXXX")
WEB_PID="" WORKER_PID=""

step() { printf '\n== %s\n' "$*"; }
fail() { echo "deploy check FAILED: $*" >&2; exit 1; }

stop_pid() {  # one SIGTERM to the main pid (never the group: django-q2 pitfall), SIGKILL after a timeout
  local pid=$1 timeout=$2
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid"
  for _ in $(seq $((timeout * 10))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "pid $pid did not stop within ${timeout}s; killing its process group" >&2
  kill -KILL -- "-$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  stop_pid "$WORKER_PID" 60
  stop_pid "$WEB_PID" 20
  wait 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    for log in "$WORK"/*.log; do [ -f "$log" ] && { echo "--- $log"; tail -40 "$log"; }; done
  fi
  bash scripts/pg.sh destroy >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# "1. Code and virtualenv": this checkout and its .venv stand in for /srv/arbor/{app,venv}.
step "1. code and virtualenv"
[ -x .venv/bin/daphne ] || fail ".venv is missing: run 'make setup' first"
export PATH="$ROOT/.venv/bin:$PATH"
python -c "import django, daphne, django_q; print('django', django.get_version())"

step "2. database (private PostgreSQL on port $ARBOR_PG_PORT)"
bash scripts/pg.sh destroy >/dev/null 2>&1 || true
DB_URL=$(bash scripts/pg.sh start)
echo "$DB_URL"

step "3. environment file (from deploy/arbor.env.example)"
ENV_FILE=$WORK/arbor.env
TOKEN=$(python -c "import secrets; print(secrets.token_urlsafe(32))")
sed -e "s|^SECRET_KEY=.*|SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))')|" \
    -e "s|^ALLOWED_HOSTS=.*|ALLOWED_HOSTS=127.0.0.1,localhost|" \
    -e "s|^CSRF_TRUSTED_ORIGINS=.*|CSRF_TRUSTED_ORIGINS=https://127.0.0.1:$PORT|" \
    -e "s|^DATABASE_URL=.*|DATABASE_URL=$DB_URL|" \
    -e "s|^ARBOR_WORKERS=.*|ARBOR_WORKERS=2|" \
    -e "s|^ARBOR_METRICS_TOKEN=.*|ARBOR_METRICS_TOKEN=$TOKEN|" \
    -e "s|^ARBOR_STATIC_ROOT=.*|ARBOR_STATIC_ROOT=$WORK/staticfiles|" \
    -e "s|^ARBOR_VAR_DIR=.*|ARBOR_VAR_DIR=$WORK/var|" \
    deploy/arbor.env.example > "$ENV_FILE"
if [ -n "${REDIS_URL:-}" ]; then echo "REDIS_URL=$REDIS_URL" >> "$ENV_FILE"; fi
grep -q '^SECRET_KEY=change-me' "$ENV_FILE" && fail "SECRET_KEY was not replaced"
# the processes get exactly this environment (as EnvironmentFile= would give them)
unset DJANGO_SETTINGS_MODULE DATABASE_URL REDIS_URL DEBUG DJANGO_ALLOW_ASYNC_UNSAFE ARBOR_DISPATCH
set -a; . "$ENV_FILE"; set +a
mkdir -p "$ARBOR_VAR_DIR"

step "4. release: migrate, collectstatic, an administrator"
python manage.py check --deploy --fail-level ERROR
python manage.py migrate --noinput -v1
python manage.py collectstatic --noinput -v1
DJANGO_SUPERUSER_PASSWORD=deploy-check-pw python manage.py createsuperuser --noinput --username admin \
  --email admin@example.com

step "5. start one web and one worker process"
setsid daphne -b 127.0.0.1 -p "$PORT" --proxy-headers orchestrator_site.asgi:application \
  >"$WORK/web.log" 2>&1 &
WEB_PID=$!
setsid python manage.py arbor_worker >"$WORK/worker.log" 2>&1 &
WORKER_PID=$!
echo "web pid $WEB_PID, worker pid $WORKER_PID"

BASE="http://127.0.0.1:$PORT"
AUTH=(-H "Authorization: Bearer $TOKEN")
PROXY=(-H "X-Forwarded-Proto: https")  # what nginx adds in front (SECURE_SSL_REDIRECT is on)

wait_http() {  # wait_http URL SECONDS [curl args...]: until the URL answers 200
  local url=$1 seconds=$2; shift 2
  for _ in $(seq $((seconds * 5))); do
    curl -fsS -o /dev/null "$@" "$url" 2>/dev/null && return 0
    kill -0 "$WEB_PID" 2>/dev/null || fail "the web process exited"
    kill -0 "$WORKER_PID" 2>/dev/null || fail "the worker process exited"
    sleep 0.2
  done
  fail "$url did not answer 200 within ${seconds}s: $(curl -sS "$@" "$url" 2>&1 | head -c 600)"
}

step "6. check: probes and metrics"
wait_http "$BASE/healthz" 60
echo "healthz: $(curl -fsS "$BASE/healthz")"
wait_http "$BASE/readyz" 60 "${AUTH[@]}"
curl -fsS "${AUTH[@]}" "$BASE/readyz" | python -c "
import json, sys
body = json.load(sys.stdin)
assert body['status'] == 'ok', body
print('readyz:', ', '.join(f\"{k}={'ok' if v['ok'] else 'FAIL'}\" for k, v in body['checks'].items()))"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/metrics")" = 401 ] || fail "/metrics answered without the token"
curl -fsS "${AUTH[@]}" "$BASE/metrics" > "$WORK/metrics.txt"
grep -Eq '^arbor_worker_clusters_alive 1(\.0)?$' "$WORK/metrics.txt" || fail "metrics: no live cluster"
grep -c '^arbor_' "$WORK/metrics.txt" | sed 's/^/metrics: samples: /'
LOGIN=$(curl -sS -o "$WORK/login.html" -w '%{http_code}' "${PROXY[@]}" "$BASE/accounts/login/")
[ "$LOGIN" = 200 ] || fail "login page answered $LOGIN"
grep -qi '<form' "$WORK/login.html" || fail "login page has no form"
echo "login page: 200"
STATIC=$(grep -o '/static/[^"]*\.css' "$WORK/login.html" | head -1 || true)
if [ -n "$STATIC" ]; then
  curl -fsS -o /dev/null "${PROXY[@]}" "$BASE$STATIC" || fail "static file $STATIC not served"
  echo "static: $STATIC served"
fi

step "7. an API token, and a tree created through the API"
API_TOKEN=$(python manage.py arbor_token admin --name deploy-check)
python - "$ROOT/examples/fan_out.json" > "$WORK/tree.json" <<'EOF'
import json, sys
print(json.dumps({"tasks": json.load(open(sys.argv[1])), "execute": True}))
EOF
API=(-H "Authorization: Bearer $API_TOKEN" -H "Content-Type: application/json" "${PROXY[@]}")
CREATED=$(curl -sS -w '\n%{http_code}' "${API[@]}" -X POST --data @"$WORK/tree.json" "$BASE/api/v1/trees/")
[ "$(echo "$CREATED" | tail -1)" = 201 ] || fail "tree create: $CREATED"
TREE_ID=$(echo "$CREATED" | head -n -1 | python -c "import json, sys; print(json.load(sys.stdin)['id'])")
echo "tree $TREE_ID created and executed"
STATUS=""
for _ in $(seq 300); do
  STATUS=$(curl -fsS "${API[@]}" "$BASE/api/v1/trees/$TREE_ID/" | python -c "import json, sys; print(json.load(sys.stdin)['status'])")
  case "$STATUS" in completed|failed|cancelled) break ;; esac
  sleep 0.2
done
[ "$STATUS" = completed ] || fail "tree ended '$STATUS' (expected completed)"
echo "tree $TREE_ID: completed"

step "8. stop (SIGTERM: the worker drains, Daphne closes)"
stop_pid "$WORKER_PID" 60; wait "$WORKER_PID" || fail "worker exited with $?"; WORKER_PID=""
stop_pid "$WEB_PID" 20; wait "$WEB_PID" || true; WEB_PID=""
echo "deploy check passed"
