#!/usr/bin/env bash
# CPU benchmarks on the GPU lease machine (16-core AMX Xeon, PyTorch installed),
# ours beside PyTorch + transformers in one run, and this build beside a base
# build, back to back. Carries a bundle made here with make_cpu_bundle.sh and
# packed as build-bundle/cpu-bundle.tar.xz (folders new/ and base/ of binaries,
# lib/ of their shared libraries).
#   device: bash tools/bench/device_cpu_bench.sh [tests] [gemm] [encoder] [optimes] [decode]
# Without a base/ folder, IA_BASE_ENV="VAR=value ..." makes "base" this build's binaries run
# with that environment (e.g. IA_CPU_AMX_GEMM=0: oneDNN instead of the own AMX GEMM).
# IA_SCHEDULES="tag:VAR=v,VAR=v tag2:..." adds runs of this build's binaries under those
# environments to the gemm and encoder phases (e.g. the AMX GEMM's IA_AMX_GEMM_* schedule knobs),
# each reported as its own column.
# Results: $OUT/cpu-bench.tar.gz (JSON per run, summary.txt); the summary is printed last.
set -uo pipefail
# Everything lands in $out; after each phase it is packed into $OUT/cpu-bench.tar.gz
# (the lease returns only a few files), so a run cut short still brings back what it did.
out=/tmp/ia-bench-out
mkdir -p "$out"
pack() { [ -n "${OUT:-}" ] && tar -czf "$OUT/cpu-bench.tar.gz" -C "$out" . ; }
b=/tmp/ia-bundle
mkdir -p "$b" && tar -xJf build-bundle/cpu-bundle.tar.xz -C "$b"
export LD_LIBRARY_PATH=$b/lib
what=${*:-encoder optimes decode}
# bin VARIANT NAME: the binary and the environment a variant runs with.
variant_cmd() {
  if [ "$1" = base ] && [ ! -d "$b/base" ] && [ -n "${IA_BASE_ENV:-}" ]; then
    echo "env $IA_BASE_ENV $b/new/$2"
  else
    echo "$b/$1/$2"
  fi
}
have() { [ -x "$b/$1/$2" ] || { [ "$1" = base ] && [ -n "${IA_BASE_ENV:-}" ] && [ -x "$b/new/$2" ]; }; }
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cpus; load: $(cut -d' ' -f1-3 /proc/loadavg)"

run_threads() {  # THREADS CMD...: 2 threads pinned to cores 0-1, 16 on the whole machine
  local t=$1
  shift
  if [ "$t" -lt "$(nproc)" ]; then
    OMP_NUM_THREADS=$t taskset -c 0-$((t - 1)) "$@"
  else
    OMP_NUM_THREADS=$t "$@"
  fi
}

if [[ $what == *tests* ]]; then
  # The kernels' own tests on this CPU first (AMX paths skip on machines without it).
  # Parity tests read fixtures at the path they were built with.
  [ -d /work/main/tests/fixtures ] || { mkdir -p /work && ln -sfn "$PWD" /work/main; }
  for v in new; do
    if [ -x "$b/$v/test_parity" ]; then
      "$b/$v/test_parity" >"$out/parity_$v.txt" 2>&1
      echo "== parity, $v: exit $?"; grep -E "^\[  (PASSED|FAILED|SKIPPED) |Failure" "$out/parity_$v.txt" | head -20
    fi
    [ -x "$b/$v/test_unit_ops" ] || continue
    "$b/$v/test_unit_ops" --gtest_filter="${IA_TESTS_FILTER:-AmxGemm*:GemmPath*:*Linear*}" >"$out/tests_$v.txt" 2>&1
    echo "== tests, $v: exit $?"; grep -E "^\[  (PASSED|FAILED|SKIPPED) |Failure" "$out/tests_$v.txt" | head -20
  done
  pack
fi

# schedule_env TAG: the environment of an IA_SCHEDULES entry, as VAR=v words.
schedule_env() {
  local item
  for item in ${IA_SCHEDULES:-}; do
    [ "${item%%:*}" = "$1" ] && echo "${item#*:}" | tr ',' ' '
  done
}
schedule_tags() { local item; for item in ${IA_SCHEDULES:-}; do echo "${item%%:*}"; done; }

if [[ $what == *gemm* ]]; then
  for t in 2 16; do
    for tag in $(schedule_tags); do
      env $(schedule_env "$tag") OMP_NUM_THREADS=$t $( [ "$t" -lt "$(nproc)" ] && echo taskset -c 0-$((t - 1)) ) \
        "$b/new/bench_gemm" --benchmark_filter="${IA_GEMM_FILTER:-BM_Linear/bf16|BM_FeedForward}" \
        --benchmark_min_time=0.3 --benchmark_out="$out/gemm_${tag}_t$t.json" --benchmark_out_format=json >/dev/null \
        2>"$out/gemm_${tag}_t$t.err" || tail -3 "$out/gemm_${tag}_t$t.err"
    done
    for v in ${IA_BENCH_VARIANTS:-new base}; do
      have "$v" bench_gemm || continue
      for chunk in ${IA_GEMM_CHUNKS:-0}; do
      tag=$v; [ "$chunk" != 0 ] && [ "$v" = new ] && tag=new_c$chunk
      [ "$chunk" != 0 ] && [ "$v" != new ] && continue
      IA_AMX_GEMM_CHUNK_KB=$chunk run_threads "$t" $(variant_cmd "$v" bench_gemm) --benchmark_filter="${IA_GEMM_FILTER:-BM_Linear/bf16|BM_FeedForward}" \
        --benchmark_min_time=0.3 --benchmark_out="$out/gemm_${tag}_t$t.json" --benchmark_out_format=json >/dev/null \
        2>"$out/gemm_${tag}_t$t.err" || tail -3 "$out/gemm_${tag}_t$t.err"
      done
    done
    pack
  done
fi

if [[ $what == *encoder* ]]; then
  for t in 16 2; do
    for v in ${IA_BENCH_VARIANTS:-new base}; do
      have "$v" bench_encoder || continue
      filter="${IA_ENCODER_FILTER:-BM_LargeGemm|BM_Encoder}"
      [ "$v" = base ] && filter="${IA_BASE_ENCODER_FILTER:-$filter}"
      run_threads "$t" $(variant_cmd "$v" bench_encoder) --benchmark_filter="$filter" --benchmark_min_time=1 \
        --benchmark_out="$out/encoder_${v}_t$t.json" --benchmark_out_format=json >/dev/null 2>"$out/encoder_${v}_t$t.err" ||
        tail -3 "$out/encoder_${v}_t$t.err"
    done
    for tag in $(schedule_tags); do
      env $(schedule_env "$tag") OMP_NUM_THREADS=$t $( [ "$t" -lt "$(nproc)" ] && echo taskset -c 0-$((t - 1)) ) \
        "$b/new/bench_encoder" --benchmark_filter="${IA_ENCODER_FILTER:-BM_LargeGemm|BM_Encoder}" \
        --benchmark_min_time=1 --benchmark_out="$out/encoder_${tag}_t$t.json" --benchmark_out_format=json \
        >/dev/null 2>"$out/encoder_${tag}_t$t.err" || tail -3 "$out/encoder_${tag}_t$t.err"
    done
    [ -n "${IA_SKIP_TORCH:-}" ] && { pack; continue; }
    run_threads "$t" python3 tools/bench/hf_cpu_encoder_bench.py --threads "$t" --out "$out/encoder_torch_t$t.json" \
      >/dev/null 2>"$out/encoder_torch_t$t.err" || tail -3 "$out/encoder_torch_t$t.err"
    pack
  done
fi

if [[ $what == *optimes* ]]; then
  # Where the time goes, per op, in one encoder case of each build (IA_OP_TIMES prints at exit).
  for v in new base; do
    have "$v" bench_encoder || continue
    IA_OP_TIMES=1 OMP_NUM_THREADS=16 $(variant_cmd "$v" bench_encoder) --benchmark_filter="${IA_OPTIMES_CASE:-BM_Encoder/minilm_l6_f32/}" \
      --benchmark_min_time=1 >/dev/null 2>"$out/optimes_$v.txt"
    echo "== op times, $v"; tail -12 "$out/optimes_$v.txt"
  done
  pack
fi

if [[ $what == *decode* ]]; then
  export IA_BENCH_DECODE_DIR=/tmp/ia-bench-models
  mkdir -p "$IA_BENCH_DECODE_DIR"
  # Alternated twice so the spread between runs of one binary is visible beside the difference.
  for round in ${IA_BENCH_ROUNDS:-1 2}; do
    for v in base new; do
      have "$v" bench_decode || continue
      $(variant_cmd "$v" bench_decode) --benchmark_filter='BM_MemCopy|BM_Decode|BM_Prefill' \
        --benchmark_out="$out/decode_${v}_r$round.json" --benchmark_out_format=json >/dev/null \
        2>"$out/decode_${v}_r$round.err" || tail -3 "$out/decode_${v}_r$round.err"
      pack
    done
  done
fi

python3 tools/bench/summarize_device_cpu_bench.py "$out" | tee "$out/summary.txt"
pack
