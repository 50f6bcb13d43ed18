#!/usr/bin/env bash
# ctest's smoke check of bench_serve_load: `serve` on the tiny llama fixture (it has a chat
# template) on a free loopback port, the load generator at concurrency 1 and 2 with 2 requests
# each over the chat route (with a shared system prompt) and over /v1/completions; every report
# must count 2 requests per level, all completed, none failed (usage checked by the tool itself).
#   serve_load_smoke.sh IPFS_ACCELERATE BENCH_SERVE_LOAD MODEL_DIR
set -euo pipefail
cli=$1 load=$2 model=$3
tmp=$(mktemp -d)
# shellcheck source=scripts/lib/serve_in_background.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/serve_in_background.sh"
trap 'stop_serve; rm -rf "$serve_home" "$tmp"' EXIT
fail() {
  echo "serve_load_smoke: $*" >&2
  echo "--- serve log" >&2
  cat "$tmp/serve.log" >&2 || true
  exit 1
}

start_serve "$cli" "$model" "$tmp/serve.log" 10 # the fixture loads in well under a second
url=$serve_url

# The report is nlohmann's dump(2): one key per line, so counting lines counts levels.
check_report() {  # FILE LEVELS
  local file=$1 levels=$2 key
  [ -f "$file" ] || fail "no report $file"
  for key in '"requests_planned": 2,' '"requests_sent": 2,' '"completed": 2,' '"errors": 0,' '"output_tokens": 16,'; do
    [ "$(grep -cF "$key" "$file")" = "$levels" ] || { cat "$file" >&2; fail "$file: expected $key in each of $levels levels"; }
  done
}

common=(--url "$url" --requests 2 --prompt-tokens 16 --output-tokens 8 --level-timeout 20 --read-timeout 10)
"$load" "${common[@]}" --concurrency 1,2 --system-prompt-tokens 12 --json "$tmp/chat.json" ||
  fail "chat run failed (rc $?)"
check_report "$tmp/chat.json" 2
"$load" "${common[@]}" --concurrency 2 --endpoint completions --warmup 0 --json "$tmp/completions.json" ||
  fail "completions run failed (rc $?)"
check_report "$tmp/completions.json" 1
echo "serve_load_smoke: OK"
