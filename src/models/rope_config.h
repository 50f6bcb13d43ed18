#pragma once
// Rotary embedding parameters of a config.json, the rope type resolved to an
// enum at load.
#include <cstdint>
#include <optional>

namespace ia {

enum class RopeType { Default, Linear, Dynamic, Llama3, Yarn };

// From `rope_parameters` (newer transformers) or `rope_theta` + `rope_scaling` (older).
struct RopeConfig {
  RopeType type = RopeType::Default;  // resolved from rope_type / type at load
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

}  // namespace ia
