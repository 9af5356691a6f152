#!/usr/bin/env bash
# A result served from an S3 media store (SPEC §16.1) through reelgate's own signed link, which
# asks the bucket for the object's size, then for the range asked for, and relays that range
# while it arrives (through memory; a client slower than the store gets the rest from a local
# file), against boto3 reading the same object straight from the store. A 1 GiB object under a
# finished task's key: the first byte of the whole object and of a 1 MiB range at its middle, and
# the whole transfer, median of RUNS; and the gateway's peak RSS before and after.
# Targets (issue 14): the whole object at >= 0.8x the store's own time, RSS growth < 32 MB.
# moto (in memory, on loopback) is the store; it takes about half a second before it sends the
# first byte of any GET of a large object.
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
# First body byte and last byte, in ms, median of RUNS: straight from the store (boto3, signed)
# and through reelgate's link (plain HTTP). Headers alone do not count: reelgate may answer them
# before the store has sent anything.
hwm() { awk '/VmHWM/ { print $2 }' "/proc/$GW_PID/status"; }  # peak RSS so far, kB
rss_before=$(hwm)
"$REELGATE_TEST_S3_PYTHON" - "$endpoint" "$bucket" "$video" "$link" "$middle" "$RUNS" >"$work/ttfb.txt" <<'PY'
import statistics, sys, time, urllib.parse, http.client
import boto3
endpoint, bucket, key, link, middle, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
span = f"bytes={middle}-{middle + 1048575}"
def store(range_):
    start = time.perf_counter()
    body = s3.get_object(Bucket=bucket, Key=key, **({"Range": range_} if range_ else {}))["Body"]
    body.read(1); first = time.perf_counter()
    while body.read(1 << 20): pass
    return (first - start) * 1000, (time.perf_counter() - start) * 1000
def reelgate(range_):
    url = urllib.parse.urlsplit(link)
    start = time.perf_counter()
    conn = http.client.HTTPConnection(url.hostname, url.port)
    conn.request("GET", url.path + "?" + url.query, headers={"Range": range_} if range_ else {})
    resp = conn.getresponse(); assert resp.status in (200, 206), resp.status
    resp.read(1); first = time.perf_counter()
    while resp.read(1 << 20): pass
    conn.close()
    return (first - start) * 1000, (time.perf_counter() - start) * 1000
for label, fn, range_ in [("store-whole", store, None), ("reelgate-whole", reelgate, None), ("store-range", store, span), ("reelgate-range", reelgate, span)]:
    samples = [fn(range_) for _ in range(runs)]
    print(label, statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples))
PY
rss_after=$(hwm)
awk -v b="$bytes" -v runs="$RUNS" -v r0="$rss_before" -v r1="$rss_after" '{ f[$1] = $2; t[$1] = $3 } END {
  printf "bench/delivery/s3-ttfb: a %.0f MiB object in an s3 media store (moto), median of %d\n", b / 1048576, runs
  printf "  whole object, first byte:  store %7.1f ms   reelgate %7.1f ms   (+%.1f ms)\n", f["store-whole"], f["reelgate-whole"], f["reelgate-whole"] - f["store-whole"]
  printf "  whole object, all bytes:   store %7.1f ms   reelgate %7.1f ms   ratio %.2fx the store (target >= 0.8)\n", t["store-whole"], t["reelgate-whole"], t["store-whole"] / t["reelgate-whole"]
  printf "  1 MiB range, first byte:   store %7.1f ms   reelgate %7.1f ms   (+%.1f ms)\n", f["store-range"], f["reelgate-range"], f["reelgate-range"] - f["store-range"]
  printf "  reelgate peak RSS: %.1f MB before serving, %.1f MB after (growth %.1f MB, target < 32)\n", r0 / 1024, r1 / 1024, (r1 - r0) / 1024
}' "$work/ttfb.txt"
