#include "backends/cpu/prefill_attention.h"

#include <algorithm>
#include <vector>

#include "backends/cpu/kernels.h"
#include "core/thread_pool.h"

namespace ia::cpu {

void prefill_attention_cpu(const PrefillAttentionArgs& a) {
  const int64_t Hq = a.num_heads, Hkv = a.num_kv_heads, D = a.head_dim, G = Hq / Hkv;
  const int64_t len = a.len, rows = a.rows, p0 = len - rows, HD = Hkv * D;
  if (rows <= 0) return;
  // The paged K/V of positions [0, len) gathered per KV head: K transposed [Hkv, D, len] and
  // V [Hkv, len, D], so both products below read whole rows of one operand.
  std::vector<float> kt(static_cast<size_t>(len * HD)), vh(static_cast<size_t>(len * HD));
  parallel_for(len, std::max<int64_t>(1, 4096 / HD), [&](int64_t p_lo, int64_t p_hi) {
    for (int64_t p = p_lo; p < p_hi; ++p) {
      const int64_t slot = static_cast<int64_t>(a.block_table[p / a.block_size]) * a.block_size + p % a.block_size;
      const float* kr = a.k_cache + slot * HD;
      const float* vr = a.v_cache + slot * HD;
      for (int64_t h = 0; h < Hkv; ++h) {
        for (int64_t d = 0; d < D; ++d) kt[static_cast<size_t>((h * D + d) * len + p)] = kr[h * D + d];
        std::copy(vr + h * D, vr + (h + 1) * D, vh.begin() + (h * len + p) * D);
      }
    }
  });
  // One task per (query head, block of up to 64 query rows), each on one thread: a 512-token
  // prompt's per-block products are too small to split over many threads (the batched-GEMM
  // version ran no faster on 16 threads than on 2). Later blocks see more keys (causal), so
  // tasks are listed last block first and claimed in that order.
  constexpr int64_t kBlockRows = 64;
  const int64_t nqb = (rows + kBlockRows - 1) / kBlockRows;
  const Kernels& kern = kernels();
  parallel_tasks(Hq * nqb, [&](int64_t task) {
    const int64_t qblock = nqb - 1 - task / Hq, h = task % Hq, hk = h / G;
    const int64_t i0 = qblock * kBlockRows, qb = std::min(kBlockRows, rows - i0);
    // Keys any row of the block can see: causal end, window start.
    const int64_t kend = p0 + i0 + qb;
    const int64_t kbeg = a.window > 0 ? std::max<int64_t>(0, p0 + i0 - a.window + 1) : 0;
    const int64_t nk = kend - kbeg;
    thread_local std::vector<float> scores;
    if (scores.size() < static_cast<size_t>(qb * nk)) scores.resize(static_cast<size_t>(qb * nk));
    float* sp = scores.data();
    // scores[i, j] = q[i0 + i, h, :] . k[kbeg + j, hk, :]
    kern.sgemm(qb, nk, D, a.q + i0 * a.q_row_stride + h * a.q_head_stride, a.q_row_stride,
               kt.data() + hk * D * len + kbeg, len, sp, nk);
    for (int64_t i = 0; i < qb; ++i) {
      const int64_t p = p0 + i0 + i;
      const int64_t lo = a.window > 0 ? std::max<int64_t>(0, p - a.window + 1) : 0;
      const int64_t start = lo - kbeg, limit = p - kbeg + 1;
      float* row = sp + i * nk;
      std::fill(row, row + start, 0.0f);
      kern.attn_softmax(row + start, row + start, nk - start, limit - start, nullptr, a.scale);
    }
    // out[i0 + i, h, :] = sum_j p[i, j] v[kbeg + j, hk, :]
    kern.sgemm(qb, D, nk, sp, nk, vh.data() + (hk * len + kbeg) * D, D, a.out + (i0 * Hq + h) * D, Hq * D);
  });
}

}  // namespace ia::cpu
