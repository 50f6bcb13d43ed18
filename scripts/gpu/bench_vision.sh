#!/usr/bin/env bash
# The vision benchmark of issue 15 on the GPU machine: a random ViT-base-shaped classifier timed in
# transformers (tools/bench/hf_vision_bench.py, which saves the folder) and in ours on the very same
# folder (`ipfs-accelerate bench --suite image-classification`, preprocessing included in both), on
# the CPU with the same thread count and on the GPU, f32 and bf16, batch 1 and 32; then one table.
#   bash scripts/gpu/bench_vision.sh BUNDLE_DIR LOG_DIR
set -uo pipefail
b=${1:?usage: bench_vision.sh BUNDLE_DIR LOG_DIR}
log=${2:?usage: bench_vision.sh BUNDLE_DIR LOG_DIR}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
threads=${IA_VISION_THREADS:-$(nproc)}
models=/tmp/ia-vision-models
mkdir -p "$log" "$models"
timeout 300 python3 "$root/tools/bench/hf_vision_bench.py" "$models" --threads "$threads" >"$log/hf_vision.json" \
  2>"$log/hf_vision.err" || tail -5 "$log/hf_vision.err"
for device in cpu cuda; do
  for dtype in f32 bf16; do
    timeout 120 "$b/ipfs-accelerate" --threads "$threads" bench -m "$models/vit-base" --suite image-classification \
      -b 1,32 -r 5 --device "$device" --dtype "$dtype" --no-ceilings --format json \
      >"$log/ours_vision_${device}_${dtype}.json" 2>"$log/ours_vision_${device}_${dtype}.err" ||
      tail -3 "$log/ours_vision_${device}_${dtype}.err"
  done
done
python3 - "$log" <<'PY'
import glob, json, sys
log = sys.argv[1]
hf = {}
try:
    doc = json.load(open(f"{log}/hf_vision.json"))
    print(f"transformers {doc['versions']['transformers']}, torch {doc['versions']['torch']}, {doc['threads']} CPU threads")
    for r in doc["results"]:
        hf[(r["device"], r["dtype"], r["batch"])] = r
except Exception as e:
    print("transformers: no results:", e)
print("| device | dtype | batch | ours images/s | transformers images/s | ours / transformers | transformers preprocess ms/image |")
print("|---|---|---|---|---|---|---|")
for f in sorted(glob.glob(f"{log}/ours_vision_*.json")):
    try:
        results = json.load(open(f))["results"]
    except Exception:
        continue
    for r in results:
        c = r["case"]
        key = (c["device"].split(":")[0], r["model"]["dtype"], c["batch"])
        ours = r["measurement"]["throughput"]
        h = hf.get(key)
        theirs = h["images_per_s"] if h else float("nan")
        pre = h["preprocess_ms_per_image"] if h else float("nan")
        print(f"| {key[0]} | {key[1]} | {key[2]} | {ours:,.1f} | {theirs:,.1f} | {ours / theirs:.2f}x | {pre:.2f} |")
PY
