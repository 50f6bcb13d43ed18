#!/usr/bin/env bash
# ctest's entry to the openai SDK conformance check: skips (exit 77, with the reason)
# when node or the pinned packages are missing; scripts/install-deps.sh installs them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null 2>&1; then
  echo "openai conformance: skipped (node is not installed; run scripts/install-deps.sh)"
  exit 77
fi
if [ ! -f "$here/node_modules/openai/package.json" ]; then
  echo "openai conformance: skipped ($here/node_modules is absent; run scripts/install-deps.sh, or npm ci there)"
  exit 77
fi
exec node "$here/openai_conformance.mjs" "$@"
