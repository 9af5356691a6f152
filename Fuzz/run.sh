#!/usr/bin/env bash
# Runs the parser fuzzer for SECONDS (default 600) from the committed seeds; new inputs go to
# .build-fuzz/corpus, crashes to .build-fuzz/ (turn each into a regression test).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
mkdir -p .build-fuzz/corpus
exec .build-fuzz/parser-fuzz -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1 \
  -artifact_prefix=.build-fuzz/ .build-fuzz/corpus Fuzz/corpus
