#!/usr/bin/env bash
# Our trustless gateway (`ipfs serve`) beside plain HTTP servers serving the
# same bytes from disk, on this machine, in the same run (issue 11 item 10).
#
#   1. generates SIZE_MB of /dev/urandom, page cache warmed;
#   2. `ipfs add`s it into a temporary repo (IPFS_ACCELERATE_HOME);
#   3. starts `ipfs serve` on 127.0.0.1 (--port 0, the port read from its
#      "listening on" line), a Node server streaming the raw file with
#      fs.createReadStream (when node is installed), `python3 -m
#      http.server` on the file's folder, and busybox httpd / nginx when
#      installed;
#   4. ROUNDS rounds, each running every client once, the order rotated each
#      round so no server always goes first:
#        - `curl -o /dev/null` of the raw file from each plain server,
#        - `curl -o /dev/null` of /ipfs/<cid>?format=car from our gateway (the
#          gateway serves no UnixFS bytes, only blocks and CARs a client can
#          verify; the CAR is the file's blocks plus ~0.04 % framing),
#        - `ipfs-accelerate ipfs fetch <cid>` from our gateway into a fresh
#          repo (what users do: verified, stored durably, pinned);
#      MB/s = bytes on the wire / wall seconds, MB = 1e6 bytes (the fetch uses
#      the file size, not counting the CAR framing); server CPU seconds per
#      request from /proc/PID/stat, client CPU from /usr/bin/time;
#   5. prints median, min and max per client, the load average before and
#      after each round, and cleans up (servers killed, temp dirs removed)
#      on any exit.
#
# Runs itself under `nice -n -5` when allowed (children inherit it).
# Usage: tools/bench/gateway_vs_plain_http.sh [BIN] [SIZE_MB] [ROUNDS]
#   defaults: build-cuda/bin/ipfs-accelerate (else build/bin/...), 1024, 5
set -euo pipefail

if [ -z "${IA_BENCH_RENICED:-}" ]; then
  export IA_BENCH_RENICED=1
  if nice -n -5 true 2> /dev/null; then exec nice -n -5 "$0" "$@"; fi
fi

root=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-}
if [ -z "$B" ]; then
  for c in "$root/build-cuda/bin/ipfs-accelerate" "$root/build/bin/ipfs-accelerate"; do
    [ -x "$c" ] && { B=$c; break; }
  done
fi
if [ -z "$B" ] || [ ! -x "$B" ]; then echo "no ipfs-accelerate binary (pass its path)" >&2; exit 2; fi
mb=${2:-1024}
rounds=${3:-5}
command -v curl > /dev/null || { echo "curl is needed" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is needed" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ia-gw-vs-http-XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

load() { cut -d' ' -f1-3 /proc/loadavg; }
# user+system CPU seconds of a process so far
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits until URL answers with HTTP 200 (up to 120 s: the machine may be loaded).
wait_http() {
  local i
  for i in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -I "$1" || true)" = 200 ] && return 0
    sleep 0.2
  done
  echo "server at $1 did not come up" >&2
  return 1
}

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; nice $(nice)"
echo "binary: $B"
echo "load before: $(load)"
mkdir -p "$work/www"
file=$work/www/blob.bin
head -c $((mb * 1048576)) /dev/urandom > "$file"
bytes=$(stat -c %s "$file")
cat "$file" > /dev/null  # warm the page cache: compare servers, not the disk

IPFS_ACCELERATE_HOME="$work/src" "$B" --quiet ipfs add -Q "$file" > "$work/cid"
cid=$(cat "$work/cid")
echo "file: $mb MiB ($bytes bytes), root $cid"

# --- servers ---------------------------------------------------------------
names=() urls=() spids=()
add_server() { names+=("$1"); urls+=("$2"); spids+=("$3"); pids+=("$3"); }

IPFS_ACCELERATE_HOME="$work/src" "$B" ipfs serve --host 127.0.0.1 --port 0 > "$work/serve.log" 2>&1 &
gpid=$!
pids+=("$gpid")
for _ in $(seq 600); do grep -q 'listening on http://' "$work/serve.log" && break; sleep 0.2; done
gport=$(grep -o 'listening on http://[^ ]*' "$work/serve.log" | head -1 | sed 's|.*:||; s|/.*||')
[ -n "$gport" ] || { echo "ipfs serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }
gw="http://127.0.0.1:$gport"
wait_http "$gw/ipfs/$cid?format=car"
add_server "gateway-car" "$gw/ipfs/$cid?format=car" "$gpid"

if command -v node > /dev/null; then
  cat > "$work/plain.mjs" << 'EOF'
import http from 'node:http';
import fs from 'node:fs';
const [file, port] = process.argv.slice(2);
const size = fs.statSync(file).size;
http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
  if (req.method === 'HEAD') return res.end();
  fs.createReadStream(file).pipe(res);
}).listen(Number(port), '127.0.0.1');
EOF
  p=$(free_port)
  node "$work/plain.mjs" "$file" "$p" > "$work/node.log" 2>&1 &
  npid=$!
  wait_http "http://127.0.0.1:$p/blob.bin"
  add_server "node-http" "http://127.0.0.1:$p/blob.bin" "$npid"
else
  echo "node: not installed, skipped"
fi

p=$(free_port)
# the interpreter itself (not a pyenv shim), so its pid is the server's
py=$(python3 -c 'import sys; print(sys.executable)')
"$py" -m http.server --bind 127.0.0.1 --directory "$work/www" "$p" > "$work/python.log" 2>&1 &
ppid_=$!
wait_http "http://127.0.0.1:$p/blob.bin"
add_server "python-http.server" "http://127.0.0.1:$p/blob.bin" "$ppid_"

if command -v busybox > /dev/null && busybox --list 2> /dev/null | grep -qx httpd; then
  p=$(free_port)
  busybox httpd -f -p "127.0.0.1:$p" -h "$work/www" > "$work/busybox.log" 2>&1 &
  bpid=$!
  wait_http "http://127.0.0.1:$p/blob.bin"
  add_server "busybox-httpd" "http://127.0.0.1:$p/blob.bin" "$bpid"
else
  echo "busybox httpd: not installed, skipped"
fi

if command -v nginx > /dev/null; then
  p=$(free_port)
  mkdir -p "$work/nginx"
  cat > "$work/nginx/nginx.conf" << EOF
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server { listen 127.0.0.1:$p; root $work/www; }
}
EOF
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" > "$work/nginx.log" 2>&1 &
  xpid=$!
  wait_http "http://127.0.0.1:$p/blob.bin"
  add_server "nginx" "http://127.0.0.1:$p/blob.bin" "$xpid"
else
  echo "nginx: not installed, skipped"
fi

# The user's path: our client fetching from our gateway (a pseudo-server).
names+=("gateway-ipfs-fetch") urls+=("$gw") spids+=("$gpid")

# --- rounds ----------------------------------------------------------------
# results: one line per measurement: name round MB/s wall client_cpu server_cpu
res=$work/results
: > "$res"
n=${#names[@]}
for ((r = 1; r <= rounds; r++)); do
  echo "round $r/$rounds (load $(load))"
  for ((k = 0; k < n; k++)); do
    i=$(((k + r - 1) % n))
    name=${names[$i]} url=${urls[$i]} spid=${spids[$i]}
    s0=$(cpu_of "$spid")
    if [ "$name" = gateway-ipfs-fetch ]; then
      rm -rf "$work/dst"
      /usr/bin/time -f "%e %U %S" -o "$work/t" env IPFS_ACCELERATE_HOME="$work/dst" \
        "$B" --quiet ipfs fetch --gateway "$url" "$cid" > "$work/fetch.out" 2> "$work/fetch.err" ||
        { echo "fetch failed:" >&2; cat "$work/fetch.err" >&2; exit 1; }
      got=$bytes
    else
      /usr/bin/time -f "%e %U %S" -o "$work/t" \
        curl -sS --fail -o /dev/null -w '%{size_download}\n' "$url" > "$work/curl.out"
      got=$(cat "$work/curl.out")
      [ "$got" -ge "$bytes" ] || { echo "$name: short body ($got of $bytes bytes)" >&2; exit 1; }
    fi
    s1=$(cpu_of "$spid")
    read -r wall cu cs < <(tail -1 "$work/t")
    line=$(awk -v n="$name" -v r="$r" -v b="$got" -v w="$wall" -v cu="$cu" -v cs="$cs" -v s0="$s0" -v s1="$s1" \
      'BEGIN { printf "%s %d %.1f %.2f %.2f %.2f\n", n, r, (w > 0 ? b / 1e6 / w : 0), w, cu + cs, s1 - s0 }')
    echo "$line" >> "$res"
    read -r f_name _ f_mbs f_wall f_ccpu f_scpu <<< "$line"
    printf '  %-20s %8s MB/s  wall %6s s  client cpu %5s s  server cpu %5s s\n' "$f_name" "$f_mbs" "$f_wall" "$f_ccpu" "$f_scpu"
  done
  if [ -d "$work/dst" ]; then
    IPFS_ACCELERATE_HOME="$work/dst" "$B" --quiet ipfs repo verify > /dev/null 2>&1 ||
      { echo "repo verify after the fetch failed" >&2; exit 1; }
    rm -rf "$work/dst"
  fi
done
echo "load after: $(load)"

# --- summary ---------------------------------------------------------------
echo
echo "MB/s (1 MB = 1e6 bytes), $rounds rounds of $mb MiB; median [min - max]; CPU s per request, median"
python3 - "$res" << 'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, _r, mbs, wall, ccpu, scpu = line.split()
    rows.setdefault(name, []).append((float(mbs), float(ccpu), float(scpu)))
print(f"| {'client / server':<20} | MB/s median | range | client CPU s | server CPU s |")
print("|---|---|---|---|---|")
for name, v in rows.items():
    m = [x[0] for x in v]
    print(f"| {name:<20} | {statistics.median(m):.0f} | {min(m):.0f}-{max(m):.0f} | "
          f"{statistics.median(x[1] for x in v):.2f} | {statistics.median(x[2] for x in v):.2f} |")
EOF
