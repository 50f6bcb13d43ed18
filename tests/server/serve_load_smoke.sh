#!/usr/bin/env bash
# ctest's smoke check of bench_serve_load: `serve` on the tiny llama fixture (it has a chat
# template) on a free loopback port, the load generator at concurrency 1 and 2 with 2 requests
# each over the chat route (with a shared system prompt) and over /v1/completions; every report
# must count 2 requests per level, all completed, none failed (usage checked by the tool itself).
#   serve_load_smoke.sh IPFS_ACCELERATE BENCH_SERVE_LOAD MODEL_DIR
set -euo pipefail
cli=$1 load=$2 model=$3
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "serve_load_smoke: $*" >&2
  echo "--- serve log" >&2
  cat "$tmp/serve.log" >&2 || true
  exit 1
}

IPFS_ACCELERATE_HOME="$tmp/home" "$cli" serve -m "$model" --port 0 >"$tmp/serve.log" 2>&1 &
server_pid=$!
url=""
for _ in $(seq 100); do  # 10 s at most; the fixture loads in well under one
  url=$(grep -o 'ready on http://127\.0\.0\.1:[0-9]*' "$tmp/serve.log" | head -1 | sed 's/^ready on //' || true)
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || fail "serve exited"
  sleep 0.1
done
[ -n "$url" ] || fail "serve not ready after 10 s"

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
