#!/usr/bin/env bash
# A self-contained bundle of the CLI and the CUDA backend for a GPU machine that has the NVIDIA
# driver and the CUDA 13 toolkit's libraries (cuBLASLt) but none of this project's Debian
# packages: the binaries, the shared libraries they need from this machine (not glibc, which the
# target has in its own version, and not CUDA's, which come from the target's toolkit or driver),
# and a wrapper that points the loader at them.
#   scripts/gpu/make_bundle.sh BUILD_DIR OUT.tar.xz [EXTRA_BINARY...]
# Unpack anywhere and run ./ipfs-accelerate (or bin/<test> with LD_LIBRARY_PATH=lib).
set -euo pipefail
build=$1 out=$2
shift 2
plugin=$build/bin/libipfs_accelerate_cuda.so
[ -f "$plugin" ] || {
  echo "make_bundle: $plugin is missing: this build has no CUDA backend (is nvcc at /usr/local/cuda/bin?)" >&2
  exit 2
}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
for f in "$build/bin/ipfs-accelerate" "$plugin" "$@"; do
  cp "$f" "$stage/bin/"
  strip --strip-unneeded "$stage/bin/$(basename "$f")" 2>/dev/null || true
  ldd "$f" | awk '/=> \// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | ld-linux* | libcuda.so.* | libcublas* | libcudart* | libnv*) continue ;;
    esac
    [ -e "$stage/lib/$(basename "$lib")" ] || cp -L "$lib" "$stage/lib/"
  done
done
cat >"$stage/ipfs-accelerate" <<'WRAP'
#!/bin/sh
# The bundle's libraries first, then the CUDA toolkit's (cuBLASLt) where the machine has it.
here=$(dirname "$(readlink -f "$0")")
export LD_LIBRARY_PATH="$here/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$here/bin/ipfs-accelerate" "$@"
WRAP
chmod +x "$stage/ipfs-accelerate"
XZ_OPT=${XZ_OPT:--9e -T0} tar -cJf "$out.tmp" -C "$stage" .
mv "$out.tmp" "$out"
echo "bundle: $out ($(du -h "$out" | cut -f1)): $(ls "$stage/bin" | tr '\n' ' ')"
