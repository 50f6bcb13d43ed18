#pragma once
// The decoder-only causal LM, written once from the shared layers: token (and
// for GPT-2 learned position) embeddings, a stack of pre-norm Blocks over the
// paged KV cache, a final norm and the LM head. An architecture is its
// DecoderConfig properties (norm, positions, weight layout, MLP kind) plus a
// weight-name table (decoder_lm.cpp): GPT-2, LLaMA, Qwen2 (q/k/v bias), Qwen3
// (q/k norm), Mistral (sliding window).
#include <memory>
#include <string>
#include <vector>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/causal_lm.h"
#include "models/layers/block.h"
#include "models/layers/linear.h"
#include "models/layers/norm.h"
#include "models/layers/rotary_embedding.h"

namespace ia {

// Where a decoder nested in a larger model (LLaVA's language_model) keeps its weights: the base
// model's prefix ("language_model.model.") and the LM head's name ("language_model.lm_head").
struct DecoderWeightPrefix {
  std::string base;
  std::string lm_head;
};

class DecoderLM final : public CausalLM {
 public:
  // Linear weights become `compute_dtype` (f32 or bf16); embeddings and norms stay f32.
  // Corrupt when a tensor is missing or its shape disagrees with the config. Without
  // `with_lm_head` the head is neither needed nor loaded (an embedding model's checkpoint may
  // lack it): the model gives hidden states only (StepOutput::HiddenStates).
  static std::unique_ptr<DecoderLM> load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                         Device device, bool with_lm_head = true,
                                         const DecoderWeightPrefix* nested = nullptr);
  // The token embeddings [T, hidden] f32 of ids [T] i64 on the device (what a step without
  // input_embeddings starts from).
  Tensor embed_tokens(const Tensor& ids) const;

  const DecoderConfig& config() const override { return cfg_; }
  DType compute_dtype() const override { return compute_dtype_; }
  Device device() const override { return device_; }
  int64_t weight_bytes_per_token() const override { return weight_bytes_; }
  KvCacheLayout kv_layout() const override { return {cfg_.num_layers, cfg_.num_kv_heads, cfg_.head_dim}; }
  Tensor forward(const StepInputs& step, KvCache& cache) const override;
  Tensor forward_prompt(const StepInputs& step) const override;
  bool replayable(const StepInputs& step) const override;

 private:
  DecoderLM() = default;
  // The blocks over the paged cache, or (null) over the step's own tokens.
  Tensor run(const StepInputs& step, KvCache* cache) const;

  DecoderConfig cfg_;
  DType compute_dtype_ = DType::F32;
  DType linear_input_dtype_ = DType::F32;
  Device device_;
  Tensor embed_, pos_embed_;
  std::vector<Block> blocks_;
  Norm final_norm_;
  Linear lm_head_;
  std::unique_ptr<RotaryEmbedding> rotary_;  // null without rotary positions
  int64_t weight_bytes_ = 0;
};

}  // namespace ia
