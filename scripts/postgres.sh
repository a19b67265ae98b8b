#!/usr/bin/env bash
# A throw-away PostgreSQL for the tests and the cluster lab (Debian's postgresql-15 package; only
# its binaries are used, never the system's cluster). Everything lives in DIR: the data directory,
# the server log and the unix socket. It listens on 127.0.0.1:PORT and trusts local connections,
# so it is for tests only. Run as root (the server runs as the `postgres` system user, since
# initdb and pg_ctl refuse root) or as an ordinary user (the server then runs as that user).
#
#   scripts/postgres.sh start DIR PORT   initdb (once), start, create role and database `switchboard`;
#                                        prints postgresql://switchboard:switchboard@127.0.0.1:PORT/switchboard
#   scripts/postgres.sh stop DIR         stop (fast) and remove DIR
#   scripts/postgres.sh pause DIR        stop (fast), keeping DIR: for outage tests
#   scripts/postgres.sh resume DIR       start again after pause; prints the URL
#   scripts/postgres.sh status DIR       exit 0 and print the URL if it is running, else exit 3
#
# Each is idempotent: starting a running server, stopping a removed one, pausing a paused one
# succeed. PG_BIN overrides the binaries' directory (default: the newest /usr/lib/postgresql/N/bin,
# Debian's layout; bookworm's postgresql package is version 15).
set -uo pipefail

bin=${PG_BIN:-$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
marker=".switchboard-postgres"   # written first into DIR: stop only ever removes a DIR that has it

fail() { echo "postgres.sh: $*" >&2; exit 1; }
usage() {
  sed -n '/^#   scripts/s/^#   //p' "$0" >&2
  exit 2
}

# Runs a PostgreSQL binary as the server's owner, from / (the caller's directory may be closed to it).
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

url() { echo "postgresql://switchboard:switchboard@127.0.0.1:$1/switchboard"; }
port_of() { cat "$1/port" 2>/dev/null || fail "$1 is not a directory made by postgres.sh start (no $1/port)"; }
running() { [[ -f $1/data/PG_VERSION ]] && as_owner "$bin/pg_ctl" status -D "$1/data" >/dev/null 2>&1; }

log_tail() {
  if [[ -f $1/postgres.log ]]; then
    echo "postgres.sh: last lines of $1/postgres.log:" >&2
    tail -n 15 "$1/postgres.log" | sed 's/^/    /' >&2
  fi
}

start_server() {
  local dir=$1
  if ! as_owner "$bin/pg_ctl" start -w -t 60 -D "$dir/data" -l "$dir/postgres.log" >"$dir/pg_ctl.out" 2>&1; then
    cat "$dir/pg_ctl.out" >&2
    log_tail "$dir"
    fail "the server in $dir did not start"
  fi
}

psql_admin() {
  local dir=$1
  shift
  as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$(port_of "$dir")" -U postgres -d postgres "$@"
}

cmd_start() {
  local dir=$1 port=$2
  [[ $port =~ ^[0-9]+$ && $port -ge 1 && $port -le 65535 ]] || fail "PORT must be a TCP port number, not '$port'"
  [[ -x $bin/initdb ]] || fail "no PostgreSQL server binaries in ${bin:-/usr/lib/postgresql/N/bin} (apt-get install postgresql, or set PG_BIN)"
  [[ $(id -u) -ne 0 ]] || id postgres >/dev/null 2>&1 || fail "there is no 'postgres' system user to run the server as"

  if [[ -e $dir && ! -f $dir/$marker ]]; then
    [[ -d $dir && -z $(ls -A "$dir") ]] || fail "$dir exists and was not made by postgres.sh: refusing to use it"
  fi
  mkdir -p "$dir" || fail "cannot create $dir"
  dir=$(cd "$dir" && pwd) || fail "cannot enter $dir"
  # A unix socket path is limited to 107 bytes: DIR/.s.PGSQL.PORT must fit.
  [[ ${#dir} -le 90 ]] || fail "$dir is too long for a unix socket directory (90 characters at most)"
  touch "$dir/$marker"

  if [[ -f $dir/port && $(cat "$dir/port") != "$port" ]]; then
    fail "$dir was set up for port $(cat "$dir/port"), not $port (stop it first)"
  fi
  echo "$port" >"$dir/port"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$dir" || fail "cannot give $dir to the postgres user"
    chmod 0700 "$dir"
    as_owner test -w "$dir" || fail "the postgres user cannot reach $dir (a parent directory is closed to it)"
  fi

  if [[ ! -f $dir/data/PG_VERSION ]]; then
    rm -rf "$dir/data"
    if ! as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.out" 2>&1; then
      cat "$dir/initdb.out" >&2
      fail "initdb failed in $dir/data"
    fi
    # postgresql.auto.conf is read after postgresql.conf: the test settings win.
    cat >"$dir/data/postgresql.auto.conf" <<EOF
# written by scripts/postgres.sh: a throw-away server for tests
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
EOF
    cat >"$dir/data/pg_hba.conf" <<'EOF'
# written by scripts/postgres.sh: trust on the socket and on 127.0.0.1 only (tests)
local all all              trust
host  all all 127.0.0.1/32 trust
EOF
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir/data/postgresql.auto.conf" "$dir/data/pg_hba.conf"; fi
  fi

  if ! running "$dir"; then
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      fail "127.0.0.1:$port is already in use by another program"
    fi
    start_server "$dir"
  fi

  psql_admin "$dir" <<'EOF' || fail "could not create the switchboard role and database"
SELECT 'CREATE ROLE switchboard LOGIN PASSWORD ''switchboard'''
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'switchboard') \gexec
SELECT 'CREATE DATABASE switchboard OWNER switchboard'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'switchboard') \gexec
EOF
  url "$port"
}

cmd_stop() {
  local dir=$1
  [[ -e $dir ]] || return 0
  if [[ -d $dir && -z $(ls -A "$dir") ]]; then rmdir "$dir"; return; fi   # made, never started
  [[ -f $dir/$marker ]] || fail "$dir was not made by postgres.sh: refusing to remove it"
  if running "$dir"; then
    as_owner "$bin/pg_ctl" stop -m fast -w -t 60 -D "$dir/data" >/dev/null || fail "could not stop the server in $dir"
  fi
  rm -rf "$dir" || fail "could not remove $dir"
}

cmd_pause() {
  local dir=$1
  [[ -f $dir/$marker && -f $dir/data/PG_VERSION ]] || fail "no server set up in $dir"
  if running "$dir"; then
    as_owner "$bin/pg_ctl" stop -m fast -w -t 60 -D "$dir/data" >/dev/null || fail "could not stop the server in $dir"
  fi
}

cmd_resume() {
  local dir=$1
  [[ -f $dir/$marker && -f $dir/data/PG_VERSION ]] || fail "no server set up in $dir"
  running "$dir" || start_server "$dir"
  url "$(port_of "$dir")"
}

cmd_status() {
  local dir=$1
  if [[ -f $dir/$marker ]] && running "$dir"; then
    url "$(port_of "$dir")"
  else
    echo "postgres.sh: no server running in $dir" >&2
    exit 3
  fi
}

[[ $# -ge 2 ]] || usage
action=$1
dir=${2%/}
[[ -n $dir ]] || usage
case $action in
  start) [[ $# -eq 3 ]] || usage; cmd_start "$dir" "$3" ;;
  stop) [[ $# -eq 2 ]] || usage; cmd_stop "$dir" ;;
  pause) [[ $# -eq 2 ]] || usage; cmd_pause "$dir" ;;
  resume) [[ $# -eq 2 ]] || usage; cmd_resume "$dir" ;;
  status) [[ $# -eq 2 ]] || usage; cmd_status "$dir" ;;
  *) usage ;;
esac
