#pragma once
// What the decoder-only stack needs from config.json, normalised across
// GPT-2 (n_embd, n_layer, ...), LLaMA, Qwen2/Qwen3 and Mistral. The
// per-architecture differences are named properties here (norm, positions,
// weight layout, MLP kind) plus a weight-name table in decoder_lm.cpp.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "formats/hf_config.h"
#include "models/layers/attention.h"
#include "models/layers/mlp.h"
#include "models/layers/norm.h"
#include "models/layers/weight_source.h"
#include "models/rope_config.h"

namespace ia {

struct DecoderConfig {
  std::string model_type;
  int64_t vocab_size = 0, hidden_size = 0, num_layers = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0;
  int64_t intermediate_size = 0, max_positions = 0;
  double norm_eps = 1e-5;
  Activation act = Activation::Silu;
  // GPT-2: LayerNorm with bias, learned positions, Conv1D [in, out] matrices, plain GELU MLP.
  // LLaMA family: RMSNorm, rotary positions, [out, in] matrices, gated SiLU MLP.
  NormKind norm = NormKind::RmsNorm;
  PositionKind positions = PositionKind::Rotary;
  WeightLayout weight_layout = WeightLayout::OutIn;
  MlpKind mlp = MlpKind::Gated;
  bool tie_word_embeddings = false;
  bool qkv_bias = false, o_bias = false, mlp_bias = false;
  bool qk_norm = false;               // Qwen3
  std::vector<int64_t> layer_window;  // per layer: 0 = full attention, else the sliding window
  RopeConfig rope;
  std::vector<int64_t> eos_token_ids;  // from config.json (generation_config.json may override)
  std::optional<int64_t> bos_token_id, pad_token_id;

  // Unsupported for a model_type outside the decoder family or an unknown rope type;
  // Corrupt (naming the file) for inconsistent sizes.
  static DecoderConfig from(const HfConfig& cfg);
};

// eos_token_id as an int or a list of ints (absent/null: empty).
std::vector<int64_t> parse_token_id_list(const HfConfig& cfg, const std::string& key);

}  // namespace ia
