#pragma once
// Rotary embedding tables as transformers' ROPE_INIT_FUNCTIONS compute them:
// inverse frequencies for each scaling type (default, linear, dynamic, llama3,
// yarn) and the attention scaling yarn applies to cos/sin. The rotary op only
// applies the tables; all the scaling logic lives here.
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "models/rope_config.h"

namespace ia {

struct RopeFrequencies {
  std::vector<float> inv_freq;  // [rotary_dim / 2]
  float attention_scaling = 1.0f;
};

// `seq_len` matters only for the dynamic type (NTK scaling once past max_positions).
RopeFrequencies rope_frequencies(const RopeConfig& rope, int64_t max_positions, int64_t seq_len);

// cos/sin [positions, rotary_dim / 2] f32 on the host, computed as HF does:
// freqs = f32(inv_freq * pos), then cos/sin, times attention_scaling.
void rope_tables(const RopeFrequencies& f, int64_t positions, Tensor& cos, Tensor& sin);

// One row of those tables: cos/sin [rotary_dim / 2] for `position`.
void rope_row(const RopeFrequencies& f, int64_t position, float* cos, float* sin);

}  // namespace ia
