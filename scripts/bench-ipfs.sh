#!/usr/bin/env bash
# IPFS end-to-end figures for docs/performance.md (issue 5, Performance):
#   1. `ipfs add --only-hash` of a generated file: GB/s per core (CPU time),
#      beside OpenSSL's raw SHA-256 of the same file in the same run
#      (`openssl dgst -sha256`, and bench_ipfs's in-process 256 KiB pieces);
#   2. `ipfs add` (stored, durable) of the same file;
#   3. `ipfs fetch` of a model folder holding that file, over loopback, from
#      our own `ipfs serve` and from the reference peer (skipped, saying why,
#      when node/npm or ../shared is missing): MB/s and peak RSS (VmHWM via
#      /usr/bin/time) of the client and of our server.
# Usage: scripts/bench-ipfs.sh [BUILD_DIR] [SIZE_MB]   (defaults: build, 1024)
set -euo pipefail
build=${1:-build}
mb=${2:-1024}
B="$(cd "$build" && pwd)/bin/ipfs-accelerate"
[ -x "$B" ] || { echo "no $B: build first" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ia-bench-ipfs-XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wall seconds, user+sys seconds, max RSS KB of a /usr/bin/time -f "%e %U %S %M" log (last line)
tv() { tail -1 "$1"; }
rate() { python3 -c "import sys; print(f'{$1/$2:.1f}')"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; load before: $(load)"
mkdir -p "$work/model"
echo "generating ${mb} MB ..."
head -c $((mb * 1048576)) /dev/urandom > "$work/model/model.safetensors"
printf '{"model_type": "bench"}\n' > "$work/model/config.json"
bytes=$(stat -c %s "$work/model/model.safetensors")
cat "$work/model/model.safetensors" > /dev/null  # warm the page cache: measure hashing, not the disk

# 1. hashing
/usr/bin/time -f "%e %U %S %M" -o "$work/t.sha" openssl dgst -sha256 "$work/model/model.safetensors" > /dev/null
read -r sw su ss sm < <(tv "$work/t.sha")
/usr/bin/time -f "%e %U %S %M" -o "$work/t.n" env IPFS_ACCELERATE_HOME="$work/h0" "$B" ipfs add -n -Q "$work/model/model.safetensors" > /dev/null
read -r nw nu ns nm < <(tv "$work/t.n")
sha_gbs=$(python3 -c "print(f'{$bytes/1e9/($su+$ss):.2f}')")
add_gbs=$(python3 -c "print(f'{$bytes/1e9/($nu+$ns):.2f}')")
echo "sha256 (openssl dgst):     ${sha_gbs} GB/s per core (cpu $(python3 -c "print(round($su+$ss,2))") s, wall $sw s)"
echo "ipfs add --only-hash:      ${add_gbs} GB/s per core (cpu $(python3 -c "print(round($nu+$ns,2))") s, wall $nw s, peak RSS $((nm / 1024)) MB)"
echo "  = $(python3 -c "print(f'{100*($su+$ss)/($nu+$ns):.0f}')")% of raw SHA-256"
if [ -x "$build/bin/bench_ipfs" ]; then
  IA_BENCH_IPFS_MB=$((mb < 512 ? mb : 512)) "$build/bin/bench_ipfs" --benchmark_min_time=1 2>/dev/null | grep -E "^BM_" || true
fi

# 2. storing add (the batched-durability blockstore)
/usr/bin/time -f "%e %U %S %M" -o "$work/t.add" env IPFS_ACCELERATE_HOME="$work/src" "$B" ipfs add -r -Q "$work/model" > "$work/cid"
read -r aw au as am < <(tv "$work/t.add")
cid=$(cat "$work/cid")
echo "ipfs add -r (stored):      $(rate "$bytes/1e6" "$aw") MB/s (wall $aw s, peak RSS $((am / 1024)) MB)  root $cid"

# 3a. fetch from our own server
port=$(free_port)
IPFS_ACCELERATE_HOME="$work/src" "$B" ipfs serve --port "$port" > "$work/serve.log" 2>&1 &
spid=$!
pids+=("$spid")
for _ in $(seq 100); do grep -q listening "$work/serve.log" && break; sleep 0.05; done
/usr/bin/time -f "%e %U %S %M" -o "$work/t.f1" env IPFS_ACCELERATE_HOME="$work/dst1" "$B" ipfs fetch --gateway "http://127.0.0.1:$port" "$cid" > /dev/null
read -r fw fu fs fm < <(tv "$work/t.f1")
server_hwm=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$spid/status")
echo "ipfs fetch (our server):   $(rate "$bytes/1e6" "$fw") MB/s (wall $fw s, client cpu $(python3 -c "print(round($fu+$fs,2))") s, client peak RSS $((fm / 1024)) MB, server peak RSS ${server_hwm} MB)"
kill "$spid"
IPFS_ACCELERATE_HOME="$work/dst1" "$B" ipfs repo verify > /dev/null && echo "  repo verify: clean"
rm -rf "$work/dst1"

# 3b. fetch from the reference peer
ref="$root/../shared/tools/ipfs-ref-gateway"
if [ ! -f "$ref/gateway.mjs" ]; then
  echo "reference peer: skipped (not found at $ref)"
elif ! command -v node > /dev/null || ! command -v npm > /dev/null; then
  echo "reference peer: skipped (node/npm not installed)"
else
  cp -r "$ref" "$work/refgw" && chmod -R u+w "$work/refgw" && rm -rf "$work/refgw/node_modules"
  if ! (cd "$work/refgw" && npm ci --no-audit --no-fund > /dev/null 2>&1); then
    echo "reference peer: skipped (npm ci failed, offline?)"
  else
    (cd "$work/refgw" && node gateway.mjs add --repo "$work/refrepo" -r "$work/model" > "$work/refadd.log" 2>&1)
    sync  # the peer does not sync its add; its writeback would otherwise be charged to our fetch
    rcid=$(grep -o 'added [^ ]*' "$work/refadd.log" | tail -1 | cut -d' ' -f2)
    [ "$rcid" = "$cid" ] && echo "reference peer: same root CID" || echo "reference peer: root $rcid (ours $cid)"
    port=$(free_port)
    (cd "$work/refgw" && exec node gateway.mjs serve --repo "$work/refrepo" --host 127.0.0.1 --port "$port" > "$work/ref.log" 2>&1) &
    rpid=$!
    pids+=("$rpid")
    for _ in $(seq 200); do grep -q listening "$work/ref.log" && break; sleep 0.05; done
    /usr/bin/time -f "%e %U %S %M" -o "$work/t.f2" env IPFS_ACCELERATE_HOME="$work/dst2" "$B" ipfs fetch --gateway "http://127.0.0.1:$port" "$rcid" > /dev/null
    read -r gw gu gs gm < <(tv "$work/t.f2")
    echo "ipfs fetch (reference):    $(rate "$bytes/1e6" "$gw") MB/s (wall $gw s, client cpu $(python3 -c "print(round($gu+$gs,2))") s, client peak RSS $((gm / 1024)) MB)"
    kill "$rpid"
    IPFS_ACCELERATE_HOME="$work/dst2" "$B" ipfs repo verify > /dev/null && echo "  repo verify: clean"
  fi
fi
echo "load after: $(load)"
