#!/usr/bin/env bash
# `make test-asan`: builds everything with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer in its own build tree, runs the whole ctest suite
# (unit, parity, integration) and replays every seed folder under fuzz/seeds
# through its fuzz target once (-runs=0: replay, no fuzzing). Any finding fails:
# ASan aborts by default, UBSan is built with -fno-sanitize-recover.
# Usage: scripts/run-asan.sh [build-dir] [jobs]
set -euo pipefail
dir=${1:-build-asan}
jobs=${2:-$(nproc)}
if ! command -v clang++ >/dev/null; then
  echo "test-asan: clang++ is required" >&2
  exit 1
fi
start=$(date +%s)
# clang rather than gcc: the fuzz targets need libFuzzer, so one compiler builds both.
# Warnings are not errors here (the gcc build checks them; some pragmas are gcc-only).
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIA_WERROR=OFF -DIA_CUDA=OFF \
    -DIA_BUILD_FUZZERS=ON -DIA_BUILD_BENCH=OFF \
    -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
fi
cmake --build "$dir" -j "$jobs"
built=$(date +%s)

# detect_leaks stays on: a leak is a finding too. halt_on_error makes a UBSan
# report that slipped past -fno-sanitize-recover fatal all the same.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan-suppressions.txt:print_suppressions=0}
(cd "$dir" && ctest --output-on-failure -j "$jobs")
tested=$(date +%s)

for src in fuzz/*.cpp; do
  t=$(basename "$src" .cpp)
  seeds="fuzz/seeds/$t"
  if [ ! -d "$seeds" ]; then
    echo "test-asan: $t has no seed folder"
    continue
  fi
  n=$(find "$seeds" -type f | wc -l)
  echo "test-asan: replaying $n seeds through $t"
  "$dir/bin/$t" -runs=0 "$seeds" >"$dir/$t.replay.log" 2>&1 \
    || { tail -40 "$dir/$t.replay.log"; echo "test-asan: $t FAILED on a seed" >&2; exit 1; }
done
done_at=$(date +%s)
echo "test-asan: build $((built - start))s, ctest $((tested - built))s, seed replay $((done_at - tested))s"
