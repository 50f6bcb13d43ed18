#pragma once
// One transformer block, pre- or post-norm: self-attention, an optional
// cross-attention, and an MLP, each with its residual add (fused into the
// projection's epilogue). A model is a stack of these plus its embeddings and
// heads; an architecture is a BlockSpec and a table of weight names.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "models/layers/attention.h"
#include "models/layers/block_context.h"
#include "models/layers/mlp.h"
#include "models/layers/norm.h"

namespace ia {

struct BlockSpec {
  // Pre-norm (GPT-2, LLaMA, ViT, Whisper): x + f(norm(x)). Post-norm (BERT, DETR): norm(x + f(x)).
  bool pre_norm = true;
  NormSpec norm;
  AttentionSpec attention;
  std::optional<AttentionSpec> cross_attention;
  MlpSpec mlp;
};

// Checkpoint names of one block; `layer` is an fmt pattern taking the block index.
struct BlockWeightNames {
  const char* layer;
  const char* attention_norm;  // before attention (pre-norm) or after it (post-norm)
  AttentionWeightNames attention;
  const char* cross_attention_norm;
  AttentionWeightNames cross_attention;
  const char* mlp_norm;
  MlpWeightNames mlp;
};

class Block {
 public:
  static Block load(const WeightSource& w, int64_t index, const BlockWeightNames& names, const BlockSpec& spec);

  // Every checkpoint tensor load() reads, so a model can name a missing one before it allocates anything.
  static std::vector<std::string> tensor_names(int64_t index, const BlockWeightNames& names, const BlockSpec& spec);

  // x [T, hidden] -> [T, hidden]
  Tensor operator()(const Tensor& x, const BlockContext& ctx) const;

  bool has_cross_attention() const { return spec_.cross_attention.has_value(); }
  // The cross-attention keys and values of encoder outputs (Attention::project_kv; the encoder
  // rows' positions with QueryKey positions).
  std::pair<Tensor, Tensor> cross_kv(const Tensor& encoder_hidden, const Tensor* encoder_positions = nullptr) const {
    return cross_attention_.project_kv(encoder_hidden, encoder_positions);
  }

 private:
  BlockSpec spec_;
  Norm attention_norm_, cross_norm_, mlp_norm_;
  Attention attention_, cross_attention_;
  Mlp mlp_;
};

}  // namespace ia
