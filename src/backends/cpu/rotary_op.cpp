// Rotary position embedding (HF rotate_half layout) of query / key rows.
#include <vector>

#include "backends/cpu/cpu_common.h"
#include "backends/cpu/cpu_ops.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace ia::cpu {

void rotary_cpu(const Tensor& x, const Tensor& positions, const Tensor& cos, const Tensor& sin, Tensor& out) {
  IA_CHECK(x.dim() == 3 && x.strides()[2] == 1 && x.dtype() == DType::F32, "cpu rotary: x {}", x.describe());
  const int64_t T = x.size(0), N = x.size(1), D = x.size(2), P = cos.size(0), half = cos.size(1);
  const int64_t s0 = x.strides()[0], s1 = x.strides()[1];
  const float* xp = x.data<float>();
  const float* cp = cos.data<float>();
  const float* sp = sin.data<float>();
  float* o = out.data<float>();
  std::vector<int64_t> pos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    pos[static_cast<size_t>(t)] = index_at(positions, t);
    IA_CHECK(pos[static_cast<size_t>(t)] >= 0 && pos[static_cast<size_t>(t)] < P,
             "cpu rotary: position {} outside the {}-row table", pos[static_cast<size_t>(t)], P);
  }
  parallel_for(T * N, row_grain(D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t t = r / N, n = r % N;
      const float* xr = xp + t * s0 + n * s1;
      float* orow = o + r * D;
      const float* c = cp + pos[static_cast<size_t>(t)] * half;
      const float* s = sp + pos[static_cast<size_t>(t)] * half;
      for (int64_t i = 0; i < half; ++i) {
        const float a = xr[i], b = xr[i + half];
        // As torch: each product rounded, then the sum (no fused multiply-add).
        const float ac = a * c[i], bs = b * s[i], bc = b * c[i], as = a * s[i];
        orow[i] = ac - bs;
        orow[i + half] = bc + as;
      }
      for (int64_t i = 2 * half; i < D; ++i) orow[i] = xr[i];
    }
  });
}

}  // namespace ia::cpu
