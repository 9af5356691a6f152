#!/usr/bin/env bash
# Scale (SPEC §14):
#  1. TASKS (10,000) tasks in flight upstream on the simulator at 60 s latency: RSS and threads
#     of the gateway once they are all running. Targets: RSS < 150 MB, < 64 threads.
#  2. Restart with ROWS (100,000) tasks in the database: time from exec to serving (/readyz 200).
#     Target: < 1 s.
source "$(dirname "$0")/../lib.sh"
TASKS=${TASKS:-10000}
ROWS=${ROWS:-100000}
export BENCH_KEY

start_reelgate "{\"providers\":{\"simulator\":{\"latencySeconds\":60}}}"   # default 8 workers: parked tasks wait in the store
pid=${pids[-1]}
python3 - "$GW_URL" "$BENCH_KEY" "$TASKS" <<'PY'
import json, sys, urllib.request, uuid
base, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for start in range(0, n, 100):  # at most 100 tasks a request (the API refuses more)
    tasks = [{"taskType": "videoInference", "taskUUID": str(uuid.uuid4()), "model": "reelgate:simulator@1", "positivePrompt": "scale"}
             for _ in range(min(100, n - start))]
    req = urllib.request.Request(f"{base}/v1", data=json.dumps(tasks).encode(), headers={"Authorization": f"Bearer {key}"})
    urllib.request.urlopen(req).read()
PY
# Wait (bounded) until every task is running upstream.
running=0
for _ in $(seq 1 120); do
  running=$(sqlite3 "$work/data/reelgate.db" "select count(*) from tasks where state = 'running'" 2>/dev/null || echo 0)
  [ "$running" -ge "$TASKS" ] && break
  sleep 0.5
done
sleep 5  # let the pollers settle into their steady state before sampling
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
threads=$(awk '/Threads/ {print $2}' "/proc/$pid/status")
cpu=$(ps -o %cpu= -p "$pid" | tr -d ' ')
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true

# 2. ROWS tasks in the database, then time a restart until /readyz answers 200.
python3 - "$work/data/reelgate.db" "$ROWS" <<'PY'
import sqlite3, sys, time, uuid
db = sqlite3.connect(sys.argv[1]); n = int(sys.argv[2]); now = time.time()
have, seq = db.execute("select count(*), coalesce(max(seq), 0) from tasks").fetchone()
rows = [(str(uuid.uuid4()), seq + 1 + i, "bench", "reelgate:simulator@1", "{}", "h", "succeeded", now, now, now) for i in range(max(0, n - have))]
db.executemany("insert into tasks (uuid, seq, api_key_name, model, request_json, request_hash, state, created_at, updated_at, next_attempt_at) values (?,?,?,?,?,?,?,?,?,?)", rows)
db.commit()
PY
total=$(sqlite3 "$work/data/reelgate.db" "select count(*) from tasks")
start=$(date +%s.%N)
REELGATE_LISTEN=127.0.0.1:0 REELGATE_DATA_DIR="$work/data" REELGATE_API_KEYS="bench:$BENCH_KEY:ops" \
  "$BIN" serve --config "$work/config.json" >"$work/gw2.out" 2>"$work/gw2.err" &
pids+=($!)
url=""
for _ in $(seq 1 2000); do
  url=$(sed -n 's/^listening on //p' "$work/gw2.out")
  [ -n "$url" ] && curl -s -o /dev/null -w '%{http_code}' "$url/readyz" | grep -q 200 && break
  sleep 0.005
done
ready=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')

echo "bench/scale"
printf "  %d tasks running upstream (simulator, 60 s): RSS %.1f MB (target < 150), %d threads (target < 64), CPU %s%%\n" \
  "$running" "$(awk -v k="$rss_kb" 'BEGIN { print k / 1024 }')" "$threads" "$cpu"
printf "  restart with %d tasks in the database: serving (/readyz 200) after %s s (target < 1)\n" "$total" "$ready"
