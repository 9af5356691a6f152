#!/usr/bin/env bash
# The Runware WebSocket transport (SPEC §15) against REST, in the same run on the same database:
# - submits: one unique videoInference per message over one WebSocket per client (wsload, a small
#   C client, since wrk cannot speak WebSocket) vs one per POST with wrk; the same number of
#   clients, each with one request outstanding. Target: WebSocket submits >= REST submits.
# - polls: getResponse of a succeeded 2-result task, both ways.
# - idle sessions: 10,000 authenticated sockets held silent. Target: < 100 MB RSS in all, once
#   settled (the figure right after the burst of 10,000 handshakes is printed too).
# The gateway runs as in production meanwhile (simulator at 60 s behind a 64-job cap).
source "$(dirname "$0")/../lib.sh"
export BENCH_KEY
POLL_TASKS=${POLL_TASKS:-1000}
SESSIONS=${SESSIONS:-10000}
seconds=${DURATION%s}
cc -O2 -Wall -o "$work/wsload" bench/websocket/wsload.c

prepare_poll_targets "$POLL_TASKS"
tr ',' '\n' <<<"$ids" >"$work/ids"
export POLL_IDS=$ids

start_reelgate "{\"providers\":{\"simulator\":{\"latencySeconds\":60,\"limits\":{\"maxConcurrent\":64,\"requestsPerMinute\":100000}}},
  \"server\":{\"maxConnections\":$((SESSIONS + 200)),\"maxConnectionsPerClient\":$((SESSIONS + 200))}}"
port=${GW_URL##*:}
ws() { "$work/wsload" 127.0.0.1 "$port" "$BENCH_KEY" "$@"; }
ws submit "$CONNECTIONS" 2 >/dev/null  # warm-up, as measure() does for wrk
read -r rest_sub rest_sub_p99 rest_sub_err < <(measure "$GW_URL" -s bench/submit/submit.lua)
read -r ws_sub ws_sub_p99 ws_sub_err ws_pushes < <(ws submit "$CONNECTIONS" "$seconds")
read -r rest_poll rest_poll_p99 rest_poll_err < <(POLL_MODE=getResponse measure "$GW_URL" -s bench/submit/poll.lua)
read -r ws_poll ws_poll_p99 ws_poll_err _ < <(ws poll "$CONNECTIONS" "$seconds" "$work/ids")
# The second round in the other order: the database grows as the run goes on.
read -r ws_sub2 _ _ _ < <(ws submit "$CONNECTIONS" "$seconds")
read -r rest_sub2 _ _ < <(measure "$GW_URL" -s bench/submit/submit.lua)
stop_reelgate

# Push latency: tasks finishing on a fast simulator, pushed to the socket that submitted them
# (on a fresh database: the submits above would queue ahead of them).
rm -rf "$work/data"
start_reelgate '{"providers":{"simulator":{"latencySeconds":0.2}}}'
port=${GW_URL##*:}
read -r push_p50 push_p99 push_max push_n < <(python3 bench/websocket/push_latency.py 127.0.0.1 "$port" "$BENCH_KEY" 200)
stop_reelgate

# Idle sessions, on a fresh process so that nothing else has grown its heap.
start_reelgate "{\"server\":{\"maxConnections\":$((SESSIONS + 200)),\"maxConnectionsPerClient\":$((SESSIONS + 200))}}"
port=${GW_URL##*:}
before=$(rss_mb "$GW_PID")
# exec: the coproc's pid is wsload's own, so the kill below (or the exit trap) ends the client
# and its 10,000 sockets, not only a subshell that would leave it holding them for 600 s.
coproc IDLE { exec "$work/wsload" 127.0.0.1 "$port" "$BENCH_KEY" idle "$SESSIONS" 600; }
pids+=("$IDLE_PID")
read -r word held <&"${IDLE[0]}"
[ "$word" = ready ] || { echo "the idle client did not get $SESSIONS sessions: $word $held"; exit 1; }
ready=$(rss_mb "$GW_PID")
sleep 12  # one pass of the gateway's 10 s housekeeping, which gives memory freed after the burst back
after=$(rss_mb "$GW_PID")
sessions=$(curl -s "$GW_URL/metrics" | awk '/^reelgate_websocket_sessions\{state="attached"\}/ {print $2}')
kill "$IDLE_PID" 2>/dev/null || true
stop_reelgate

echo "bench/websocket: $CONNECTIONS clients, one request outstanding each, ${seconds}s per figure, on $(nproc) cores"
printf "  %-44s %8s /s   p99 %-9s errors %s\n" "submit over REST (wrk)" "$rest_sub" "$rest_sub_p99" "$rest_sub_err"
printf "  %-44s %8s /s   p99 %-9s errors %s (pushes seen %s)\n" "submit over WebSocket (wsload)" "$ws_sub" "$ws_sub_p99" "$ws_sub_err" "$ws_pushes"
printf "  %-44s %8s /s   / %s /s  (second round, WebSocket first, then REST)\n" "submit again, WebSocket / REST" "$ws_sub2" "$rest_sub2"
printf "  %-44s %8s /s   p99 %-9s errors %s\n" "getResponse over REST (wrk)" "$rest_poll" "$rest_poll_p99" "$rest_poll_err"
printf "  %-44s %8s /s   p99 %-9s errors %s\n" "getResponse over WebSocket (wsload)" "$ws_poll" "$ws_poll_p99" "$ws_poll_err"
printf "  %-44s p50 %s ms, p99 %s ms, max %s ms over %s tasks (target: within 50 ms)\n" "push after the results were stored" "$push_p50" "$push_p99" "$push_max" "$push_n"
printf "  %-44s %8s MB -> %s MB when all %s are up, %s MB settled (metrics: %s attached)\n" "idle sessions, gateway RSS" "$before" "$ready" "$held" "$after" "$sessions"
ws_total=$(awk -v a="$ws_sub" -v b="$ws_sub2" 'BEGIN { print a + b }')
rest_total=$(awk -v a="$rest_sub" -v b="$rest_sub2" 'BEGIN { print a + b }')
echo "  WebSocket/REST submits $(ratio "$ws_total" "$rest_total") (target >= 1.00), polls $(ratio "$ws_poll" "$rest_poll");" \
  "RSS with $held idle sessions ${after} MB (target < 100), $(awk -v a="$after" -v b="$before" -v n="$held" 'BEGIN { printf "%.1f", (a - b) * 1024 / n }') KB a session"
