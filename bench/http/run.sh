#!/usr/bin/env bash
# Bare-route throughput: reelgate's GET /healthz against nginx `return 200`, same machine, same run.
# Target (SPEC §14): reelgate >= 0.5x nginx. Loopback only; bounded duration; stops by itself.
#
#   bench/http/run.sh                 # wrk -t2 -c64, 10 s per target after a 2 s warm-up
#   DURATION=20s CONNECTIONS=128 bench/http/run.sh
source "$(dirname "$0")/../lib.sh"

start_reelgate '{}'
start_nginx
read -r ng_rps ng_p99 _ < <(measure "$NG_URL/healthz")
read -r gw_rps gw_p99 gw_err < <(measure "$GW_URL/healthz")

echo "bench/http: wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $(nproc) cores"
printf "  %-28s %12s req/s   p99 %s\n" "nginx return 200" "$ng_rps" "$ng_p99"
printf "  %-28s %12s req/s   p99 %s   errors %s\n" "reelgate GET /healthz" "$gw_rps" "$gw_p99" "$gw_err"
echo "  ratio reelgate/nginx: $(ratio "$gw_rps" "$ng_rps") (target >= 0.50)"
