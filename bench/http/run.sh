#!/usr/bin/env bash
# Bare-route throughput: reelgate's GET /healthz against nginx `return 200`, same machine, same run.
# Target (SPEC §14): reelgate >= 0.5x nginx. Loopback only; bounded duration; stops by itself.
#
#   bench/http/run.sh                 # wrk -t2 -c64, 10 s per target after a 2 s warm-up
#   DURATION=20s CONNECTIONS=128 bench/http/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
BIN=${BIN:-.build/release/reelgate}
command -v wrk >/dev/null || { echo "wrk missing: make bench installs it"; exit 1; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "nginx missing: make bench installs it"; exit 1; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$BIN" ] || { echo "$BIN missing: run make build"; exit 1; }

work=$(mktemp -d)
cleanup() {
  [ -n "${gw_pid:-}" ] && kill -TERM "$gw_pid" 2>/dev/null || true
  [ -n "${ng_pid:-}" ] && kill -TERM "$ng_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# reelgate on a free port.
echo "{}" >"$work/config.json"
REELGATE_LISTEN=127.0.0.1:0 REELGATE_DATA_DIR="$work/data" "$BIN" serve --config "$work/config.json" >"$work/gw.out" 2>"$work/gw.err" &
gw_pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/gw.out" 2>/dev/null && break; sleep 0.1; done
gw_url=$(sed -n 's/^listening on //p' "$work/gw.out")
[ -n "$gw_url" ] || { echo "reelgate did not start:"; cat "$work/gw.err"; exit 1; }

# nginx answering 200 on a free port, as the baseline.
ng_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/nginx.conf" <<NGINX
worker_processes auto;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx-body;
  server { listen 127.0.0.1:$ng_port; location / { return 200 '{"status":"ok"}'; } }
}
NGINX
"$NGINX" -c "$work/nginx.conf" -p "$work" &
ng_pid=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$ng_port/" && break; sleep 0.1; done

measure() { # url -> "rps p99"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$1" >/dev/null 2>&1 || true
  local out rps p99
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$1")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  echo "$rps $p99"
}

read -r ng_rps ng_p99 < <(measure "http://127.0.0.1:$ng_port/healthz")
read -r gw_rps gw_p99 < <(measure "$gw_url/healthz")
ratio=$(awk -v a="$gw_rps" -v b="$ng_rps" 'BEGIN { printf "%.2f", a / b }')

echo "bench/http: wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $(nproc) cores"
printf "  %-28s %12s req/s   p99 %s\n" "nginx return 200" "$ng_rps" "$ng_p99"
printf "  %-28s %12s req/s   p99 %s\n" "reelgate GET /healthz" "$gw_rps" "$gw_p99"
echo "  ratio reelgate/nginx: $ratio (target >= 0.50)"
