#include "models/decoder_config.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/json_messages.h"
#include "models/activation_names.h"

namespace ia {

namespace {

RopeConfig parse_rope(const HfConfig& cfg, int64_t head_dim, int64_t max_positions) {
  RopeConfig r;
  std::string type = "default";
  // Newer transformers nest everything under rope_parameters; older ones have
  // rope_theta at the top and the scaling under rope_scaling.
  std::optional<HfConfig> rp = cfg.sub("rope_parameters");
  if (!rp) rp = cfg.sub("rope_scaling");
  r.theta = cfg.get_float("rope_theta", 10000.0);
  double partial = cfg.get_float("partial_rotary_factor", 1.0);
  if (rp) {
    r.theta = rp->get_float("rope_theta", r.theta);
    type = rp->get_string("rope_type", rp->get_string("type", "default"));
    r.factor = rp->get_float("factor", 1.0);
    r.low_freq_factor = rp->get_float("low_freq_factor", 1.0);
    r.high_freq_factor = rp->get_float("high_freq_factor", 4.0);
    r.original_max_positions = rp->get_int("original_max_position_embeddings", 0);
    // yarn: a null factor means max_position_embeddings / original_max_position_embeddings.
    r.factor_from_ratio = type == "yarn" && !rp->has("factor");
    r.beta_fast = rp->get_float("beta_fast", 32.0);
    r.beta_slow = rp->get_float("beta_slow", 1.0);
    r.attention_factor = rp->opt_float("attention_factor");
    r.mscale = rp->opt_float("mscale");
    r.mscale_all_dim = rp->opt_float("mscale_all_dim");
    r.truncate = rp->get_bool("truncate", true);
    partial = rp->get_float("partial_rotary_factor", partial);
  }
  if (type == "su" || type == "longrope" || type == "mrope")
    fail(ErrorKind::Unsupported, "{}: rope type \"{}\" is not supported (default, linear, dynamic, llama3, yarn)",
         cfg.path(), type);
  static const std::pair<const char*, RopeType> kTypes[] = {{"default", RopeType::Default},
                                                            {"linear", RopeType::Linear},
                                                            {"dynamic", RopeType::Dynamic},
                                                            {"llama3", RopeType::Llama3},
                                                            {"yarn", RopeType::Yarn}};
  bool known = false;
  for (const auto& [name, t] : kTypes)
    if (type == name) {
      r.type = t;
      known = true;
    }
  if (!known) fail(ErrorKind::Unsupported, "{}: unknown rope type \"{}\"", cfg.path(), type);
  // As transformers' standardize_rope_params: a top-level
  // original_max_position_embeddings (Phi-3 style) wins over the rope dict's,
  // and llama3 / yarn without either fall back to max_position_embeddings.
  if (cfg.has("original_max_position_embeddings"))
    r.original_max_positions = cfg.get_int("original_max_position_embeddings", 0);
  if (r.original_max_positions <= 0) r.original_max_positions = max_positions;
  if (r.factor_from_ratio)
    r.factor = static_cast<double>(max_positions) / static_cast<double>(r.original_max_positions);
  if (!(partial > 0 && partial <= 1))
    fail(ErrorKind::Corrupt, "{}: partial_rotary_factor is {}, not in (0, 1]", cfg.path(), partial);
  r.rotary_dim = static_cast<int64_t>(static_cast<double>(head_dim) * partial);
  if (r.rotary_dim % 2) r.rotary_dim -= 1;
  if (!(r.theta > 0) || !(r.factor > 0) || !std::isfinite(r.theta) || !std::isfinite(r.factor) || r.rotary_dim <= 0)
    fail(ErrorKind::Corrupt, "{}: invalid rope parameters (theta {}, factor {}, rotary dims {})", cfg.path(), r.theta,
         r.factor, r.rotary_dim);
  return r;
}

// Every size positive and within the bounds of hf_config.h, head counts and
// dims consistent, eps finite and non-negative: a bad value is Corrupt here,
// naming the key, before anything is allocated from it.
void validate_sizes(const HfConfig& cfg, DecoderConfig& c) {
  const std::string& where = cfg.path();
  const bool gpt2 = c.model_type == "gpt2";
  auto bounded = [&](const char* key, int64_t v, int64_t limit) {
    if (v <= 0 || v > limit) fail(ErrorKind::Corrupt, "{}: {} is {}, not between 1 and {}", where, key, v, limit);
  };
  bounded(gpt2 ? "n_embd" : "hidden_size", c.hidden_size, kMaxConfigDimension);
  bounded(gpt2 ? "n_layer" : "num_hidden_layers", c.num_layers, kMaxConfigLayers);
  bounded(gpt2 ? "n_head" : "num_attention_heads", c.num_heads, kMaxConfigDimension);
  bounded("num_key_value_heads", c.num_kv_heads, c.num_heads);
  if (gpt2 && c.intermediate_size == 0) c.intermediate_size = 4 * c.hidden_size;
  bounded(gpt2 ? "n_inner" : "intermediate_size", c.intermediate_size, kMaxConfigDimension);
  bounded(gpt2 ? "n_positions" : "max_position_embeddings", c.max_positions, kMaxConfigPositions);
  bounded("vocab_size", c.vocab_size, kMaxConfigVocabSize);
  c.head_dim = cfg.get_int("head_dim", 0);
  if (c.head_dim < 0 || c.head_dim > kMaxConfigDimension)
    fail(ErrorKind::Corrupt, "{}: head_dim is {}, not between 1 and {}", where, c.head_dim, kMaxConfigDimension);
  if (c.head_dim == 0) {
    if (c.hidden_size % c.num_heads)
      fail(ErrorKind::Corrupt, "{}: hidden size {} is not divisible by {} heads", where, c.hidden_size, c.num_heads);
    c.head_dim = c.hidden_size / c.num_heads;
  }
  // All factors are at most 2^20: the projection sizes cannot overflow, but
  // a product past the dimension bound is as absurd as a dimension past it.
  if (c.num_heads * c.head_dim > kMaxConfigDimension)
    fail(ErrorKind::Corrupt, "{}: {} heads of {} dims exceed the limit of {}", where, c.num_heads, c.head_dim,
         kMaxConfigDimension);
  if (c.num_heads % c.num_kv_heads)
    fail(ErrorKind::Corrupt, "{}: {} attention heads are not a multiple of {} key/value heads", where, c.num_heads,
         c.num_kv_heads);
  if (!std::isfinite(c.norm_eps) || c.norm_eps < 0)
    fail(ErrorKind::Corrupt, "{}: {} is {}, not a finite number >= 0", where,
         gpt2 ? "layer_norm_epsilon" : "rms_norm_eps", c.norm_eps);
}

// Per layer: 0 for full attention, else the sliding window. layer_types when
// given (newer configs), else Mistral's sliding_window on every layer, Qwen2's
// on layers >= max_window_layers.
std::vector<int64_t> parse_layer_windows(const HfConfig& cfg, const DecoderConfig& c) {
  const std::string& where = cfg.path();
  const std::string& t = c.model_type;
  std::vector<int64_t> windows(static_cast<size_t>(c.num_layers), 0);
  const int64_t window = cfg.get_int("sliding_window", 0);
  if (window < 0) fail(ErrorKind::Corrupt, "{}: sliding_window is {}, negative", where, window);
  if (cfg.has("layer_types")) {
    const auto& lt = cfg.json().at("layer_types");
    if (!lt.is_array()) fail(ErrorKind::Corrupt, "{}: layer_types is not a list", where);
    if (static_cast<int64_t>(lt.size()) != c.num_layers)
      fail(ErrorKind::Corrupt, "{}: layer_types has {} entries for {} layers", where, lt.size(), c.num_layers);
    for (size_t i = 0; i < lt.size(); ++i) {
      const std::string type = lt[i].is_string() ? lt[i].get<std::string>() : std::string();
      if (type == "sliding_attention") {
        if (window <= 0)
          fail(ErrorKind::Corrupt, "{}: layer {} is sliding_attention but sliding_window is not set", where, i);
        windows[i] = window;
      } else if (type != "full_attention") {
        fail(ErrorKind::Unsupported, "{}: layer_types[{}] is {} (full_attention and sliding_attention are supported)",
             where, i, brief_json(lt[i]));
      }
    }
  } else if (window > 0) {
    if (t == "mistral") {
      for (auto& w : windows) w = window;
    } else if ((t == "qwen2" || t == "qwen3") && cfg.get_bool("use_sliding_window", false)) {
      // Layers from max_window_layers on slide; past the last layer none do.
      const int64_t from = cfg.get_int("max_window_layers", c.num_layers);
      if (from < 0) fail(ErrorKind::Corrupt, "{}: max_window_layers is {}, negative", where, from);
      for (int64_t i = from; i < c.num_layers; ++i) windows[static_cast<size_t>(i)] = window;
    }
  }
  return windows;
}

}  // namespace

std::vector<int64_t> parse_token_id_list(const HfConfig& cfg, const std::string& key) {
  std::vector<int64_t> out;
  if (!cfg.has(key)) return out;
  const nlohmann::json& v = cfg.json().at(key);
  if (v.is_number_integer()) {
    out.push_back(v.get<int64_t>());
  } else if (v.is_array()) {
    for (const auto& e : v) {
      if (!e.is_number_integer())
        fail(ErrorKind::Corrupt, "{}: \"{}\" must be an int or a list of ints", cfg.path(), key);
      out.push_back(e.get<int64_t>());
    }
  } else {
    fail(ErrorKind::Corrupt, "{}: \"{}\" must be an int or a list of ints", cfg.path(), key);
  }
  return out;
}

DecoderConfig DecoderConfig::from(const HfConfig& cfg) {
  DecoderConfig c;
  c.model_type = cfg.model_type();
  const std::string& t = c.model_type;
  const std::string where = cfg.path();
  if (t == "gpt2") {
    c.norm = NormKind::LayerNorm;
    c.positions = PositionKind::Learned;
    c.weight_layout = WeightLayout::InOut;
    c.mlp = MlpKind::Plain;
    c.hidden_size = cfg.require_int("n_embd");
    c.num_layers = cfg.require_int("n_layer");
    c.num_heads = cfg.require_int("n_head");
    c.num_kv_heads = c.num_heads;
    c.intermediate_size = cfg.get_int("n_inner", 0);  // 0: 4 * n_embd, set once n_embd is validated
    c.max_positions = cfg.get_int("n_positions", 1024);
    c.norm_eps = cfg.get_float("layer_norm_epsilon", 1e-5);
    c.act = parse_activation(cfg.get_string("activation_function", "gelu_new"), where);
    c.tie_word_embeddings = cfg.get_bool("tie_word_embeddings", true);
    c.qkv_bias = c.o_bias = c.mlp_bias = true;
    if (cfg.get_bool("scale_attn_by_inverse_layer_idx", false))
      fail(ErrorKind::Unsupported, "{}: scale_attn_by_inverse_layer_idx is not supported", where);
  } else if (t == "llama" || t == "qwen2" || t == "qwen3" || t == "mistral") {
    c.hidden_size = cfg.require_int("hidden_size");
    c.num_layers = cfg.require_int("num_hidden_layers");
    c.num_heads = cfg.require_int("num_attention_heads");
    c.num_kv_heads = cfg.get_int("num_key_value_heads", c.num_heads);
    c.intermediate_size = cfg.require_int("intermediate_size");
    c.max_positions = cfg.get_int("max_position_embeddings", 2048);
    c.norm_eps = cfg.get_float("rms_norm_eps", 1e-6);
    c.act = parse_activation(cfg.get_string("hidden_act", "silu"), where);
    c.tie_word_embeddings = cfg.get_bool("tie_word_embeddings", false);
    const bool attention_bias = cfg.get_bool("attention_bias", false);
    c.qkv_bias = t == "qwen2" || attention_bias;  // Qwen2 always has q/k/v biases, never an o bias
    c.o_bias = t != "qwen2" && attention_bias;
    c.mlp_bias = cfg.get_bool("mlp_bias", false);
    c.qk_norm = t == "qwen3";
  } else {
    fail(ErrorKind::Unsupported,
         "{}: model_type \"{}\" is not a decoder this build runs (gpt2, llama, qwen2, qwen3, mistral)", where, t);
  }
  c.vocab_size = cfg.require_int("vocab_size");
  validate_sizes(cfg, c);
  if (c.positions == PositionKind::Rotary) c.rope = parse_rope(cfg, c.head_dim, c.max_positions);

  c.layer_window = parse_layer_windows(cfg, c);
  c.eos_token_ids = parse_token_id_list(cfg, "eos_token_id");
  c.bos_token_id = cfg.opt_int("bos_token_id");
  c.pad_token_id = cfg.opt_int("pad_token_id");
  return c;
}

}  // namespace ia
