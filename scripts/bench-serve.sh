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
#   DEVICE [cpu]          serve --device and the engine's device (cuda on the GPU machine)
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

# shellcheck source=scripts/lib/serve_in_background.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/serve_in_background.sh"

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; model: $like (layers: ${layers/#0/preset}) at $model"
log="$out/serve.log"
start_serve "$cli" "$model" "$log" 300 # loading a large folder takes a while
url=$serve_url

rc=0
"$load" --url "$url" --concurrency "${CONCURRENCY:-1,8,32,64}" --prompt-tokens "${PROMPT_TOKENS:-128}" \
  --output-tokens "${OUTPUT_TOKENS:-64}" --system-prompt-tokens "${SYSTEM_PROMPT_TOKENS:-0}" --rounds "${ROUNDS:-1}" \
  --min-requests "${MIN_REQUESTS:-4}" --json "$out/serve.json" "$@" || rc=$?
stop_serve
[ "$rc" -le 1 ] || exit "$rc"

# The engine alone on the same folder, with the server gone (the two must not share the cores).
"$load" --engine-model "$model" --engine-device "${DEVICE:-cpu}" --compare "$out/serve.json" --json "$out/engine.json"
echo "reports: $out/serve.json $out/engine.json"
exit "$rc"
