#pragma once
// The decoder-only transformer stack (pre-norm blocks), written once and
// configured per architecture by a weight-name map and the flags of
// DecoderConfig: GPT-2 (learned positions, LayerNorm, Conv1D weights, GELU),
// LLaMA (RMSNorm, SwiGLU, GQA, rope scaling), Qwen2 (q/k/v bias), Qwen3
// (q/k norm), Mistral (sliding window). Attention runs against a paged KvCache,
// so prefill and decode are the same forward over "new tokens per sequence".
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/decoder_config.h"
#include "models/kv_cache.h"
#include "models/rope.h"

namespace ia {

// New tokens of one sequence of the cache (a whole prompt for prefill, one token for decode).
struct SeqChunk {
  int64_t seq = 0;
  std::span<const int32_t> tokens;
};

class Decoder {
 public:
  // Linear weights become `compute_dtype` (f32 or bf16); embeddings and norms stay f32.
  // Corrupt when a tensor is missing or its shape disagrees with the config.
  static std::unique_ptr<Decoder> load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                       Device device);

  const DecoderConfig& config() const { return cfg_; }
  DType compute_dtype() const { return compute_dtype_; }
  Device device() const { return device_; }
  // Bytes of weights one decode step reads (linear weights + lm head), for rooflines.
  int64_t weight_bytes_per_token() const { return weight_bytes_; }

  // A cache able to hold `tokens` tokens in total (rounded up per sequence by the caller).
  std::unique_ptr<KvCache> make_cache(int64_t num_blocks, int64_t block_size = 16) const;

  // Runs the new tokens of each chunk (appending their K/V to the cache) and
  // returns host f32 logits: [total new tokens, vocab] when all_logits, else
  // [chunks, vocab] for the last new token of each chunk.
  Tensor forward(const std::vector<SeqChunk>& chunks, KvCache& cache, bool all_logits = false) const;

 private:
  struct Layer {
    Tensor norm1_w, norm1_b, norm2_w, norm2_b;
    Tensor qkv_w, qkv_b;  // fused [(Hq + 2 Hkv) D, H]
    Tensor o_w, o_b;
    Tensor q_norm, k_norm;  // Qwen3
    Tensor up_w, up_b;      // SwiGLU: fused [gate | up] [2I, H]; GPT-2: c_fc [I, H]
    Tensor down_w, down_b;
    int64_t window = 0;
  };
  Decoder() = default;
  Tensor norm(const Tensor& x, const Tensor& w, const Tensor& b) const;
  // cos/sin on the device covering positions [0, positions) with the trained-length
  // frequencies (dynamic rope past that length is built per token in forward).
  void rope_for(int64_t positions, Tensor& cos, Tensor& sin) const;

  DecoderConfig cfg_;
  DType compute_dtype_ = DType::F32;
  // What the norms and the gate hand to the next linear: bf16 with bf16 weights where the
  // backend can (the linear would round f32 inputs to the same values), else f32.
  DType linear_input_dtype_ = DType::F32;
  Device device_;
  Tensor embed_, pos_embed_, final_w_, final_b_, lm_head_;
  std::vector<Layer> layers_;
  int64_t weight_bytes_ = 0;
  // Rope tables grow on demand (max_position_embeddings can be 128K).
  mutable std::mutex rope_mu_;
  mutable Tensor cos_, sin_;
  mutable int64_t rope_rows_ = 0;
};

}  // namespace ia
