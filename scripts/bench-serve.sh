#!/usr/bin/env bash
# Serving benchmark (issue 13, "Performance"): a random-weight model folder, `ipfs-accelerate
# serve` on a free loopback port, bench_serve_load at fixed concurrency levels against it, the
# server stopped, then the same prompt and output lengths through the engine in process
# (Generator::generate_ids at batch = each concurrency) so the report can say what the server
# keeps of the engine's batch rate.
#
#   scripts/bench-serve.sh [BUILD_DIR] [-- extra bench_serve_load options]
#
# Environment (defaults in brackets):
#   LIKE [qwen2-0.5b]     dev random-model --like (llama-1b, qwen2-0.5b, gpt2, or a config.json)
#   LAYERS [0]            dev random-model --layers (0: as the preset)
#   MODEL_DIR             where the folder is kept [${TMPDIR:-/tmp}/ia-bench-serve-$LIKE-L$LAYERS]
#   CONCURRENCY [1,8,32,64]  PROMPT_TOKENS [128]  OUTPUT_TOKENS [64]  SYSTEM_PROMPT_TOKENS [0]
#   ROUNDS [1]  MIN_REQUESTS [4]   requests per level = max(ROUNDS x concurrency, MIN_REQUESTS)
#   OUT                   where serve.json, engine.json and serve.log go [BUILD_DIR/bench-results]
#
# Random folders have no chat template; one in TinyLlama-Chat's format is added so the chat
# route (what clients use) is measured.
set -euo pipefail
build=build
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  build=$1
  shift
fi
[ "${1:-}" = "--" ] && shift
cli="$build/bin/ipfs-accelerate"
load="$build/bin/bench_serve_load"
for b in "$cli" "$load"; do
  [ -x "$b" ] || { echo "bench-serve: $b not built (cmake --build $build --target ipfs-accelerate bench_serve_load)" >&2; exit 2; }
done

like=${LIKE:-qwen2-0.5b}
layers=${LAYERS:-0}
model=${MODEL_DIR:-${TMPDIR:-/tmp}/ia-bench-serve-$(basename "$like" .json)-L$layers}
out=${OUT:-$build/bench-results}
mkdir -p "$out"

if [ ! -f "$model/model.safetensors" ]; then
  "$cli" dev random-model --like "$like" --layers "$layers" --out "$model" >/dev/null
fi
if ! grep -q '"chat_template"' "$model/tokenizer_config.json"; then
  # dev random-model writes the file with one key per line after "{": the template goes first.
  template="{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\\\\n' + message['content'] + eos_token }}{% elif message['role'] == 'system' %}{{ '<|system|>\\\\n' + message['content'] + eos_token }}{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\\\\n' + message['content'] + eos_token }}{% endif %}{% if loop.last and add_generation_prompt %}{{ '<|assistant|>\\\\n' }}{% endif %}{% endfor %}"
  sed -i "1a\\  \"chat_template\": \"$template\"," "$model/tokenizer_config.json"
fi

# A home of its own: serve must not touch the user's blockstore, and it is removed at the end.
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

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; model: $like (layers: ${layers/#0/preset}) at $model"
log="$out/serve.log"
IPFS_ACCELERATE_HOME="$tmp/home" "$cli" serve -m "$model" --port 0 >"$log" 2>&1 &
server_pid=$!
url=""
for _ in $(seq 600); do  # loading a large folder takes a while; 5 minutes at most
  url=$(grep -o 'ready on http://[0-9.]*:[0-9]*' "$log" | head -1 | sed 's/^ready on //' || true)
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || { echo "bench-serve: serve exited:" >&2; cat "$log" >&2; exit 2; }
  sleep 0.5
done
[ -n "$url" ] || { echo "bench-serve: serve not ready after 5 minutes" >&2; exit 2; }

rc=0
"$load" --url "$url" --concurrency "${CONCURRENCY:-1,8,32,64}" --prompt-tokens "${PROMPT_TOKENS:-128}" \
  --output-tokens "${OUTPUT_TOKENS:-64}" --system-prompt-tokens "${SYSTEM_PROMPT_TOKENS:-0}" --rounds "${ROUNDS:-1}" \
  --min-requests "${MIN_REQUESTS:-4}" --json "$out/serve.json" "$@" || rc=$?
kill -TERM "$server_pid"
wait "$server_pid" || true
server_pid=""
[ "$rc" -le 1 ] || exit "$rc"

# The engine alone on the same folder, with the server gone (the two must not share the cores).
"$load" --engine-model "$model" --compare "$out/serve.json" --json "$out/engine.json"
echo "reports: $out/serve.json $out/engine.json"
exit "$rc"
