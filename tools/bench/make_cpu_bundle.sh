#!/usr/bin/env bash
# Packs benchmark binaries with the Debian shared libraries they need (not glibc,
# which the target machine has in a newer version) into one folder, so they run on
# a machine without our packages (the GPU lease host, whose CPU the CPU figures use):
#   tools/bench/make_cpu_bundle.sh OUT_DIR NAME BIN...   ->  OUT_DIR/NAME/<bins>, OUT_DIR/lib/<libs>
# Run there with LD_LIBRARY_PATH=OUT_DIR/lib.
set -euo pipefail
out=$1 name=$2
shift 2
mkdir -p "$out/$name" "$out/lib"
for bin in "$@"; do
  cp "$bin" "$out/$name/"
  ldd "$bin" | awk '/=> \// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | ld-linux*) continue ;;
    esac
    cp -L -n "$lib" "$out/lib/" 2>/dev/null || true
  done
done
du -sh "$out"
