#include "backends/cpu/prefill_attention.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/cpu/dnnl_gemm.h"
#include "backends/cpu/kernels.h"
#include "core/thread_pool.h"

namespace ia::cpu {
namespace {

using dt = dnnl::memory::data_type;

MatDesc mat4(const int64_t (&dims)[4], const int64_t (&strides)[4]) {
  MatDesc d;
  d.dt = dt::f32;
  d.ndims = 4;
  std::copy(dims, dims + 4, d.dims);
  std::copy(strides, strides + 4, d.strides);
  return d;
}

}  // namespace

void prefill_attention_cpu(const PrefillAttentionArgs& a) {
  const int64_t Hq = a.num_heads, Hkv = a.num_kv_heads, D = a.head_dim, G = Hq / Hkv;
  const int64_t len = a.len, rows = a.rows, p0 = len - rows, HD = Hkv * D;
  if (rows <= 0) return;
  // The paged K/V of positions [0, len) gathered contiguous, [len, Hkv, D]: GEMM operands need one stride.
  std::vector<float> kbuf(static_cast<size_t>(len * HD)), vbuf(static_cast<size_t>(len * HD));
  parallel_for(len, std::max<int64_t>(1, 4096 / HD), [&](int64_t p_lo, int64_t p_hi) {
    for (int64_t p = p_lo; p < p_hi; ++p) {
      const int64_t slot = static_cast<int64_t>(a.block_table[p / a.block_size]) * a.block_size + p % a.block_size;
      std::memcpy(kbuf.data() + p * HD, a.k_cache + slot * HD, static_cast<size_t>(HD) * sizeof(float));
      std::memcpy(vbuf.data() + p * HD, a.v_cache + slot * HD, static_cast<size_t>(HD) * sizeof(float));
    }
  });
  // Query rows per block: at most 64, so the causal skip (keys past the block's last row)
  // saves most of the upper triangle, and fewer when the score block would outgrow ~2 MiB.
  constexpr int64_t kScoreBudget = 512 * 1024;
  const int64_t qn = std::min(rows, std::clamp<int64_t>(kScoreBudget / std::max<int64_t>(Hq * len, 1), 16, 64));
  std::vector<float> scores(static_cast<size_t>(Hq * qn * len));
  float* sp = scores.data();
  const Kernels& kern = kernels();
  for (int64_t i0 = 0; i0 < rows; i0 += qn) {
    const int64_t qb = std::min(qn, rows - i0);
    // Keys any row of the block can see: causal end, window start.
    const int64_t kend = p0 + i0 + qb;
    const int64_t kbeg = a.window > 0 ? std::max<int64_t>(0, p0 + i0 - a.window + 1) : 0;
    const int64_t nk = kend - kbeg;
    // scores[hk, g, i, j] = q[i0 + i, hk * G + g, :] . k[kbeg + j, hk, :]  (K broadcast over the G query heads)
    dnnl_matmul(mat4({Hkv, G, qb, D}, {G * a.q_head_stride, a.q_head_stride, a.q_row_stride, 1}),
                a.q + i0 * a.q_row_stride, mat4({Hkv, 1, D, nk}, {D, D, 1, HD}), kbuf.data() + kbeg * HD, nullptr,
                mat4({Hkv, G, qb, nk}, {G * qb * nk, qb * nk, nk, 1}), sp);
    parallel_for(Hq * qb, std::max<int64_t>(1, 16384 / std::max<int64_t>(nk, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t p = p0 + i0 + r % qb;
        const int64_t lo = a.window > 0 ? std::max<int64_t>(0, p - a.window + 1) : 0;
        const int64_t start = lo - kbeg, limit = p - kbeg + 1;
        float* row = sp + r * nk;
        std::fill(row, row + start, 0.0f);
        kern.attn_softmax(row + start, row + start, nk - start, limit - start, nullptr, a.scale);
      }
    });
    // out[i0 + i, hk * G + g, :] = sum_j p[hk, g, i, j] v[kbeg + j, hk, :]
    dnnl_matmul(mat4({Hkv, G, qb, nk}, {G * qb * nk, qb * nk, nk, 1}), sp, mat4({Hkv, 1, nk, D}, {D, D, HD, 1}),
                vbuf.data() + kbeg * HD, nullptr, mat4({Hkv, G, qb, D}, {G * D, D, Hq * D, 1}), a.out + i0 * Hq * D);
  }
}

}  // namespace ia::cpu
