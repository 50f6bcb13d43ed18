#pragma once
// The BERT-family text encoder, written once from the shared layers: word,
// position and token-type embeddings with a LayerNorm, a stack of post-norm
// bidirectional Blocks over packed sequences, and the optional pooler head.
// An architecture is a weight-name table (bert_encoder.cpp) and BertConfig's
// properties: BERT, RoBERTa / XLM-R / CamemBERT (positions offset past the
// padding id), DistilBERT (no token types, no pooler).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/encoder.h"
#include "models/layers/block.h"
#include "models/layers/linear.h"
#include "models/layers/norm.h"

namespace ia {

class BertEncoder final : public Encoder {
 public:
  // Loads weights, converting linear weights to `compute_dtype` (f32 or bf16);
  // shapes are checked against the config (Corrupt on mismatch). `prefix`: where the encoder's
  // weights live ("text_model." in CLAP); unset, the task heads' prefixes are tried.
  static std::unique_ptr<BertEncoder> load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                           Device device, const std::optional<std::string>& prefix = std::nullopt);

  int64_t hidden_size() const override { return hidden_; }
  int64_t vocab_size() const override { return vocab_; }
  int64_t max_input_tokens() const override { return max_positions_ - position_offset_; }
  DType compute_dtype() const override { return compute_dtype_; }
  Device device() const override { return device_; }
  EncoderOutput forward(const StepInputs& step) const override;

  int64_t num_layers() const { return static_cast<int64_t>(blocks_.size()); }
  // The prefix task heads save the encoder under ("bert.", "roberta.", ...), or "".
  const std::string& weight_prefix() const { return prefix_; }

 private:
  BertEncoder() = default;

  Tensor word_emb_, pos_emb_, type_emb_;
  Norm emb_norm_;
  std::vector<Block> blocks_;
  Linear pooler_;
  bool has_pooler_ = false;
  int64_t hidden_ = 0, vocab_ = 0, max_positions_ = 0;
  int64_t position_offset_ = 0;  // RoBERTa: the first real token's position is pad_token_id + 1
  DType compute_dtype_ = DType::F32;
  Device device_;
  std::string prefix_;
};

}  // namespace ia
