#!/usr/bin/env bash
# Installs every Debian package the build, tests and benchmarks need.
# Idempotent and quiet; skips apt entirely when everything is already present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config clang libclang-rt-14-dev
  clang-format
  nlohmann-json3-dev libdnnl-dev libutf8proc-dev libonig-dev libcli11-dev
  libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  libsentencepiece-dev libssl-dev libcurl4-openssl-dev libcpp-httplib-dev
  libedit-dev libsndfile1-dev libsamplerate0-dev zlib1g-dev
  libpng-dev libjpeg62-turbo-dev libwebp-dev libgif-dev
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
  libsqlite3-dev libpq-dev
  # The results store's tests start a throwaway PostgreSQL cluster (initdb, pg_ctl; the server runs
  # as the postgres account this package makes, since PostgreSQL refuses root), and the report's
  # tests render it in headless Chromium (a font for its text).
  postgresql chromium fonts-dejavu-core
)
# Node.js runs the IPFS interop tests' reference peer; this image may already
# ship its own node/npm, which Debian's npm package would conflict with.
if ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

# The openai SDK the server's conformance test drives (tests/server), exactly as the lock
# file pins it; quiet and skipped when already installed or when npm is absent.
install_npm_packages() {
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/server"
  command -v npm >/dev/null 2>&1 || return 0
  # A copy of the lock file installed last marks node_modules as current.
  if cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-package-lock.json"; then
    return 0
  fi
  if (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
    cp "$dir/package-lock.json" "$dir/node_modules/.installed-package-lock.json"
  else
    echo "install-deps: npm ci in tests/server failed (offline?); the openai conformance test will be skipped"
  fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  install_npm_packages
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_npm_packages
