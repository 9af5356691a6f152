#!/usr/bin/env bash
# Durable submits and polls (SPEC §14): wrk POSTs unique videoInference tasks (each acknowledged
# only after its group commit, synchronous=FULL), then polls getResponse and GET /v1/tasks/<id>.
# Targets: >= 10k submits/s with p99 < 20 ms; polls >= 0.25x nginx `return 200` in the same run.
source "$(dirname "$0")/../lib.sh"
export BENCH_KEY

# 60 s simulator latency and a 64-job cap, like a real provider: accepted tasks queue durably
# behind the cap while workers poll the running ones, and nothing finishes mid-run.
start_reelgate '{"providers":{"simulator":{"latencySeconds":60,"limits":{"maxConcurrent":64,"requestsPerMinute":100000}}}}'
start_nginx

read -r sub_rps sub_p99 sub_err < <(measure "$GW_URL" -s bench/submit/submit.lua)
stored=$(sqlite3 "$work/data/reelgate.db" 'select count(*) from tasks' 2>/dev/null || echo "?")

# 1000 known tasks to poll.
ids=$(python3 -c 'import uuid; print(",".join(str(uuid.uuid4()) for _ in range(1000)))')
python3 -c 'import sys,json; print(json.dumps([{"taskType":"videoInference","taskUUID":u,"model":"reelgate:simulator@1","positivePrompt":"poll target"} for u in sys.argv[1].split(",")]))' "$ids" >"$work/poll-tasks.json"
curl -s -o /dev/null -H "Authorization: Bearer $BENCH_KEY" --data-binary @"$work/poll-tasks.json" "$GW_URL/v1"
export POLL_IDS=$ids
read -r poll_rps poll_p99 poll_err < <(POLL_MODE=getResponse measure "$GW_URL" -s bench/submit/poll.lua)
read -r task_rps task_p99 task_err < <(POLL_MODE=task measure "$GW_URL" -s bench/submit/poll.lua)
read -r ng_rps ng_p99 _ < <(measure "$NG_URL/")

echo "bench/submit: wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $(nproc) cores"
printf "  %-34s %10s /s   p99 %-8s errors %s   (tasks stored: %s)\n" "submit videoInference (durable)" "$sub_rps" "$sub_p99" "$sub_err" "$stored"
printf "  %-34s %10s /s   p99 %-8s errors %s\n" "poll getResponse" "$poll_rps" "$poll_p99" "$poll_err"
printf "  %-34s %10s /s   p99 %-8s errors %s\n" "GET /v1/tasks/<id>" "$task_rps" "$task_p99" "$task_err"
printf "  %-34s %10s /s   p99 %s\n" "nginx return 200 (baseline)" "$ng_rps" "$ng_p99"
echo "  submits: $(ratio "$sub_rps" 10000)x of the 10k/s target (p99 target < 20ms)"
echo "  getResponse/nginx: $(ratio "$poll_rps" "$ng_rps"), tasks/<id>/nginx: $(ratio "$task_rps" "$ng_rps") (target >= 0.25)"
