#!/usr/bin/env bash
# The model-family benchmarks of issues 14, 15 and 16 on the GPU machine: random-weight models shaped
# like whisper-tiny / whisper-base, t5-small, CLIP ViT-B/32, DETR-ResNet-50 (and LLaVA-1.5-7B with
# IA_MODELS including llava-7b) timed in transformers (tools/bench/hf_model_bench.py, which saves
# the folders) and in ours on the very same folders (`ipfs-accelerate bench` with the matching
# suite: transcription, seq2seq, image-embedding, object-detection, generate), on the CPU with the
# same thread count and on the GPU, f32 and bf16; then one table of ours / transformers.
#   IA_MODELS=whisper-tiny,... IA_DEVICES=cpu,cuda bash scripts/gpu/bench_models.sh BUNDLE_DIR LOG_DIR
set -uo pipefail
b=${1:?usage: bench_models.sh BUNDLE_DIR LOG_DIR}
log=${2:?usage: bench_models.sh BUNDLE_DIR LOG_DIR}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
threads=${IA_BENCH_THREADS:-$(nproc)}
models_list=${IA_MODELS:-whisper-tiny,whisper-base,t5-small,clip-b32,detr-r50}
devices=${IA_DEVICES:-cpu,cuda}
dtypes=${IA_DTYPES:-f32,bf16}
reps=${IA_REPS:-3}
models=/tmp/ia-bench-models
mkdir -p "$log" "$models"
timeout "${IA_HF_TIMEOUT:-420}" python3 "$root/tools/bench/hf_model_bench.py" "$models" --models "$models_list" \
  --devices "$devices" --dtypes "$dtypes" --threads "$threads" --reps "$reps" --json "$log/hf_models.json" \
  >/dev/null 2> >(tee "$log/hf_models.err" >&2) || tail -5 "$log/hf_models.err"

ours() {  # MODEL SUITE DEVICE DTYPE ARGS...
  local model=$1 suite=$2 device=$3 dtype=$4
  shift 4
  [ -d "$models/$model" ] || return
  timeout 300 "$b/ipfs-accelerate" --threads "$threads" bench -m "$models/$model" --suite "$suite" \
    --device "$device" --dtype "$dtype" -r "$reps" --no-ceilings --no-save --format json "$@" \
    >"$log/ours_${model}_${device}_${dtype}.json" 2>"$log/ours_${model}_${device}_${dtype}.err" ||
    { echo "ours $model $device $dtype failed:"; tail -3 "$log/ours_${model}_${device}_${dtype}.err"; }
}
IFS=, read -r -a model_array <<<"$models_list"
IFS=, read -r -a device_array <<<"$devices"
IFS=, read -r -a dtype_array <<<"$dtypes"
for model in "${model_array[@]}"; do
  for device in "${device_array[@]}"; do
    for dtype in "${dtype_array[@]}"; do
      case $model in
        whisper-*) ours "$model" transcription "$device" "$dtype" -s 60 -n 64 ;;
        t5-small) ours "$model" seq2seq "$device" "$dtype" -b 1,8 -s 64 -n 64 ;;
        clip-b32) ours "$model" image-embedding "$device" "$dtype" -b 1,8 ;;
        detr-r50) [ "$device" = cuda ] && bs=1,4 || bs=1; ours "$model" object-detection "$device" "$dtype" -b "$bs" ;;
        llava-7b) [ "$device" = cuda ] && [ "$dtype" = bf16 ] && ours "$model" generate "$device" "$dtype" -b 1 -s 32 -n 128 ;;
      esac
    done
  done
done

python3 - "$log" <<'PY'
import glob, json, sys
log = sys.argv[1]
hf = {}
try:
    doc = json.load(open(f"{log}/hf_models.json"))
    print(f"transformers {doc['versions']['transformers']}, torch {doc['versions']['torch']}, {doc['threads']} CPU threads")
    for r in doc["results"]:
        hf[(r["model"], r["device"], r["dtype"], r["metric"], r["batch"])] = r
except Exception as e:
    print("transformers: no results:", e)
print("| model | device | dtype | case | ours | transformers | ours / transformers |")
print("|---|---|---|---|---:|---:|---:|")
for f in sorted(glob.glob(f"{log}/ours_*.json")):
    model = f.split("/")[-1][len("ours_"):].rsplit("_", 2)[0]
    try:
        results = json.load(open(f))["results"]
    except Exception:
        continue
    for r in results:
        c, m = r["case"], r["measurement"]
        device, dtype, batch = c["device"].split(":")[0], r["model"]["dtype"], c["batch"]
        suite = c["suite"]
        if suite == "prefill":  # LLaVA: the time to the first token, lower is better
            ours, metric, case, unit = m["ms"]["median"], "ttft_ms", "TTFT, 1 image + 32 tokens", "ms"
        elif suite == "decode":
            ours, metric, case, unit = m["throughput"], "decode_tokens_per_s", f"decode b{batch}", "tok/s"
        elif suite == "transcription":
            ours, metric, case, unit = m["throughput"], "audio_s_per_s", f"{c['seq_len']} s audio", "audio s/s"
        elif suite == "seq2seq":
            ours, metric, case, unit = m["throughput"], "tokens_per_s", f"b{batch} p{c['seq_len']} n{c['new_tokens']}", "tok/s"
        else:
            ours, metric, case, unit = m["throughput"], "images_per_s", f"b{batch}", "img/s"
        h = hf.get((model, device, dtype, metric, batch))
        theirs = h["value"] if h else float("nan")
        ratio = theirs / ours if metric == "ttft_ms" else ours / theirs
        print(f"| {model} | {device} | {dtype} | {case} | {ours:,.1f} {unit} | {theirs:,.1f} | {ratio:.2f}x |")
for key, r in sorted(hf.items()):
    if "preprocess_ms_per_image" in r:
        print(f"transformers preprocess {key[0]} {key[1]} {key[2]} b{key[4]}: {r['preprocess_ms_per_image']:.2f} ms/image")
PY
