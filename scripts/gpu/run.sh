#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, over a bundle made here by
#   make gpu-bundle   (build-bundle/gpu-bundle.tar.xz: the CLI, the CUDA backend, the test and
#                      benchmark binaries, their Debian libraries)
# and carried with the call (carry: ["build-bundle"]). Phases, all by default:
#   tests  every CUDA case of the op conformance test, the parity tests with IA_TEST_DEVICE=cuda,
#          the CLI's device tests
#   cli    the CLI on the GPU: hardware, embed, generate, and the bad inputs of issue 12
#   bench  our engine beside PyTorch + transformers (hf_reference_bench.py) in the same call
#   vision ViT-base-shaped image classification beside transformers, CPU and GPU (bench_vision.sh;
#          not in the default set)
#   models Whisper, T5, CLIP, DETR (IA_MODELS=llava-7b: LLaVA) beside transformers, CPU and GPU
#          (bench_models.sh; not in the default set)
# Logs land in $OUT (gpu-run.tar.gz); a summary table is printed last.
#   scripts/gpu/run.sh [tests] [cli] [bench] [vision] [models]
set -uo pipefail
what=${*:-tests cli bench}
root=$PWD
b=/tmp/ia-gpu
log=/tmp/ia-gpu-out
rm -rf "$b" && mkdir -p "$b" "$log"
tar -xJf build-bundle/gpu-bundle.tar.xz -C "$b"
export LD_LIBRARY_PATH=$b/lib:/usr/local/cuda/lib64
pack() { [ -n "${OUT:-}" ] && tar -czf "$OUT/gpu-run.tar.gz" -C "$log" . ; }
summary=()
note() { summary+=("$1"); echo "== $1"; }
# The tests read fixtures at the path they were built with (/work/main/tests/fixtures), and the
# CLI tests run the CLI at its build path: point both at this checkout and the bundle.
[ -d /work/main/tests/fixtures ] || { mkdir -p /work && ln -sfn "$root" /work/main; }
cli_path=$(strings -n 8 "$b/bin/test_integration" 2>/dev/null | grep -m1 '^/.*/bin/ipfs-accelerate$')
if [ -n "$cli_path" ] && [ ! -e "$cli_path" ]; then
  mkdir -p "$(dirname "$(dirname "$cli_path")")" && ln -sfn "$b/bin" "$(dirname "$cli_path")"
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader 2>&1 | tee "$log/gpu.txt"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cpus"

gtest() {  # NAME BINARY ARGS...: runs one gtest binary, notes passed/failed counts
  local name=$1 bin=$2
  shift 2
  [ -x "$b/bin/$bin" ] || { note "$name: $bin not in the bundle"; return; }
  timeout 540 "$b/bin/$bin" "$@" >"$log/$name.txt" 2>&1
  local rc=$?
  local passed failed skipped
  passed=$(grep -cE '^\[       OK \]' "$log/$name.txt")
  failed=$(grep -cE '^\[  FAILED  \] [A-Za-z].*\(' "$log/$name.txt")
  skipped=$(grep -cE '^\[  SKIPPED \] [A-Za-z]' "$log/$name.txt")
  note "$name: exit $rc, $passed passed, $failed failed, $skipped skipped"
  grep -E '^\[  FAILED  \] [A-Za-z].*\(|Failure|error:' "$log/$name.txt" | head -40
}

if [[ $what == *tests* ]]; then
  gtest library test_unit_ops --gtest_filter='CudaLibrary*:ConformanceCoverage*'
  gtest conformance test_unit_ops --gtest_filter='*cuda0*'
  # The defaults (tensor-core attention for bf16, recorded decode steps), then once more with
  # both off: the op-by-op path and the FMA kernel stay what IA_CUDA_GRAPHS=0 / IA_CUDA_ATTENTION=fma give.
  IA_CUDA_ATTENTION=fma gtest conformance_fma test_unit_ops --gtest_filter='*cuda0*'
  IA_TEST_DEVICE=cuda gtest parity_cuda test_parity
  IA_TEST_DEVICE=cuda IA_CUDA_GRAPHS=0 IA_CUDA_ATTENTION=fma gtest parity_cuda_eager_fma test_parity
  gtest cli_cuda test_integration --gtest_filter='CliCudaDevice*'
  pack
fi

if [[ $what == *cli* ]]; then
  cli=$b/ipfs-accelerate
  fx=$root/tests/fixtures/models
  "$cli" hardware >"$log/hardware.json" 2>&1
  note "hardware: exit $? $(python3 -c "import json;j=json.load(open('$log/hardware.json'))['cuda'];print(j.get('backend'))" 2>&1)"
  "$cli" embed --model "$fx/bert" --device cuda "hello world" >"$log/embed.json" 2>"$log/embed.err"
  note "embed bert on cuda: exit $? $(head -c 300 "$log/embed.json") $(tail -1 "$log/embed.err")"
  "$cli" generate --model "$fx/llama" --device cuda -p "hello" -n 8 --json >"$log/generate.json" 2>"$log/generate.err"
  note "generate llama on cuda: exit $? $(head -c 400 "$log/generate.json") $(tail -1 "$log/generate.err")"
  for bad in "--device cuda:7" "--device cuda:x"; do
    # shellcheck disable=SC2086
    "$cli" embed --model "$fx/bert" $bad "hi" >/dev/null 2>"$log/bad.err"
    note "bad input '$bad': exit $? $(cat "$log/bad.err")"
  done
  pack
fi

if [[ $what == *bench* ]] && [ -x "$root/scripts/gpu/bench.sh" ]; then
  bash "$root/scripts/gpu/bench.sh" "$b" "$log" | tee "$log/bench.txt"
  pack
fi

if [[ $what == *vision* ]]; then
  bash "$root/scripts/gpu/bench_vision.sh" "$b" "$log" | tee "$log/bench_vision.txt"
  pack
fi

if [[ $what == *models* ]]; then
  bash "$root/scripts/gpu/bench_models.sh" "$b" "$log" | tee "$log/bench_models.txt"
  pack
fi

echo
echo "================ summary"
printf '%s\n' "${summary[@]}"
