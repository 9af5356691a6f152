#!/usr/bin/env bash
# Durable submits and polls (SPEC §14), against nginx `return 200` in the same run:
# - submit: wrk POSTs unique videoInference tasks, each acknowledged only after its group commit
#   (the fsync of the WAL that covers it). Target >= 10k tasks/s with p99 < 20 ms.
# - getResponse of a succeeded 2-result task (signed URLs built on every poll): >= 0.30x nginx.
# - GET /v1/tasks/<id> of a succeeded task with its event log: >= 0.20x nginx.
# - GET /healthz: >= 0.60x nginx.
# The gateway works as in production meanwhile: simulator with 60 s latency behind a 64-job cap,
# so accepted tasks queue durably while workers poll the running ones.
source "$(dirname "$0")/../lib.sh"
export BENCH_KEY
POLL_TASKS=${POLL_TASKS:-1000}

# Phase 1: the poll targets, finished by a fast simulator on the same database.
prepare_poll_targets "$POLL_TASKS"

# Phase 2: production-like settings on the same database.
start_reelgate '{"providers":{"simulator":{"latencySeconds":60,"limits":{"maxConcurrent":64,"requestsPerMinute":100000}}}}'
start_nginx
export POLL_IDS=$ids
read -r ng_rps ng_p99 _ < <(measure "$NG_URL/")
read -r sub_rps sub_p99 sub_err < <(measure "$GW_URL" -s bench/submit/submit.lua)
stored=$(sqlite3 "$work/data/reelgate.db" 'select count(*) from tasks' 2>/dev/null || echo "?")
read -r poll_rps poll_p99 poll_err < <(POLL_MODE=getResponse measure "$GW_URL" -s bench/submit/poll.lua)
read -r task_rps task_p99 task_err < <(POLL_MODE=task measure "$GW_URL" -s bench/submit/poll.lua)
read -r hz_rps hz_p99 hz_err < <(measure "$GW_URL/healthz")
read -r ng2_rps ng2_p99 _ < <(measure "$NG_URL/")
ng_rps=$(awk -v a="$ng_rps" -v b="$ng2_rps" 'BEGIN { printf "%.2f", (a + b) / 2 }')

echo "bench/submit: wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $(nproc) cores; polls hit $POLL_TASKS succeeded 2-result tasks ($done_count done)"
printf "  %-40s %10s /s   p99 %-8s errors %s   (tasks stored: %s)\n" "submit videoInference (durable)" "$sub_rps" "$sub_p99" "$sub_err" "$stored"
printf "  %-40s %10s /s   p99 %-8s errors %s\n" "getResponse, succeeded 2-result task" "$poll_rps" "$poll_p99" "$poll_err"
printf "  %-40s %10s /s   p99 %-8s errors %s\n" "GET /v1/tasks/<id>, succeeded" "$task_rps" "$task_p99" "$task_err"
printf "  %-40s %10s /s   p99 %-8s errors %s\n" "GET /healthz" "$hz_rps" "$hz_p99" "$hz_err"
printf "  %-40s %10s /s   (mean of before and after)\n" "nginx return 200 (baseline)" "$ng_rps"
echo "  submits: $(ratio "$sub_rps" 10000)x of the 10k/s target (p99 target < 20ms)"
echo "  getResponse/nginx $(ratio "$poll_rps" "$ng_rps") (target >= 0.30), tasks/<id>/nginx $(ratio "$task_rps" "$ng_rps") (>= 0.20), healthz/nginx $(ratio "$hz_rps" "$ng_rps") (>= 0.60)"
