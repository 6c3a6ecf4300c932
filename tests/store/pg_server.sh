#!/usr/bin/env bash
# A throwaway PostgreSQL server for the store tests: initdb into DIR/data, listen on 127.0.0.1:PORT
# (Unix socket in DIR). As root the server runs as the unprivileged `postgres` user. fsync is off
# (the machine does not crash during a test) but synchronous_commit stays on, so a commit is in
# the WAL before it returns and `stop` (-m immediate, the tests' crash) loses nothing committed.
#
#   pg_server.sh start DIR PORT [OWNER_PID]   # initdb if needed, start, wait until ready
#   pg_server.sh stop DIR [MODE]              # stop the server (default -m immediate), keep DIR
#   pg_server.sh destroy DIR                  # stop and remove DIR
#
# With OWNER_PID, a watchdog stops the server and removes DIR once that process has gone, so a
# crashed test leaves nothing running; it ends by itself within 0.5 s of DIR being removed.
# With NETPULSE_PG_TEMPLATE=TDIR, initdb runs once into TDIR (under a lock, for parallel tests) and
# each start copies it: a copy takes a tenth of an initdb, which matters when ctest runs every
# test in its own process with its own server.
# Exit status 3: PostgreSQL is not installed (scripts/setup installs postgresql-15).
set -euo pipefail
PG_BIN=${NETPULSE_PG_BIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: pg_server.sh start|stop|destroy DIR ...}
dir=${2:?usage: pg_server.sh start|stop|destroy DIR ...}

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

initdb_into() {
  if ! as_pg "$PG_BIN/initdb" -D "$1" -A trust -U postgres -E UTF8 --locale=C --no-sync \
      --no-instructions >"$2" 2>&1; then
    cat "$2" >&2
    exit 1
  fi
}

case "$cmd" in
  start)
    port=${3:?usage: pg_server.sh start DIR PORT [OWNER_PID]}
    owner=${4:-}
    if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
      echo "pg_server: PostgreSQL server not installed ($PG_BIN/initdb missing); run scripts/setup" >&2
      exit 3
    fi
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
      echo "pg_server: running as root but there is no postgres user to run the server" >&2
      exit 3
    fi
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
    if [ ! -d "$dir/data" ]; then
      template=${NETPULSE_PG_TEMPLATE:-}
      if [ -n "$template" ]; then
        mkdir -p "$(dirname "$template")"
        (
          flock 9
          if [ ! -d "$template" ]; then
            rm -rf "$template.tmp"
            mkdir -p "$template.tmp"
            if [ "$(id -u)" -eq 0 ]; then chown postgres: "$template.tmp"; fi
            initdb_into "$template.tmp/data" "$dir/initdb.log"
            mv "$template.tmp" "$template"
          fi
        ) 9>"$template.lock"
        cp -a "$template/data" "$dir/data"
      else
        initdb_into "$dir/data" "$dir/initdb.log"
      fi
    fi
    if ! as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off" \
        start >/dev/null 2>&1; then
      echo "pg_server: server did not start on 127.0.0.1:$port; log:" >&2
      tail -n 20 "$dir/server.log" >&2 || true
      exit 1
    fi
    if [ -n "$owner" ] && [ ! -e "$dir/watchdog" ]; then
      touch "$dir/watchdog"
      setsid bash "$0" watch "$dir" "$owner" </dev/null >/dev/null 2>&1 &
    fi
    ;;
  stop)
    mode=${3:-immediate}
    if [ -d "$dir/data" ]; then
      as_pg "$PG_BIN/pg_ctl" -D "$dir/data" stop -m "$mode" -w -t 30 >/dev/null 2>&1 || true
    fi
    ;;
  destroy)
    bash "$0" stop "$dir"
    rm -rf "$dir"
    ;;
  watch)
    owner=${3:?}
    while kill -0 "$owner" 2>/dev/null && [ -d "$dir/data" ]; do sleep 0.5; done
    if [ -d "$dir/data" ]; then bash "$0" destroy "$dir"; fi
    ;;
  *)
    echo "pg_server: unknown command $cmd" >&2
    exit 2
    ;;
esac
