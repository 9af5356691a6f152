# Shared helpers for the bench scripts: start reelgate and an nginx baseline on free loopback
# ports, run wrk, and clean up. Source it; it sets a trap that stops what it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${BIN:-.build/release/reelgate}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
BENCH_KEY=bench-key-0123456789abcdef
command -v wrk >/dev/null || { echo "wrk missing: make bench installs it"; exit 1; }
[ -x "$BIN" ] || { echo "$BIN missing: run make build"; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# start_reelgate CONFIG_JSON [NAME] -> sets GW_URL and GW_PID. NAME (default: the one gateway)
# gives an instance its own data dir and output files, for several on one database.
start_reelgate() {
  local name=${2:-} data="$work/data" out="$work/gw.out" err="$work/gw.err"
  if [ -n "$name" ]; then data="$work/data-$name"; out="$work/gw-$name.out"; err="$work/gw-$name.err"; fi
  echo "$1" >"$work/config$name.json"
  REELGATE_LISTEN=127.0.0.1:0 REELGATE_DATA_DIR="$data" REELGATE_API_KEYS="bench:$BENCH_KEY:ops" \
    "$BIN" serve --config "$work/config$name.json" >"$out" 2>"$err" &
  pids+=($!)
  GW_PID=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$out" 2>/dev/null && break; sleep 0.1; done
  GW_URL=$(sed -n 's/^listening on //p' "$out")
  [ -n "$GW_URL" ] || { echo "reelgate did not start:"; cat "$err"; exit 1; }
}

# stop_reelgate: SIGTERM and wait, keeping the data dir (to start again on the same database).
stop_reelgate() {
  kill -TERM "$GW_PID" 2>/dev/null || true
  wait "$GW_PID" 2>/dev/null || true
}

# start_nginx -> sets NG_URL (answers 200 with a small JSON body on every path)
start_nginx() {
  local nginx port
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  [ -x "$nginx" ] || { echo "nginx missing: make bench installs it"; exit 1; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$work/nginx.conf" <<NGINX
worker_processes auto;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx-body;
  server { listen 127.0.0.1:$port; location / { return 200 '{"status":"ok"}'; } }
}
NGINX
  "$nginx" -c "$work/nginx.conf" -p "$work" &
  pids+=($!)
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  NG_URL="http://127.0.0.1:$port"
}

# measure URL [wrk args…] -> prints "rps p99 errors" (errors = non-2xx/3xx + socket errors)
measure() {
  local url=$1; shift
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$@" "$url" >/dev/null 2>&1 || true
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url")
  awk '/^Requests\/sec:/ {rps=$2} $1=="99%" {p99=$2}
       /Non-2xx or 3xx responses:/ {err+=$5} /Socket errors:/ {gsub(",","");err+=$4+$6+$8+$10}
       END {printf "%s %s %d\n", rps, p99, err}' <<<"$out"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# prepare_poll_targets N -> sets ids (comma separated) and done_count: N succeeded 2-result tasks
# in the data dir, made by a fast simulator (the gateway is stopped again afterwards).
prepare_poll_targets() {
  start_reelgate '{"providers":{"simulator":{"latencySeconds":0.05}},"workers":{"count":32}}'
  ids=$(python3 -c "import uuid; print(','.join(str(uuid.uuid4()) for _ in range($1)))")
  python3 - "$GW_URL" "$BENCH_KEY" "$ids" <<'PY'
import json, sys, urllib.request
base, key, ids = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
for start in range(0, len(ids), 100):  # at most 100 tasks a request
    body = [{"taskType": "videoInference", "taskUUID": u, "model": "reelgate:simulator@1", "positivePrompt": "poll target",
             "numberResults": 2, "duration": 5} for u in ids[start:start + 100]]
    req = urllib.request.Request(f"{base}/v1", data=json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
PY
  for _ in $(seq 1 600); do
    done_count=$(sqlite3 "$work/data/reelgate.db" "select count(*) from tasks where state = 'succeeded'")
    [ "$done_count" -ge "$1" ] && break
    sleep 0.2
  done
  stop_reelgate
}

# rss_mb PID -> the process's resident set in MB
rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
