#include "backends/cpu/prefill_attention.h"

#include <algorithm>
#include <vector>

#include "backends/cpu/kernels.h"
#include "core/dtype.h"
#include "core/thread_pool.h"

namespace ia::cpu {

namespace {

constexpr int64_t kBlockRows = 64;

// Both products on AMX tiles with bf16 inputs (a bf16 model's attention, as transformers runs
// it): K and V gathered as bf16 pairs (K along d, V along keys), keys padded to a multiple of
// 32 with zeros, each (head, 64-row block) a task as in the f32 path below.
void prefill_attention_amx(const PrefillAttentionArgs& a, const Kernels& kern) {
  const int64_t Hq = a.num_heads, Hkv = a.num_kv_heads, D = a.head_dim, G = Hq / Hkv;
  const int64_t len = a.len, rows = a.rows, p0 = len - rows, HD = Hkv * D;
  const int64_t len_pad = (len + 31) / 32 * 32;
  std::vector<uint16_t> kp(static_cast<size_t>(Hkv * D * len_pad), 0), vp(static_cast<size_t>(Hkv * D * len_pad), 0);
  parallel_for(len, std::max<int64_t>(1, 4096 / HD), [&](int64_t p_lo, int64_t p_hi) {
    for (int64_t p = p_lo; p < p_hi; ++p) {
      const int64_t slot = static_cast<int64_t>(a.block_table[p / a.block_size]) * a.block_size + p % a.block_size;
      const float* kr = a.k_cache + slot * HD;
      const float* vr = a.v_cache + slot * HD;
      for (int64_t h = 0; h < Hkv; ++h)
        for (int64_t d = 0; d < D; ++d) {
          kp[static_cast<size_t>(((h * (D / 2) + d / 2) * len_pad + p) * 2 + d % 2)] = f32_to_bf16(kr[h * D + d]);
          vp[static_cast<size_t>(((h * (len_pad / 2) + p / 2) * D + d) * 2 + p % 2)] = f32_to_bf16(vr[h * D + d]);
        }
    }
  });
  const int64_t nqb = (rows + kBlockRows - 1) / kBlockRows;
  parallel_tasks(Hq * nqb, [&](int64_t task) {
    const int64_t qblock = nqb - 1 - task / Hq, h = task % Hq, hk = h / G;
    const int64_t i0 = qblock * kBlockRows, qb = std::min(kBlockRows, rows - i0);
    const int64_t kend = p0 + i0 + qb;
    // The window's first key, rounded down to a whole 32-key step (keys before it get p = 0).
    const int64_t kbeg = (a.window > 0 ? std::max<int64_t>(0, p0 + i0 - a.window + 1) : 0) / 32 * 32;
    const int64_t nk = (kend - kbeg + 31) / 32 * 32;
    thread_local std::vector<uint16_t> q16, p16;
    thread_local std::vector<float> sc, ob;
    for (auto* buf : {&q16, &p16})
      if (buf->size() < static_cast<size_t>(kBlockRows * std::max(D, nk)))
        buf->resize(static_cast<size_t>(kBlockRows * std::max(D, nk)));
    if (sc.size() < static_cast<size_t>(kBlockRows * nk)) sc.resize(static_cast<size_t>(kBlockRows * nk));
    if (ob.size() < static_cast<size_t>(kBlockRows * D)) ob.resize(static_cast<size_t>(kBlockRows * D));
    // Rows qb..63 of the last block pad the tiles: zeros (rows below qb are written in full).
    std::fill(q16.begin() + qb * D, q16.begin() + kBlockRows * D, uint16_t{0});
    std::fill(p16.begin() + qb * nk, p16.begin() + kBlockRows * nk, uint16_t{0});
    for (int64_t i = 0; i < qb; ++i)
      kern.f32_to_bf16(a.q + (i0 + i) * a.q_row_stride + h * a.q_head_stride, q16.data() + i * D, D);
    kern.attn_scores_amx(q16.data(), D, kp.data() + (hk * (D / 2) * len_pad + kbeg) * 2, 2 * len_pad, nk, sc.data(),
                         nk);
    for (int64_t i = 0; i < qb; ++i) {
      const int64_t p = p0 + i0 + i;
      const int64_t lo = a.window > 0 ? std::max<int64_t>(0, p - a.window + 1) : 0;
      const int64_t start = lo - kbeg, limit = p - kbeg + 1;
      float* row = sc.data() + i * nk;
      std::fill(row, row + start, 0.0f);
      kern.attn_softmax(row + start, row + start, nk - start, limit - start, nullptr, a.scale);
      kern.f32_to_bf16(row, p16.data() + i * nk, nk);
    }
    kern.attn_values_amx(p16.data(), nk, vp.data() + (hk * (len_pad / 2) + kbeg / 2) * D * 2, D, ob.data());
    for (int64_t i = 0; i < qb; ++i)
      std::copy(ob.data() + i * D, ob.data() + (i + 1) * D, a.out + ((i0 + i) * Hq + h) * D);
  });
}

}  // namespace

void prefill_attention_cpu(const PrefillAttentionArgs& a) {
  const int64_t Hq = a.num_heads, Hkv = a.num_kv_heads, D = a.head_dim, G = Hq / Hkv;
  const int64_t len = a.len, rows = a.rows, p0 = len - rows, HD = Hkv * D;
  if (rows <= 0) return;
  if (a.bf16_products && D % 32 == 0 && kernels().attn_scores_amx && kernels().attn_values_amx) {
    prefill_attention_amx(a, kernels());
    return;
  }
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
