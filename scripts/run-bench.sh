#!/usr/bin/env bash
# `make bench`: every Google Benchmark binary, then a summary of the encoder
# rate as a fraction of the large-GEMM rate measured in the same run.
set -euo pipefail
build=${1:-build}
out="$build/bench-results"
mkdir -p "$out"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), threads: ${IA_THREADS:-$(nproc)}"
for b in "$build"/bin/bench_*; do
  name=$(basename "$b")
  # The serving load generator needs a running server: scripts/bench-serve.sh runs it.
  [ "$name" = bench_serve_load ] && continue
  echo "== $name"
  "$b" --benchmark_min_time=1 --benchmark_out="$out/$name.json" --benchmark_out_format=json
done
if [ -f "$out/bench_encoder.json" ] && command -v python3 >/dev/null; then
  python3 scripts/summarize-encoder-bench.py "$out/bench_encoder.json"
fi
