#pragma once
// The BERT-style encoder stack (post-LayerNorm blocks), written once and
// configured per architecture by a weight-name map and a few flags: BERT,
// RoBERTa / XLM-R / CamemBERT (offset positions), DistilBERT (no token types,
// no pooler).
#include <memory>
#include <string>

#include "backends/backend.h"
#include "core/tensor.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"

namespace ia {

struct EncoderOutput {
  Tensor last_hidden_state;  // [B, S, H] f32
  Tensor pooler_output;      // [B, H] f32; undefined when the checkpoint has no pooler
};

class BertEncoder {
 public:
  // Loads weights from `weights`, converting linear weights to `compute_dtype`
  // (f32 or bf16); shapes are checked against the config (Corrupt on mismatch).
  static std::unique_ptr<BertEncoder> load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                           Device device);

  // input_ids / attention_mask / token_type_ids: [B, S] i64 on the host,
  // right-padded; token_type_ids may be null (all zeros).
  EncoderOutput forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor* token_type_ids) const;

  int64_t hidden_size() const { return hidden_; }
  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }
  // Longest input (in tokens, special tokens included) the position table allows.
  int64_t max_input_tokens() const { return max_positions_ - position_offset_; }
  DType compute_dtype() const { return compute_dtype_; }
  Device device() const { return device_; }
  const std::string& weight_prefix() const { return prefix_; }

 private:
  struct Layer {
    Tensor qkv_w, qkv_b;  // fused [3H, H], [3H]
    Tensor out_w, out_b;
    Tensor ln1_w, ln1_b;
    Tensor ffn_in_w, ffn_in_b;
    Tensor ffn_out_w, ffn_out_b;
    Tensor ln2_w, ln2_b;
  };

  BertEncoder() = default;
  Tensor embed(const Tensor& input_ids, const Tensor& attention_mask, const Tensor* token_type_ids) const;

  Tensor word_emb_, pos_emb_, type_emb_, emb_ln_w_, emb_ln_b_;
  Tensor pooler_w_, pooler_b_;
  std::vector<Layer> layers_;
  int64_t hidden_ = 0, heads_ = 0;
  int64_t max_positions_ = 0;
  int64_t position_offset_ = 0;  // RoBERTa: positions start after padding_idx
  bool roberta_positions_ = false;
  int64_t padding_idx_ = 0;
  float eps_ = 1e-12f;
  Activation act_ = Activation::GeluErf;
  DType compute_dtype_ = DType::F32;
  Device device_;
  std::string prefix_;
};

}  // namespace ia
