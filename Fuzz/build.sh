#!/usr/bin/env bash
# Builds the fuzzers: HTTP1, Domain and WebSocket compiled by SwiftPM with libFuzzer's coverage
# and AddressSanitizer, linked by swiftc with each entry point (libFuzzer brings its own main,
# which SwiftPM's executable targets cannot take). Usage: Fuzz/build.sh && Fuzz/run.sh [seconds]
#   .build-fuzz/parser-fuzz     the HTTP/1.1 request parser and the JSON parser
#   .build-fuzz/websocket-fuzz  the WebSocket frame parser
#   .build-fuzz/multipart-fuzz  the multipart/form-data parser
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=.build-fuzz
# One build per target: Domain does not depend on HTTP1, so building one does not build the other.
for target in HTTP1 Domain WebSocket Multipart; do
  swift build --scratch-path "$scratch" --target "$target" -Xswiftc -sanitize=fuzzer,address >/dev/null
done
bin=$(swift build --scratch-path "$scratch" --show-bin-path)
swiftc -sanitize=fuzzer,address -parse-as-library -g -I "$bin/Modules" \
  Fuzz/ParserFuzz/ParserFuzz.swift "$bin"/HTTP1.build/*.o "$bin"/Domain.build/*.o -o "$scratch/parser-fuzz"
swiftc -sanitize=fuzzer,address -parse-as-library -g -I "$bin/Modules" \
  Fuzz/WebSocketFuzz/WebSocketFuzz.swift "$bin"/WebSocket.build/*.o "$bin"/HTTP1.build/*.o -o "$scratch/websocket-fuzz"
swiftc -sanitize=fuzzer,address -parse-as-library -g -I "$bin/Modules" \
  Fuzz/MultipartFuzz/MultipartFuzz.swift "$bin"/Multipart.build/*.o -o "$scratch/multipart-fuzz"
echo "$scratch/parser-fuzz $scratch/websocket-fuzz $scratch/multipart-fuzz"
