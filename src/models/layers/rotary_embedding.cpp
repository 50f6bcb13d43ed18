#include "models/layers/rotary_embedding.h"

#include <algorithm>

#include "models/rope.h"
#include "ops/ops.h"

namespace ia {

RotaryTables RotaryEmbedding::for_step(const StepInputs& step) const {
  RotaryTables t;
  // Dynamic (NTK) rope past the trained length: the frequencies depend on the
  // sequence's current length, so each sequence gets its own, as a transformers
  // run of that sequence alone computes them (HF batches take the batch's
  // longest; here a sequence's output must not depend on its batch). One
  // cos/sin row per new token, indexed by token rather than position.
  if (rope_.type == RopeType::Dynamic && step.max_seq_len > max_positions_) {
    const int64_t T = step.num_tokens, half = rope_.rotary_dim / 2;
    Tensor cos = Tensor::empty({T, half}, DType::F32), sin = Tensor::empty({T, half}, DType::F32);
    Tensor idx = Tensor::empty({T}, DType::I64);
    int64_t row = 0;
    for (size_t s = 0; s < step.host_seq_lens.size(); ++s) {
      const int64_t p0 = step.host_first_pos[s], end = step.host_seq_lens[s];
      const RopeFrequencies f = rope_frequencies(rope_, max_positions_, end);
      for (int64_t p = p0; p < end; ++p, ++row) {
        rope_row(f, p, cos.data<float>() + row * half, sin.data<float>() + row * half);
        idx.data<int64_t>()[row] = row;
      }
    }
    t.cos = ops::to_device(cos, device_);
    t.sin = ops::to_device(sin, device_);
    t.positions = ops::to_device(idx, device_);
    return t;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (step.max_seq_len > rows_) {
    const int64_t rows = std::max<int64_t>({step.max_seq_len, 2 * rows_, 256});
    Tensor c, s;
    rope_tables(rope_frequencies(rope_, max_positions_, max_positions_), rows, c, s);
    if (cos_.defined() && !device_.is_cpu()) {
      outgrown_.push_back(cos_);
      outgrown_.push_back(sin_);
    }
    cos_ = ops::to_device(c, device_);
    sin_ = ops::to_device(s, device_);
    rows_ = rows;
  }
  t.cos = cos_;
  t.sin = sin_;
  t.positions = step.positions;
  return t;
}

}  // namespace ia
