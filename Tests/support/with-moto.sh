#!/usr/bin/env bash
# Runs a command beside a throwaway S3 endpoint: moto's server (PyPI `moto[server]`, in a venv
# under .build) on a free loopback port, its URL in REELGATE_TEST_S3_ENDPOINT, stopped by PID
# when the command ends however it ends. Any bucket and credentials are accepted; objects live
# in moto's memory only.
# Usage: Tests/support/with-moto.sh COMMAND [ARGS...]
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.build/venv-moto
if [ ! -x "$venv/bin/moto_server" ] || ! "$venv/bin/python" -c 'import boto3, moto' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'moto[server]>=5,<6' 'boto3>=1.34,<2'
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto=$!
cleanup() { kill "$moto" 2>/dev/null || true; wait "$moto" 2>/dev/null || true; rm -f "$log"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
  kill -0 "$moto" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
export REELGATE_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
export REELGATE_TEST_S3_PYTHON="$PWD/$venv/bin/python"
rc=0
"$@" || rc=$?
# A failed run shows what moto itself failed on (its 500s come with a Python traceback).
if [ "$rc" -ne 0 ] && grep -q Traceback "$log"; then
  echo "--- moto's tracebacks (last 80 lines) ---"
  grep -A25 Traceback "$log" | tail -80
fi
exit "$rc"
