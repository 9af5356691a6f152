#!/usr/bin/env bash
# Runs each fuzzer for SECONDS (default 600) from its committed seeds; new inputs go to
# .build-fuzz/<name>-corpus, crashes to .build-fuzz/ (turn each into a regression test).
# Usage: Fuzz/run.sh [seconds] [parser|websocket|multipart]  (all, one after the other, by default)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
targets=${2:-parser websocket multipart}
for name in $targets; do
  case $name in
    parser) seeds=Fuzz/corpus ;;
    websocket) seeds=Fuzz/websocket-corpus ;;
    multipart) seeds=Fuzz/multipart-corpus ;;
    *) echo "unknown fuzzer $name"; exit 2 ;;
  esac
  mkdir -p ".build-fuzz/$name-corpus"
  echo "== $name-fuzz for $seconds s"
  .build-fuzz/$name-fuzz -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1 \
    -artifact_prefix=".build-fuzz/$name-" ".build-fuzz/$name-corpus" "$seeds"
done
