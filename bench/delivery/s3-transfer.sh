#!/usr/bin/env bash
# A large result through an S3 media store (SPEC §16.1): multipart upload from its file, then the
# object read back into a file, as reelgate stores and serves it. Peak RSS growth against a
# 1 MiB result, and throughput against curl doing the same two transfers (one PUT, one GET) to
# the same endpoint in the same run. Targets: RSS growth < 32 MB; throughput >= 0.8x curl.
# The endpoint is moto's server (started here through Tests/support/with-moto.sh): it keeps
# objects in memory and is slower than a real store, for reelgate and curl alike.
if [ -z "${REELGATE_TEST_S3_ENDPOINT:-}" ]; then
  exec "$(dirname "$0")/../../Tests/support/with-moto.sh" "$0" "$@"
fi
source "$(dirname "$0")/../lib.sh"
SIZE=${SIZE:-1G}
command -v /usr/bin/time >/dev/null || { echo "/usr/bin/time missing (apt-get install time)"; exit 1; }
endpoint=$REELGATE_TEST_S3_ENDPOINT
mkdir -p "$work/xfer"
truncate -s "$SIZE" "$work/big.bin"
truncate -s 1M "$work/small.bin"

rss() { # command… -> prints "maxrss_kB elapsed_s"
  sync
  /usr/bin/time -f "%M %e" -o "$work/time.txt" "$@" >"$work/transfer.out" || { echo "transfer failed: $(cat "$work/transfer.out")" >&2; exit 1; }
  cat "$work/time.txt"
}
read -r small_rss _ < <(rss "$BIN" bench-transfer s3 "$endpoint" bench-small "$work/small.bin" "$work/xfer")
read -r big_rss gw_secs < <(rss "$BIN" bench-transfer s3 "$endpoint" bench-big "$work/big.bin" "$work/xfer")
echo "  reelgate, multipart (16 MiB parts): $(cat "$work/transfer.out")"
# The same transfers curl makes (one PUT, one GET): partBytes above the size.
bytes=$(stat -c %s "$work/big.bin")
read -r one_rss one_secs < <(PART_BYTES=$((bytes + 1)) rss "$BIN" bench-transfer s3 "$endpoint" bench-one "$work/big.bin" "$work/xfer")
echo "  reelgate, one PUT: $(cat "$work/transfer.out")"
# curl signs with its own SigV4 (it does not send x-amz-content-sha256 itself: added here).
sign=(--aws-sigv4 "aws:amz:us-east-1:s3" --user bench:bench -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
curl -s -o /dev/null "${sign[@]}" -X PUT "$endpoint/bench-curl"
sync
start=$(date +%s.%N)
curl -s -f -o /dev/null "${sign[@]}" -T "$work/big.bin" -H 'Content-Type: video/mp4' -H 'Expect:' "$endpoint/bench-curl/big.bin"
curl -s -f -o "$work/xfer/curl.bin" "${sign[@]}" "$endpoint/bench-curl/big.bin"
curl_secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
rm -f "$work/xfer/curl.bin"

awk -v b="$bytes" -v g="$gw_secs" -v o="$one_secs" -v c="$curl_secs" -v s="$small_rss" -v l="$big_rss" -v l1="$one_rss" 'BEGIN {
  printf "bench/delivery/s3-transfer: %.0f MiB through the s3 media store (moto)\n", b / 1048576
  printf "  curl PUT + GET:                  %6.2f s (%.0f MiB/s)\n", c, b / 1048576 / c
  printf "  reelgate, one PUT + GET:         %6.2f s (%.0f MiB/s)   ratio %.2fx curl (target >= 0.8)\n", o, b / 1048576 / o, c / o
  printf "  reelgate, multipart + GET:       %6.2f s (%.0f MiB/s)   ratio %.2fx curl (target >= 0.8; the default for this size)\n", g, b / 1048576 / g, c / g
  printf "  peak RSS: %.1f MB with 1 MiB; growth with %.0f MiB: %.1f MB multipart, %.1f MB one PUT (target < 32)\n", s / 1024, b / 1048576, (l - s) / 1024, (l1 - s) / 1024
}'
