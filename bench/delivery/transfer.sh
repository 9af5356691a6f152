#!/usr/bin/env bash
# A large result through fetch → upload (SPEC §14): peak RSS growth and throughput of reelgate's
# transfer path against curl doing the same two transfers, same machine, same run.
# Targets: RSS growth < 32 MB; throughput >= 0.8x curl. SIZE defaults to 1 GiB.
source "$(dirname "$0")/../lib.sh"
SIZE=${SIZE:-1G}
command -v /usr/bin/time >/dev/null || { echo "/usr/bin/time missing (apt-get install time)"; exit 1; }

mkdir -p "$work/www" "$work/xfer"
truncate -s "$SIZE" "$work/www/big.bin"
truncate -s 1M "$work/www/small.bin"
chmod a+rx "$work" "$work/www" && chmod a+r "$work/www/"*   # nginx workers run unprivileged
nginx=$(command -v nginx || echo /usr/sbin/nginx)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/nginx-x.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx-x.pid;
error_log $work/nginx-x.err;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $work/nginx-body;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:$port;
    location /files/ { alias $work/www/; }
    location /upload { return 204; }
  }
}
NGINX
"$nginx" -c "$work/nginx-x.conf" -p "$work" &
pids+=($!)
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$port/files/small.bin" && break; sleep 0.1; done
base="http://127.0.0.1:$port"

rss() { # command… -> prints "maxrss_kB elapsed_s"
  sync  # start each measurement with no writeback pending from the previous one
  /usr/bin/time -f "%M %e" -o "$work/time.txt" "$@" >"$work/transfer.out" || { echo "transfer failed: $(cat "$work/transfer.out")" >&2; exit 1; }
  cat "$work/time.txt"
}
read -r small_rss _ < <(rss "$BIN" bench-transfer "$base/files/small.bin" "$base/upload" "$work/xfer")
read -r big_rss gw_secs < <(rss "$BIN" bench-transfer "$base/files/big.bin" "$base/upload" "$work/xfer")
sync
start=$(date +%s.%N)
curl -s -o "$work/xfer/curl.bin" "$base/files/big.bin"
curl -s -o /dev/null -T "$work/xfer/curl.bin" -H 'Content-Type: video/mp4' -H 'Expect:' "$base/upload"
curl_secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
rm -f "$work/xfer/curl.bin"
sync
# The same with the downloaded file fsynced, as reelgate does before a result counts as stored.
start=$(date +%s.%N)
curl -s -o "$work/xfer/curl.bin" "$base/files/big.bin" && sync "$work/xfer/curl.bin"
curl -s -o /dev/null -T "$work/xfer/curl.bin" -H 'Content-Type: video/mp4' -H 'Expect:' "$base/upload"
curl_sync_secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
rm -f "$work/xfer/curl.bin"
echo "  reelgate split: $(cat "$work/transfer.out")"

bytes=$(stat -c %s "$work/www/big.bin")
awk -v b="$bytes" -v g="$gw_secs" -v c="$curl_secs" -v cs="$curl_sync_secs" -v s="$small_rss" -v l="$big_rss" 'BEGIN {
  printf "bench/delivery transfer: %.2f GiB fetched then uploaded (loopback, nginx both ends)\n", b / 2^30
  printf "  reelgate transfer path  %6.2f s  %7.1f MiB/s   peak RSS %.1f MiB (1 MiB run: %.1f MiB)\n", g, 2 * b / 2^20 / g, l / 1024, s / 1024
  printf "  curl (same transfers)   %6.2f s  %7.1f MiB/s\n", c, 2 * b / 2^20 / c
  printf "  curl + fsync of the file %5.2f s  %7.1f MiB/s\n", cs, 2 * b / 2^20 / cs
  printf "  RSS growth %.1f MiB (target < 32); throughput %.2fx curl, %.2fx curl+fsync (target >= 0.80)\n", (l - s) / 1024, c / g, cs / g
}'
