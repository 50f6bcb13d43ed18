#pragma once
// Greedy decoding step by step through the KV cache, for parity tests that compare a changed
// model (quantized weights, a quantized cache) with the f32 one token for token: a prefill,
// then one decode step per token, so every token after the first reads its context back from
// the cache.
#include <cstdint>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "core/tensor.h"
#include "models/causal_lm.h"
#include "runtime/step_runner.h"

namespace ia::parity {

// The first index of the largest logit of one row of [rows, vocab] f32 logits.
inline int32_t argmax_row(const Tensor& logits, int64_t row) {
  const int64_t V = logits.size(1);
  const float* p = logits.data<float>() + row * V;
  int64_t best = 0;
  for (int64_t j = 1; j < V; ++j)
    if (p[j] > p[best]) best = j;
  return static_cast<int32_t>(best);
}

// The logits of every row of `ids` run as one prompt through a fresh cache.
inline Tensor prompt_logits(const CausalLM& model, const std::vector<int32_t>& ids) {
  auto cache = model.make_cache((static_cast<int64_t>(ids.size()) + 15) / 16, 16);
  const int64_t seq = cache->create_sequence();
  return CausalStepRunner(model).step({SeqChunk{seq, ids}}, *cache, OutputRows::All);
}

// `steps` greedy tokens after `prompt`, on a cache of `kv_dtype` (64 blocks of 16).
inline std::vector<int32_t> greedy_steps(const CausalLM& model, const std::vector<int32_t>& prompt, int steps,
                                         DType kv_dtype = DType::F32) {
  auto cache = model.make_cache(64, 16, kv_dtype);
  EXPECT_EQ(cache->dtype(), kv_dtype);
  const int64_t seq = cache->create_sequence();
  CausalStepRunner runner(model);
  std::vector<int32_t> out;
  Tensor logits = runner.step({SeqChunk{seq, prompt}}, *cache);
  for (int step = 0; step < steps; ++step) {
    out.push_back(argmax_row(logits, 0));
    if (step + 1 == steps) break;
    logits = runner.step({SeqChunk{seq, std::span<const int32_t>(&out.back(), 1)}}, *cache);
  }
  return out;
}

}  // namespace ia::parity
