#!/usr/bin/env bash
# Our engine beside PyTorch + transformers on the same GPU in the same run, printed as one table
# (issue 12's performance comparison). Called on the GPU machine by scripts/gpu/run.sh (phase
# "bench"), which unpacks the bundle and sets LD_LIBRARY_PATH:
#   bash scripts/gpu/bench.sh BUNDLE_DIR LOG_DIR
# Phases, in this order, each bounded in time; one that fails or times out leaves the others'
# results, and the table shows whatever there is:
#   hf       tools/bench/hf_reference_bench.py -> hf.json; it also saves its random TinyLlama
#            weights, which bench_decode then loads, so both engines run the very same model
#   decode   BUNDLE_DIR/bin/bench_decode with IA_BENCH_DEVICE=cuda -> bench_decode.json (failed
#            decoder cases rerun on our own random weights -> bench_decode_own.json)
#            with the defaults (recorded decode steps, tensor-core attention), then its decode and
#            prefill cases again without them -> bench_decode_eager.json (steps op by op, f32 FMA
#            attention; IA_GPU_BENCH_EAGER=0 skips it)
#   encoder  BUNDLE_DIR/bin/bench_encoder with IA_BENCH_DEVICE=cuda -> bench_encoder.json
# then tools/bench/summarize_gpu_bench.py prints the table (also LOG_DIR/bench_summary.txt).
# Expected on an H100: PyTorch 2-4 min (its eager batch-1/16/64 generate and the torch.compile
# warm-up of its static-cache generate are most of it), ours 1-2 min; everything stops within
# IA_GPU_BENCH_BUDGET seconds (default 540, under the device tool's 10 minutes per command).
# Environment (all optional):
#   IA_GPU_BENCH_PHASES      "hf decode encoder" (default) or a subset
#   IA_GPU_BENCH_HF_ARGS     extra arguments to hf_reference_bench.py, e.g. --quick (~1 min, but
#                            without batch 64, 2048-token prefill or 256x128 encoders)
#   IA_GPU_BENCH_HF_TIMEOUT  seconds for PyTorch (default 270)
#   IA_GPU_BENCH_MIN_TIME    --benchmark_min_time for ours (default 0.5)
#   IA_GPU_BENCH_DECODE_FILTER, IA_GPU_BENCH_ENCODER_FILTER   --benchmark_filter (default: all)
#   IA_BENCH_DEVICE          the device ours run on (default cuda)
set -uo pipefail
b=${1:?usage: bench.sh BUNDLE_DIR LOG_DIR}
log=${2:?usage: bench.sh BUNDLE_DIR LOG_DIR}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
phases=${IA_GPU_BENCH_PHASES:-hf decode encoder}
min_time=${IA_GPU_BENCH_MIN_TIME:-0.5}
export IA_BENCH_DEVICE=${IA_BENCH_DEVICE:-cuda}
# Ours with the defaults (recorded decode steps, tensor-core attention for bf16); the phase
# after decode runs the same cases without them, in the same call.
models=/tmp/ia-gpu-bench-models # model folders: hf/ (PyTorch's), ia/ (what bench_decode loads), own/
mkdir -p "$log" "$models"

# The run stays within the budget: each phase gets at most its own cap and what the budget leaves
# after the time set aside for the phases after it.
budget=${IA_GPU_BENCH_BUDGET:-540}
start=$SECONDS
limit() { # CAP RESERVE: seconds for a phase
  local t=$((budget - (SECONDS - start) - $2))
  [ "$t" -gt "$1" ] && t=$1
  [ "$t" -lt 20 ] && t=20
  echo "$t"
}
phase() { echo "== bench: $1 ($((SECONDS - start)) s in, up to $2 s)"; }
report() { # NAME RC SECONDS LOGFILE: one line, and the log's tail when the phase failed
  if [ "$2" -eq 0 ]; then
    echo "   $1: done"
  else
    local why=""
    case $2 in
      124 | 137) why=" (stopped at its time limit, $3 s)" ;;
      13[0-9] | 1[4-5][0-9]) why=" (killed by signal $(($2 - 128)))" ;;
    esac
    echo "   $1: exit $2$why"
    tail -5 "$4" | sed 's/^/   | /'
  fi
}

# One benchmark binary on the GPU; Google Benchmark flushes after each case, so a crash or timeout
# still leaves the cases before it in the JSON (the summarizer reads a file cut short).
run_bench() { # BINARY OUT_NAME FILTER SECONDS
  if [ ! -x "$b/bin/$1" ]; then
    echo "   $1: not in the bundle ($b/bin)"
    return
  fi
  timeout -k 10 "$4" "$b/bin/$1" --benchmark_filter="$3" --benchmark_min_time="$min_time" \
    --benchmark_format=json >"$log/$2.json" 2>"$log/$2.err"
  report "$1" $? "$4" "$log/$2.err"
}

if [[ $phases == *hf* ]]; then
  t=$(limit "${IA_GPU_BENCH_HF_TIMEOUT:-270}" 240)
  phase "PyTorch + transformers reference" "$t"
  rm -rf "$models/hf" "$log/hf.json" # nothing from an earlier run on a warm machine
  # shellcheck disable=SC2086 # IA_GPU_BENCH_HF_ARGS is a list of arguments
  timeout -k 10 "$t" python3 "$root/tools/bench/hf_reference_bench.py" --out "$log/hf.json" \
    --save-dir "$models/hf" ${IA_GPU_BENCH_HF_ARGS:-} >"$log/hf.txt" 2>&1
  report "hf_reference_bench.py" $? "$t" "$log/hf.txt"
fi

if [[ $phases == *decode* ]]; then
  # bench_decode loads IA_BENCH_DECODE_DIR/ia-bench-llama-1b-bf16: PyTorch's saved folder where
  # there is one (linked under ia/), else its own random weights (written on first use under own/).
  mkdir -p "$models/own"
  rm -f "$log"/bench_decode*.json
  hfm=$models/hf/llama-1b-random
  dir=$models/own weights="our own random weights"
  if [ -f "$hfm/config.json" ] && [ -n "$(ls "$hfm"/model.safetensors "$hfm"/model.safetensors.index.json 2>/dev/null)" ]; then
    rm -rf "$models/ia" && mkdir -p "$models/ia" && ln -s "$hfm" "$models/ia/ia-bench-llama-1b-bf16"
    dir=$models/ia weights="PyTorch's saved weights"
  fi
  t=$(limit 180 90)
  phase "bench_decode on $IA_BENCH_DEVICE, TinyLlama shape, $weights" "$t"
  IA_BENCH_DECODE_DIR=$dir run_bench bench_decode bench_decode "${IA_GPU_BENCH_DECODE_FILTER:-.}" "$t"
  # Decoder cases that failed on PyTorch's folder (a config field we refuse, say) run again on our
  # own weights, so the comparison still has our numbers.
  failed=$(awk -F'"' '/"name":/ {n = $4} /"error_occurred": true/ {print n}' "$log/bench_decode.json" 2>/dev/null |
    grep -E '^BM_(Decode|Prefill)/')
  if [ "$dir" = "$models/ia" ] && [ -n "$failed" ]; then
    grep -o '"error_message": "[^"]*"' "$log/bench_decode.json" | sort -u | head -3 | sed 's/^/   | /'
    t=$(limit 120 90)
    phase "bench_decode again: the failed decoder cases on our own random weights" "$t"
    IA_BENCH_DECODE_DIR=$models/own run_bench bench_decode bench_decode_own \
      "$(echo "$failed" | sed 's/[^A-Za-z0-9_/]/./g' | paste -sd'|')" "$t"
  fi
fi

if [[ $phases == *decode* ]] && [ "${IA_GPU_BENCH_EAGER:-1}" = 1 ]; then
  # The same decode and prefill cases with every step issued op by op (no recorded CUDA graphs)
  # and the f32 FMA attention: what the two are worth, measured in the same call.
  t=$(limit 120 60)
  phase "bench_decode op by op, FMA attention (IA_CUDA_GRAPHS=0 IA_CUDA_ATTENTION=fma)" "$t"
  IA_CUDA_GRAPHS=0 IA_CUDA_ATTENTION=fma IA_BENCH_DECODE_DIR=${dir:-$models/own} run_bench bench_decode \
    bench_decode_eager 'BM_Decode/|BM_Prefill/' "$t"
fi

if [[ $phases == *decode* ]] && [ -x "$b/ipfs-accelerate" ]; then
  # Time to the first token (issue 12: under 2 s for the 1.1B model): a fresh process, the model
  # folder in the page cache, CUDA context, load to the device, prefill, one token.
  m=${dir:-$models/own}/ia-bench-llama-1b-bf16
  if [ -f "$m/config.json" ]; then
    phase "time to first token: ipfs-accelerate generate -n 1 on cuda, a fresh process" 60
    cat "$m"/*.safetensors >/dev/null 2>&1 # page cache, as a model used before
    # The random folder has weights only: the fixture llama's tokenizer (ids within its vocabulary).
    [ -f "$m/tokenizer.json" ] || cp "$root"/tests/fixtures/models/llama/tokenizer*.json "$m"/
    for i in 1 2 3; do
      t0=$(date +%s.%N)
      "$b/ipfs-accelerate" generate --model "$m" --device cuda -p "Hello" -n 1 --quiet >/dev/null 2>"$log/ttft.err"
      rc=$?
      t1=$(date +%s.%N)
      echo "   run $i: exit $rc, $(python3 -c "print(round($t1 - $t0, 3))") s" | tee -a "$log/ttft.txt"
    done
  fi
fi

if [[ $phases == *encoder* ]]; then
  t=$(limit 120 0)
  phase "bench_encoder on $IA_BENCH_DEVICE" "$t"
  run_bench bench_encoder bench_encoder "${IA_GPU_BENCH_ENCODER_FILTER:-.}" "$t"
fi

echo "== bench: table ($((SECONDS - start)) s in)"
python3 "$root/tools/bench/summarize_gpu_bench.py" "$log" | tee "$log/bench_summary.txt"
