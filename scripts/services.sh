#!/usr/bin/env bash
# Installs (CI only) and starts the production servers the integration tests use (install also
# brings Chromium, a CJK font and npm for the console's browser tests and set-up):
# PostgreSQL 15 + PostGIS, Redis, and moto's S3-protocol server. All on private loopback ports,
# data under $DOCKPATROL_SERVICES_DIR, stopped by `services.sh stop`.
#   services.sh install   apt-get the Debian packages (needs root; CI does this)
#   services.sh start     start whatever is installed; prints export lines to stdout
#   services.sh stop      stop them
set -euo pipefail

DIR=${DOCKPATROL_SERVICES_DIR:-/tmp/dockpatrol-services}
PG_PORT=${DOCKPATROL_TEST_PG_PORT:-55432}
REDIS_PORT=${DOCKPATROL_TEST_REDIS_PORT:-56379}
S3_PORT=${DOCKPATROL_TEST_S3_PORT:-59000}
VENV=${VENV:-.venv}
log() { echo "services: $*" >&2; }

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return 0; }; done
  return 1
}

install() {
  export DEBIAN_FRONTEND=noninteractive
  local need=()
  dpkg -s postgresql-15-postgis-3 >/dev/null 2>&1 || need+=(postgresql postgresql-15-postgis-3)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  # the console's browser tests drive Debian's Chromium (never a downloaded browser); CJK labels need a font
  [ -x /usr/bin/chromium ] || need+=(chromium)
  dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || need+=(fonts-wqy-microhei)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_pg() {
  local bin; bin=$(pg_bin) || { log "PostgreSQL server not installed (Debian: postgresql postgresql-15-postgis-3)"; return 1; }
  local data=$DIR/pg
  if [ ! -s "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$DIR" 2>/dev/null || true
    as_postgres "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$DIR" 2>/dev/null || true
  if ! as_postgres "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_postgres "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
      -o "-p $PG_PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  fi
  local psql="$bin/psql -h 127.0.0.1 -p $PG_PORT -U postgres -qAt"
  $psql -c "SELECT 1 FROM pg_database WHERE datname='dockpatrol_test'" | grep -q 1 \
    || $psql -c "CREATE DATABASE dockpatrol_test" >/dev/null
  if ! $psql -d dockpatrol_test -c "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null 2>&1; then
    log "PostGIS extension missing (Debian: postgresql-15-postgis-3)"; return 1
  fi
  echo "export DOCKPATROL_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/dockpatrol_test"
}

start_redis() {
  command -v redis-server >/dev/null 2>&1 || { log "Redis server not installed (Debian: redis-server)"; return 1; }
  mkdir -p "$DIR/redis"
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --dir "$DIR/redis" \
      --pidfile "$DIR/redis/redis.pid" --logfile "$DIR/redis/redis.log" --save "" --appendonly no
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  echo "export DOCKPATROL_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
}

start_s3() {
  [ -x "$VENV/bin/moto_server" ] || { log "moto_server missing from $VENV (pip extra: dev)"; return 1; }
  mkdir -p "$DIR/s3"
  if ! (exec 3<>/dev/tcp/127.0.0.1/$S3_PORT) 2>/dev/null; then
    nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" >"$DIR/s3/moto.log" 2>&1 &
    echo $! >"$DIR/s3/moto.pid"
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$S3_PORT) 2>/dev/null && break; sleep 0.1; done
  fi
  echo "export DOCKPATROL_TEST_S3_ENDPOINT=127.0.0.1:$S3_PORT"
}

stop() {
  local bin
  if bin=$(pg_bin) && [ -s "$DIR/pg/PG_VERSION" ]; then as_postgres "$bin/pg_ctl" -D "$DIR/pg" -m fast stop >/dev/null 2>&1 || true; fi
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  [ -f "$DIR/s3/moto.pid" ] && kill "$(cat "$DIR/s3/moto.pid")" 2>/dev/null || true
  rm -f "$DIR/s3/moto.pid"
}

case "${1:-}" in
  install) install ;;
  start) mkdir -p "$DIR"; start_pg || true; start_redis || true; start_s3 || true ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
