#!/usr/bin/env bash
# The C++ library as a user consumes it, three ways, each building examples/embed_example.cpp
# and running it on a fixture model:
#   1. `cmake --install` of this build tree into a temporary prefix, then a user project with
#      find_package(ipfs_accelerate) (the shared library, and COMPONENTS static for the archive);
#   2. the same prefix through pkg-config: c++ example.cpp $(pkg-config --cflags --libs ipfs_accelerate);
#   3. a user project that add_subdirectory()s the source tree. This compiles the library again
#      in the user's tree, so it runs fully only where ccache can serve the objects the main
#      build compiled (seconds); otherwise (no ccache, a cold cache, another generator) it
#      configures and compiles the example's object alone, through the alias target's include
#      paths, and does not link it. IA_INSTALL_TEST_SUBDIR_BUILD=on builds it anyway, =off never.
# Usage: consumers.sh BUILD_DIR SOURCE_DIR MODEL_DIR CXX GENERATOR BUILD_TYPE WERROR
set -euo pipefail

build=$1 src=$2 model=$3 cxx=$4 generator=$5 build_type=$6 werror=$7
example=$src/examples/embed_example.cpp
work=$(mktemp -d "${TMPDIR:-/tmp}/ia-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
expected='^32-dimensional embeddings on cpu, cosine similarity 0\.[0-9]{4}$'
first_output=""

step() { echo "== $*"; }
check_run() {  # NAME BINARY: runs the example, checks its line, and that every variant prints the same line
  local all out
  all=$("$2" "$model")
  out=$(tail -n 1 <<<"$all")
  echo "$1: $out"
  # The example's line is all of stdout: the library logs on stderr, never on a program's output.
  if [ "$all" != "$out" ]; then
    echo "FAIL: $1 printed more than its line on stdout:" >&2
    head -n -1 <<<"$all" | sed 's/^/  /' >&2
    exit 1
  fi
  if ! [[ $out =~ $expected ]]; then
    echo "FAIL: $1 printed '$out'" >&2
    exit 1
  fi
  if [ -n "$first_output" ] && [ "$out" != "$first_output" ]; then
    echo "FAIL: $1 printed '$out', the first variant '$first_output'" >&2
    exit 1
  fi
  first_output=$out
}

step "cmake --install into $work/prefix"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log"
for f in include/ipfs_accelerate/accelerator.h lib/libipfs_accelerate.a lib/cmake/ipfs_accelerate/ipfs_accelerateConfig.cmake \
  lib/pkgconfig/ipfs_accelerate.pc; do
  [ -e "$work/prefix/$f" ] || { echo "FAIL: $f not installed" >&2; exit 1; }
done
ls "$work/prefix"/lib/libipfs_accelerate.so* >/dev/null

step "find_package(ipfs_accelerate)"
mkdir -p "$work/find_package"
cat >"$work/find_package/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.16)
project(user LANGUAGES CXX)
find_package(ipfs_accelerate 0.1 REQUIRED)
add_executable(embed_shared "$example")
target_link_libraries(embed_shared PRIVATE ipfs_accelerate::ipfs_accelerate)
find_package(ipfs_accelerate 0.1 REQUIRED COMPONENTS static)
add_executable(embed_static "$example")
target_link_libraries(embed_static PRIVATE ipfs_accelerate::ipfs_accelerate_static)
EOF
cmake -S "$work/find_package" -B "$work/find_package/build" -G "$generator" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" >"$work/fp-configure.log"
cmake --build "$work/find_package/build" --parallel 2 >"$work/fp-build.log" || { cat "$work/fp-build.log"; exit 1; }
check_run "find_package shared" "$work/find_package/build/embed_shared"
check_run "find_package static" "$work/find_package/build/embed_static"
if readelf -d "$work/find_package/build/embed_static" | grep -q 'libipfs_accelerate'; then
  echo "FAIL: embed_static loads libipfs_accelerate.so" >&2
  exit 1
fi

step "pkg-config ipfs_accelerate"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
libdir=$(pkg-config --variable=libdir ipfs_accelerate)
# shellcheck disable=SC2046  # the flags are words
"$cxx" -std=c++17 -O1 "$example" -o "$work/embed_pkgconfig" $(pkg-config --cflags --libs ipfs_accelerate) -Wl,-rpath,"$libdir"
check_run "pkg-config" "$work/embed_pkgconfig"

step "add_subdirectory(source tree)"
mkdir -p "$work/subdir"
cat >"$work/subdir/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.25)
project(user LANGUAGES C CXX)
add_subdirectory("$src" ipfs_accelerate)
add_executable(embed_subdir "$example")
target_link_libraries(embed_subdir PRIVATE ipfs_accelerate::ipfs_accelerate)
add_executable(embed_subdir_static "$example")
target_link_libraries(embed_subdir_static PRIVATE ipfs_accelerate::ipfs_accelerate_static)
EOF
# The main build's compiler, type and flags, so that ccache's entries match.
cmake -S "$work/subdir" -B "$work/subdir/build" -G "$generator" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE="$build_type" -DIA_WERROR="$werror" >"$work/sub-configure.log"
if grep -q test_integration "$work/subdir/build/CMakeCache.txt" "$work/subdir/build"/*.ninja 2>/dev/null; then
  echo "FAIL: the subproject builds the project's tests" >&2  # tests, benchmarks and install rules are top-level only
  exit 1
fi
# ccache serves the library's objects when one compiled in the main build is a hit here.
cached=no
if command -v ccache >/dev/null && [ "$generator" = Ninja ] && [ "${IA_INSTALL_TEST_SUBDIR_BUILD:-auto}" != off ]; then
  probe=$(ninja -C "$work/subdir/build" -t targets all | grep -o '^[^:]*ia_core\.dir/[^:]*thread_pool\.cpp\.o' | head -1)
  CCACHE_STATSLOG="$work/ccache-stats.log" ninja -C "$work/subdir/build" "$probe" >"$work/sub-build.log"
  grep -qE '^(direct|preprocessed)_cache_hit' "$work/ccache-stats.log" 2>/dev/null && cached=yes
fi
if [ "$cached" = yes ] || [ "${IA_INSTALL_TEST_SUBDIR_BUILD:-auto}" = on ]; then
  start=$(date +%s)
  cmake --build "$work/subdir/build" --parallel 2 --target embed_subdir embed_subdir_static >"$work/sub-build.log" ||
    { tail -50 "$work/sub-build.log"; exit 1; }
  echo "add_subdirectory build: $(($(date +%s) - start)) s"
  check_run "add_subdirectory shared" "$work/subdir/build/embed_subdir"
  check_run "add_subdirectory static" "$work/subdir/build/embed_subdir_static"
else
  echo "add_subdirectory: ccache has not got the library's objects: compiling the example's object only"
  if [ "$generator" = Ninja ]; then
    object=$(ninja -C "$work/subdir/build" -t targets all | grep -o '^CMakeFiles/embed_subdir\.dir/[^:]*\.o' | head -1)
    ninja -C "$work/subdir/build" "$object" >"$work/sub-build.log" || { cat "$work/sub-build.log"; exit 1; }
  fi
fi
echo "all consumers OK"
