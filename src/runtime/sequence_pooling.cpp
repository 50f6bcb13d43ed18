#include "runtime/sequence_pooling.h"

#include <algorithm>

#include "ops/ops.h"

namespace ia {

Tensor pool_sequences(PoolMode mode, const Tensor& hidden, const StepInputs& step, int64_t skip_first) {
  const int64_t S = step.num_sequences;
  if (mode == PoolMode::Cls) return ops::embedding(hidden, step.query_start.narrow(0, 0, S));
  if (mode == PoolMode::LastToken) {
    Tensor last = Tensor::empty({S}, DType::I64);
    int64_t end = 0;
    for (int64_t s = 0; s < S; ++s) last.data<int64_t>()[s] = (end += step.host_seq_lens[static_cast<size_t>(s)]) - 1;
    return ops::embedding(hidden, ops::to_device(last, hidden.device()));
  }
  int64_t L = 1;
  for (int64_t n : step.host_seq_lens) L = std::max(L, n);
  Tensor index = Tensor::empty({S, L}, DType::I64), mask = Tensor::zeros({S, L}, DType::I64);
  int64_t row = 0;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t n = step.host_seq_lens[static_cast<size_t>(s)];
    const int64_t first = std::clamp<int64_t>(skip_first, 0, n - 1);
    for (int64_t i = 0; i < L; ++i) {
      // Padding points at the sequence's first row; the mask keeps it out of the pool.
      index.data<int64_t>()[s * L + i] = row + (i < n ? i : 0);
      mask.data<int64_t>()[s * L + i] = first <= i && i < n ? 1 : 0;
    }
    row += n;
  }
  const Device d = hidden.device();
  Tensor padded = ops::embedding(hidden, ops::to_device(index, d));  // [S, L, H]
  return ops::pool(mode, padded, ops::to_device(mask, d));
}

}  // namespace ia
