#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests (the store's PostgreSQL backend).
#
#   pg_cluster.sh start DIR   initdb into DIR (which must not exist or be empty), start it,
#                             print its libpq URI on stdout
#   pg_cluster.sh stop DIR    stop it (fast shutdown) and remove DIR
#   pg_cluster.sh run CMD...  start a cluster in a fresh directory, run CMD with
#                             RUNMIRROR_TEST_PG set to its URI, stop it whatever CMD did;
#                             exits with CMD's status
#
# It listens on a Unix socket inside DIR only (listen_addresses = ''), with trust
# authentication, so nothing else on the machine can reach it. initdb and postgres refuse to
# run as root: as root, they run as the `postgres` system user, which then owns DIR; DIR is
# left readable so that root's client reaches the socket.
set -euo pipefail

pg_bin="${RUNMIRROR_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}"
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  echo "pg_cluster.sh: no PostgreSQL server binaries (install postgresql-15)" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# The URI libpq takes for a cluster in $1: the socket directory, percent-encoded as a host.
uri_of() {
  local dir="$1"
  local enc
  enc="$(printf '%s' "$dir" | sed -e 's/%/%25/g' -e 's|/|%2F|g' -e 's/ /%20/g')"
  echo "postgresql://postgres@${enc}/postgres"
}

start() {
  local dir="$1"
  if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
    echo "pg_cluster.sh: '$dir' is not empty" >&2
    exit 1
  fi
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  # A Unix socket path is limited to 107 bytes; say so rather than let postgres fail later.
  if [ ${#dir} -gt 80 ]; then
    echo "pg_cluster.sh: '$dir' is too long for a socket directory" >&2
    exit 1
  fi
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
  fi
  chmod 0755 "$dir"
  as_owner "$pg_bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$dir/initdb.log" 2>&1 || {
    echo "pg_cluster.sh: initdb failed:" >&2
    tail -n 5 "$dir/initdb.log" >&2
    exit 1
  }
  # fsync off: a test cluster is thrown away, and durability is SQLite's crash suite's job.
  as_owner "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || {
    echo "pg_cluster.sh: the server did not start:" >&2
    tail -n 5 "$dir/server.log" >&2
    exit 1
  }
  uri_of "$dir"
}

stop() {
  local dir="$1"
  [ -d "$dir" ] || return 0
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$pg_bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) [ $# -eq 2 ] || { echo "usage: $0 start DIR" >&2; exit 2; }; start "$2" ;;
  stop) [ $# -eq 2 ] || { echo "usage: $0 stop DIR" >&2; exit 2; }; stop "$2" ;;
  run)
    shift
    [ $# -ge 1 ] || { echo "usage: $0 run CMD..." >&2; exit 2; }
    dir="$(mktemp -d /tmp/runmirror-pg-XXXXXX)"
    trap 'stop "$dir"' EXIT
    uri="$(start "$dir")"
    status=0
    RUNMIRROR_TEST_PG="$uri" "$@" || status=$?
    exit "$status"
    ;;
  *) echo "usage: $0 start DIR | stop DIR | run CMD..." >&2; exit 2 ;;
esac
