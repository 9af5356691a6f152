#!/usr/bin/env bash
# Builds Fuzz/parser-fuzz: HTTP1 and Domain compiled by SwiftPM with libFuzzer's coverage and
# AddressSanitizer, linked with Fuzz/ParserFuzz by swiftc (libFuzzer brings its own main, which
# SwiftPM's executable targets cannot take). Usage: Fuzz/build.sh && Fuzz/run.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=.build-fuzz
# Two targets: Domain no longer depends on HTTP1, so building one does not build the other.
for target in HTTP1 Domain; do
  swift build --scratch-path "$scratch" --target "$target" -Xswiftc -sanitize=fuzzer,address >/dev/null
done
bin=$(swift build --scratch-path "$scratch" --show-bin-path)
swiftc -sanitize=fuzzer,address -parse-as-library -g -I "$bin/Modules" \
  Fuzz/ParserFuzz/ParserFuzz.swift "$bin"/HTTP1.build/*.o "$bin"/Domain.build/*.o -o "$scratch/parser-fuzz"
echo "$scratch/parser-fuzz"
