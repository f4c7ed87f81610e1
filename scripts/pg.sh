#!/usr/bin/env bash
# A private PostgreSQL for tests and benchmarks: its own data dir, port and socket under .tmp/.
# PostgreSQL refuses to run as root, so the server runs as the `postgres` user.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=${ARBOR_PG_PORT:-15432}

# The server runs as `postgres`, which must reach its files: inside the clone when it can, else
# (a clone under a private directory such as root's 0700 home) in /var/tmp, named after the clone.
default_base() {
  local base=$ROOT/.tmp/pg-$PORT
  if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 \
      && ! su postgres -s /bin/sh -c "test -x '$ROOT'" 2>/dev/null; then
    base=/var/tmp/arbor-pg-$(printf %s "$ROOT" | sha1sum | cut -c1-12)/pg-$PORT
  fi
  echo "$base"
}
set_paths() {
  BASE=${ARBOR_PG_DIR:-$(default_base)}
  DATA=$BASE/data
  SOCK=$BASE/sock
  LOG=$BASE/pg.log
}
set_paths

find_bin() {
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && { echo "$d"; return; }; done
  return 1
}

install_pg() {
  echo "installing PostgreSQL (Debian packages)…" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}

url() { echo "postgres://postgres@$(python3 -c "import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=''))" "$SOCK"):$PORT/arbor"; }

case "${1:-}" in
  start)
    BIN=$(find_bin) || { install_pg; BIN=$(find_bin); set_paths; }
    mkdir -p "$BASE"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$BASE"; chmod 755 "$(dirname "$BASE")" "$BASE"; fi
    as_pg "mkdir -p '$SOCK'"
    if [ ! -f "$DATA/PG_VERSION" ]; then
      as_pg "'$BIN/initdb' -D '$DATA' -U postgres --auth=trust -E UTF8 >/dev/null"
    fi
    # tests trade durability for speed; benchmarks set ARBOR_PG_DURABLE=1 (PostgreSQL defaults)
    OPTS="-p $PORT -k '$SOCK' -c listen_addresses=127.0.0.1 -c max_connections=200 ${ARBOR_PG_EXTRA:-}"
    [ "${ARBOR_PG_DURABLE:-0}" = 1 ] || OPTS="$OPTS -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    if ! as_pg "'$BIN/pg_ctl' -D '$DATA' status" >/dev/null 2>&1; then
      # one retry: a port can be briefly taken (the private ports sit below the ephemeral range,
      # 32768+, so an outgoing connection never holds one); say why if it still fails
      as_pg "'$BIN/pg_ctl' -D '$DATA' -l '$LOG' -w -o \"$OPTS\" start" >/dev/null \
        || { sleep 2; as_pg "'$BIN/pg_ctl' -D '$DATA' -l '$LOG' -w -o \"$OPTS\" start" >/dev/null; } \
        || { echo "PostgreSQL on port $PORT did not start; its log:" >&2; tail -20 "$LOG" >&2; exit 1; }
    fi
    as_pg "'$BIN/psql' -h '$SOCK' -p $PORT -U postgres -tAc \"SELECT 1 FROM pg_database WHERE datname='arbor'\" | grep -q 1 || '$BIN/createdb' -h '$SOCK' -p $PORT -U postgres arbor"
    url
    ;;
  stop)
    BIN=$(find_bin) || exit 0
    [ -f "$DATA/PG_VERSION" ] && as_pg "'$BIN/pg_ctl' -D '$DATA' -m fast -w stop" >/dev/null 2>&1 || true
    ;;
  restart-immediate)
    BIN=$(find_bin)
    as_pg "'$BIN/pg_ctl' -D '$DATA' -m immediate -w stop" >/dev/null 2>&1 || true
    ;;
  destroy)
    "$0" stop || true
    rm -rf "$BASE"
    case "$BASE" in /var/tmp/arbor-pg-*) rmdir "$(dirname "$BASE")" 2>/dev/null || true ;; esac
    ;;
  url)
    url
    ;;
  *)
    echo "usage: $0 start|stop|destroy|url" >&2; exit 2;;
esac
