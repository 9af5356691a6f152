#!/usr/bin/env bash
# Durable submits on PostgreSQL with 1, 2 and 3 gateways on one database, next to SQLite in the
# same run (SPEC §14, §16). Each gateway runs as in production: simulator at 60 s latency behind
# a 64-job cap (global, through the database), so accepted tasks queue while workers claim.
# wrk drives every instance at once (CONNECTIONS split between them); figures are summed tasks/s
# and the worst instance's p99. Targets: 2 instances >= 1.7x one; one on PostgreSQL >= 0.5x SQLite.
# Without REELGATE_TEST_DATABASE_URL it starts a throwaway cluster (Tests/support/with-postgres.sh).
# Note: on a 2-core machine the instances, PostgreSQL and wrk share the same cores.
if [ -z "${REELGATE_TEST_DATABASE_URL:-}" ]; then
  exec "$(dirname "$0")/../../Tests/support/with-postgres.sh" "$0" "$@"
fi
source "$(dirname "$0")/../lib.sh"
export BENCH_KEY
CONFIG='{"providers":{"simulator":{"latencySeconds":60,"limits":{"maxConcurrent":64,"requestsPerMinute":100000}}}}'

# measure_all URL... -> "summed_rps worst_p99 errors": wrk on every URL at once.
measure_all() {
  local i=0 per=$((CONNECTIONS / $#)) running=()
  for url in "$@"; do
    CONNECTIONS=$per measure "$url" -s bench/submit/submit.lua >"$work/measure-$i" &
    running+=($!)
    i=$((i + 1))
  done
  wait "${running[@]}"
  cat "$work"/measure-* | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    { rps += $1; p = ms($2); if (p > worst) worst = p; err += $3 }
    END { printf "%.0f %.2fms %d\n", rps, worst, err }'
  rm -f "$work"/measure-*
}

results=()
start_reelgate "$CONFIG" sqlite
read -r sqlite_rps sqlite_p99 sqlite_err < <(measure_all "$GW_URL")
stop_reelgate
results+=("SQLite, 1 instance|$sqlite_rps|$sqlite_p99|$sqlite_err")

declare -A pg_rps
for n in 1 2 3; do
  db="bench_$n"
  psql -q "$REELGATE_TEST_DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
  export REELGATE_DATABASE_URL="${REELGATE_TEST_DATABASE_URL%/*}/$db" REELGATE_MEDIA_DIR="$work/media-$n"
  mkdir -p "$REELGATE_MEDIA_DIR"
  urls=() started=()
  for i in $(seq 1 "$n"); do
    start_reelgate "$CONFIG" "pg$n-$i"
    urls+=("$GW_URL") started+=("$GW_PID")
  done
  read -r rps p99 err < <(measure_all "${urls[@]}")
  stored=$(psql -qtA "$REELGATE_DATABASE_URL" -c "SELECT count(*) FROM tasks")
  for pid in "${started[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${started[@]}"; do wait "$pid" 2>/dev/null || true; done
  pg_rps[$n]=$rps
  results+=("PostgreSQL, $n instance(s)|$rps|$p99|$err (tasks stored: $stored)")
  unset REELGATE_DATABASE_URL REELGATE_MEDIA_DIR
done

echo "bench/postgres: wrk -t$THREADS -c$CONNECTIONS -d$DURATION (connections split between instances) on $(nproc) cores"
for line in "${results[@]}"; do
  IFS='|' read -r label rps p99 rest <<<"$line"
  printf "  %-32s %8s tasks/s   p99 %-10s errors %s\n" "$label" "$rps" "$p99" "$rest"
done
echo "  2 instances / 1: $(ratio "${pg_rps[2]}" "${pg_rps[1]}")x (target >= 1.7), 3 / 1: $(ratio "${pg_rps[3]}" "${pg_rps[1]}")x"
echo "  PostgreSQL 1 instance / SQLite: $(ratio "${pg_rps[1]}" "$sqlite_rps")x (target >= 0.5)"
