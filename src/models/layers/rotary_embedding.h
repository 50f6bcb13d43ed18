#pragma once
// Rotary position embedding for one model: the cos/sin tables of its rope
// configuration, grown on demand (max_position_embeddings can be 128K), and
// per-token tables for dynamic (NTK) rope past the trained length, where the
// frequencies depend on each sequence's length.
#include <cstdint>
#include <mutex>
#include <vector>

#include "core/tensor.h"
#include "models/rope_config.h"
#include "models/step_inputs.h"

namespace ia {

// What the attention layers of one step apply: q/k rows rotate by tables[positions[t]].
struct RotaryTables {
  Tensor cos, sin;   // [P, rotary_dim / 2] f32 on the device
  Tensor positions;  // [T] i64 row of each token in the tables
};

class RotaryEmbedding {
 public:
  RotaryEmbedding() = default;
  RotaryEmbedding(const RopeConfig& rope, int64_t max_positions, Device device)
      : rope_(rope), max_positions_(max_positions), device_(device) {}

  // The tables for this step's tokens.
  RotaryTables for_step(const StepInputs& step) const;

 private:
  RopeConfig rope_;
  int64_t max_positions_ = 0;
  Device device_;
  mutable std::mutex mu_;
  mutable Tensor cos_, sin_;
  mutable int64_t rows_ = 0;
  // Smaller tables a grown one replaced, kept: a recorded step (CUDA graph) reads the tables it
  // was recorded with. Growth doubles, so they add at most the size of the current ones.
  mutable std::vector<Tensor> outgrown_;
};

}  // namespace ia
