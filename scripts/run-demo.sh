#!/usr/bin/env bash
# The main job of `make run`: embed a few sample sentences with the bundled
# BERT model and print the embeddings and the time taken.
set -euo pipefail
bin=${1:-build/bin/ipfs-accelerate}
model=${MODEL:-tests/fixtures/models/bert}
echo "== hardware"
"$bin" hardware | head -20
echo "== embedding 3 sentences with $model"
start=$(date +%s.%N)
"$bin" embed --model "$model" \
  "ipfs-accelerate runs Hugging Face models on whatever hardware a machine has." \
  "Model files are content-addressed and fetched over IPFS." \
  "The quick brown fox jumps over the lazy dog."
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "== done in %.1f ms (wall, including process start and model load)\n", (e - s) * 1000 }'
