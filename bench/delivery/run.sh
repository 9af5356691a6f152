#!/usr/bin/env bash
# Delivery latency (SPEC §14): from a result being stored (upstream done, video on disk) to its
# webhook arriving, over TASKS tasks on loopback. Target: p99 < 50 ms, for a burst (all TASKS
# submitted at once, finishing together) and for a steady stream (RATE=500: tasks/s, paced).
#
#   bench/delivery/run.sh              # 2,000 tasks at once
#   RATE=500 bench/delivery/run.sh     # 2,000 tasks at 500/s
source "$(dirname "$0")/../lib.sh"
TASKS=${TASKS:-2000}
RATE=${RATE:-0}

python3 bench/delivery/receiver.py >"$work/receiver.port" &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$work/receiver.port" ] && break; sleep 0.1; done
rport=$(head -1 "$work/receiver.port")

start_reelgate '{"providers":{"simulator":{"latencySeconds":0.05}},"workers":{"count":32},"network":{"allowHTTP":true,"allowHosts":["127.0.0.1/32"]}}'

python3 - "$GW_URL" "$BENCH_KEY" "$rport" "$TASKS" "$RATE" >"$work/submitted.txt" <<'PY'
import json, sys, time, urllib.request, uuid
base, key, rport, n, rate = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
began = time.time()
print(f"{began:.6f}")
batch = 10 if rate > 0 else 50
for start in range(0, n, batch):
    if rate > 0:  # paced: the batch starting at task k goes at k / rate seconds
        time.sleep(max(0.0, began + start / rate - time.time()))
    tasks = [{"taskType": "videoInference", "taskUUID": str(uuid.uuid4()), "model": "reelgate:simulator@1",
              "positivePrompt": "delivery benchmark", "webhookURL": f"http://127.0.0.1:{rport}/hook"}
             for _ in range(min(batch, n - start))]
    req = urllib.request.Request(f"{base}/v1", data=json.dumps(tasks).encode(),
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
PY

# Wait (bounded) until every webhook arrived.
for _ in $(seq 1 600); do
  got=$(curl -s "http://127.0.0.1:$rport/dump" | wc -l)
  [ "$got" -ge "$TASKS" ] && break
  sleep 0.2
done
curl -s "http://127.0.0.1:$rport/dump" >"$work/arrivals.txt"
sqlite3 -separator ' ' "$work/data/reelgate.db" "select 'msg_' || video_uuid, printf('%.6f', ready_at) from results where ready_at is not null" >"$work/ready.txt"

python3 - "$work/arrivals.txt" "$work/ready.txt" "$TASKS" "$work/submitted.txt" "$RATE" <<'PY'
import sys
arrivals = dict(line.split() for line in open(sys.argv[1]) if line.strip())
ready = dict(line.split() for line in open(sys.argv[2]) if line.strip())
lat = sorted((float(arrivals[k]) - float(ready[k])) * 1000 for k in arrivals if k in ready)
n = int(sys.argv[3])
def pct(p): return lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
print(f"bench/delivery: {len(lat)}/{n} webhooks received ({'burst' if sys.argv[5] == '0' else sys.argv[5] + ' tasks/s'})")
if lat:
    print(f"  result stored -> webhook received: p50 {pct(50):.1f} ms   p99 {pct(99):.1f} ms   max {lat[-1]:.1f} ms (target p99 < 50 ms)")
    first_ack = float(open(sys.argv[4]).read().split()[0])
    stored = sorted(float(v) for v in ready.values())
    arrived = sorted(float(v) for v in arrivals.values())
    print(f"  drain: first submit -> last webhook {arrived[-1] - first_ack:.2f} s, {len(arrived) / (arrived[-1] - first_ack):.0f} webhooks/s; "
          f"results stored over {stored[-1] - stored[0]:.2f} s ({len(stored) / max(stored[-1] - stored[0], 1e-9):.0f}/s)")
PY
