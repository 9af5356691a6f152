#!/usr/bin/env bash
# Time to first byte of a result served from an S3 media store (SPEC §16.1): reelgate's own
# signed link, which asks the bucket for the object's size, then for the range asked for, and
# sends that range while it arrives (staged in a local file), against curl reading the same
# object straight from the store. A 1 GiB object under a finished task's key; the first byte of
# the whole object, of a 1 MiB range at its middle, and the whole transfer, median of RUNS.
# Target: the first byte within 50 ms of the store's own (moto here, in memory on loopback).
if [ -z "${REELGATE_TEST_S3_ENDPOINT:-}" ]; then
  exec "$(dirname "$0")/../../Tests/support/with-moto.sh" "$0" "$@"
fi
source "$(dirname "$0")/../lib.sh"
SIZE=${SIZE:-1G}
RUNS=${RUNS:-5}
endpoint=$REELGATE_TEST_S3_ENDPOINT
bucket=ttfb-$RANDOM$RANDOM
sign=(--aws-sigv4 "aws:amz:us-east-1:s3" --user testing:testing -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
curl -s -f -o /dev/null "${sign[@]}" -X PUT "$endpoint/$bucket"
start_reelgate "{\"providers\":{\"simulator\":{\"latencySeconds\":0.2}},
  \"media\":{\"store\":{\"type\":\"s3\",\"endpoint\":\"$endpoint\",\"bucket\":\"$bucket\",\"accessKeyId\":\"testing\",\"secretAccessKey\":\"testing\"}}}"
task=$(python3 -c 'import uuid; print(uuid.uuid4())')
curl -s -f -o /dev/null -H "Authorization: Bearer $BENCH_KEY" -H 'Content-Type: application/json' \
  -d "[{\"taskType\":\"videoInference\",\"taskUUID\":\"$task\",\"model\":\"reelgate:simulator@1\",\"positivePrompt\":\"ttfb\"}]" "$GW_URL/v1"
link=""
for _ in $(seq 1 200); do
  link=$(curl -s -H "Authorization: Bearer $BENCH_KEY" "$GW_URL/v1/tasks/$task" | python3 -c 'import json,sys; r=json.load(sys.stdin).get("results") or [{}]; print(r[0].get("videoURL",""))')
  [ -n "$link" ] && break
  sleep 0.1
done
[ -n "$link" ] || { echo "the task did not finish"; exit 1; }
video=$(basename "${link%%\?*}")
# The finished task's object replaced by a large one under the same key: what a long video is.
truncate -s "$SIZE" "$work/big.bin"
curl -s -f -o /dev/null "${sign[@]}" -T "$work/big.bin" -H 'Content-Type: video/mp4' -H 'Expect:' "$endpoint/$bucket/$video"
bytes=$(stat -c %s "$work/big.bin")
middle=$((bytes / 2))
measure() { # label, then curl arguments -> median of RUNS: first byte and total, in ms
  local label=$1; shift
  for _ in $(seq 1 "$RUNS"); do curl -s -f -o /dev/null -w '%{time_starttransfer} %{time_total}\n' "$@"; done |
    sort -n | awk -v l="$label" '{ f[NR] = $1; t[NR] = $2 } END { m = int((NR + 1) / 2); printf "%s %.1f %.1f\n", l, f[m] * 1000, t[m] * 1000 }'
}
{
  measure store-whole "${sign[@]}" "$endpoint/$bucket/$video"
  measure reelgate-whole "$link"
  measure store-range "${sign[@]}" -r "$middle-$((middle + 1048575))" "$endpoint/$bucket/$video"
  measure reelgate-range -r "$middle-$((middle + 1048575))" "$link"
} >"$work/ttfb.txt"
awk -v b="$bytes" -v runs="$RUNS" '{ f[$1] = $2; t[$1] = $3 } END {
  printf "bench/delivery/s3-ttfb: a %.0f MiB object in an s3 media store (moto), median of %d\n", b / 1048576, runs
  printf "  whole object, first byte:  store %7.1f ms   reelgate %7.1f ms   (+%.1f ms; target <= 50)\n", f["store-whole"], f["reelgate-whole"], f["reelgate-whole"] - f["store-whole"]
  printf "  whole object, all bytes:   store %7.1f ms   reelgate %7.1f ms   ratio %.2fx the store\n", t["store-whole"], t["reelgate-whole"], t["store-whole"] / t["reelgate-whole"]
  printf "  1 MiB range, first byte:   store %7.1f ms   reelgate %7.1f ms   (+%.1f ms; target <= 50)\n", f["store-range"], f["reelgate-range"], f["reelgate-range"] - f["store-range"]
}' "$work/ttfb.txt"
