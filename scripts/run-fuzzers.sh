#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a
# bounded time. Exits non-zero on the first crash; prints a skip line when
# clang is absent.
set -euo pipefail
dir=${1:-build-fuzz}
seconds=${2:-20}
if ! command -v clang++ >/dev/null; then
  echo "fuzz: skipped (clang++ not installed)"
  exit 0
fi
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DIA_BUILD_FUZZERS=ON -DIA_BUILD_TESTS=OFF -DIA_BUILD_BENCH=OFF -DIA_CUDA=OFF \
    -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" >/dev/null
fi
targets=$(cd fuzz && ls *.cpp 2>/dev/null | sed 's/\.cpp$//')
[ -z "$targets" ] && { echo "fuzz: no targets"; exit 0; }
cmake --build "$dir" -j "$(nproc)" --target $targets
mkdir -p "$dir/corpus"
for t in $targets; do
  corpus="$dir/corpus/$t"
  mkdir -p "$corpus"
  seeds="fuzz/seeds/$t"
  echo "fuzz: $t for ${seconds}s"
  args=("$corpus")
  [ -d "$seeds" ] && args+=("$seeds")
  "$dir/bin/$t" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$dir/" "${args[@]}" 2>"$dir/$t.log" \
    || { tail -40 "$dir/$t.log"; echo "fuzz: $t FAILED"; exit 1; }
  grep -E 'stat::number_of_executed_units' "$dir/$t.log" | sed "s/^/fuzz: $t /"
done
