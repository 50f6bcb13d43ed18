#pragma once
// What the generic decoder stack needs from config.json, normalised across
// GPT-2 (n_embd, n_layer, ...), LLaMA, Qwen2/Qwen3 and Mistral. The
// per-architecture differences are flags here plus a weight-name map in
// decoder.cpp.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "formats/hf_config.h"

namespace ia {

// Rotary embedding parameters, from `rope_parameters` (newer transformers) or
// `rope_theta` + `rope_scaling` (older).
struct RopeConfig {
  std::string type = "default";  // default | linear | dynamic | llama3 | yarn
  double theta = 10000.0;
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  int64_t original_max_positions = 0;                    // llama3 / yarn (absent: max_positions)
  bool factor_from_ratio = false;                        // yarn without a factor: max / original
  double beta_fast = 32.0, beta_slow = 1.0;              // yarn
  std::optional<double> attention_factor, mscale, mscale_all_dim;
  bool truncate = true;    // yarn
  int64_t rotary_dim = 0;  // head_dim * partial_rotary_factor
};

struct DecoderConfig {
  std::string model_type;
  int64_t vocab_size = 0, hidden_size = 0, num_layers = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0;
  int64_t intermediate_size = 0, max_positions = 0;
  double norm_eps = 1e-5;
  Activation act = Activation::Silu;
  bool gpt2 = false;  // learned positions, LayerNorm with bias, Conv1D weights, GELU MLP
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
