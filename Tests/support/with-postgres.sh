#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster: initdb into a temp dir, started on a free
# port (socket in the same dir), its URL in REELGATE_TEST_DATABASE_URL, stopped and removed when
# the command ends however it ends. initdb refuses to run as root, so as root the cluster
# belongs to the `postgres` user that Debian's package creates.
# Usage: Tests/support/with-postgres.sh COMMAND [ARGS...]
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL server binaries missing: make test installs the postgresql package"; exit 1; }
dir=$(mktemp -d /tmp/reelgate-pg.XXXXXX)
as_owner=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$dir"
  as_owner=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
password=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
cleanup() {
  "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
echo "$password" >"$dir/pwfile"
[ "$(id -u)" = 0 ] && chown postgres: "$dir/pwfile"
"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U reelgate --pwfile="$dir/pwfile" -A scram-sha-256 -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log"; exit 1; }
"${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200 ${REELGATE_PG_OPTIONS:-}" start >/dev/null \
  || { cat "$dir/server.log"; exit 1; }
export REELGATE_TEST_DATABASE_URL="postgres://reelgate:$password@127.0.0.1:$port/postgres"
"$@"
