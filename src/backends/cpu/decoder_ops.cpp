#include "backends/cpu/decoder_ops.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/cpu/kernels.h"
#include "backends/cpu/prefill_attention.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace ia::cpu {
namespace {

int64_t index_at(const Tensor& t, int64_t i) {
  const int64_t off = t.dim() == 0 ? 0 : i * t.strides().back();
  if (t.dtype() == DType::I64) return t.data<int64_t>()[off];
  if (t.dtype() == DType::I32) return t.data<int32_t>()[off];
  fail(ErrorKind::Internal, "cpu: index tensor must be i32 or i64, got {}", t.describe());
}

int64_t grain_rows(int64_t row_len) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(row_len, 1));
}

}  // namespace

void rms_norm_cpu(const Tensor& x, const Tensor& weight, float eps, Tensor& out) {
  IA_CHECK(x.dtype() == DType::F32 && x.is_contiguous() && weight.dtype() == DType::F32, "cpu rms_norm: {} {}",
           x.describe(), weight.describe());
  IA_CHECK(out.dtype() == DType::F32 || out.dtype() == DType::BF16, "cpu rms_norm: out {}", out.describe());
  const int64_t H = x.size(-1), rows = H ? x.numel() / H : 0;
  const float* xp = x.data<float>();
  const float* wp = weight.data<float>();
  const Kernels& k = kernels();
  if (out.dtype() == DType::BF16) {
    // Row by row through an f32 row in cache, then rounded: what linear would do to f32 x.
    uint16_t* o = out.data<uint16_t>();
    parallel_for(rows, grain_rows(H), [&](int64_t r0, int64_t r1) {
      thread_local std::vector<float> row;
      if (row.size() < static_cast<size_t>(H)) row.resize(static_cast<size_t>(H));
      for (int64_t r = r0; r < r1; ++r) {
        k.rms_norm(xp + r * H, wp, eps, row.data(), H);
        k.f32_to_bf16(row.data(), o + r * H, H);
      }
    });
    return;
  }
  float* o = out.data<float>();
  parallel_for(rows, grain_rows(H), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) k.rms_norm(xp + r * H, wp, eps, o + r * H, H);
  });
}

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
  parallel_for(T * N, grain_rows(D), [&](int64_t r0, int64_t r1) {
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

void swiglu_cpu(const Tensor& x, Tensor& out) {
  IA_CHECK(x.dtype() == DType::F32 && x.is_contiguous(), "cpu swiglu: x {}", x.describe());
  IA_CHECK(out.dtype() == DType::F32 || out.dtype() == DType::BF16, "cpu swiglu: out {}", out.describe());
  const int64_t I = out.size(-1), rows = I ? out.numel() / I : 0;
  const float* xp = x.data<float>();
  const Kernels& k = kernels();
  if (out.dtype() == DType::BF16) {
    uint16_t* o = out.data<uint16_t>();
    parallel_for(rows, grain_rows(2 * I), [&](int64_t r0, int64_t r1) {
      thread_local std::vector<float> row;
      if (row.size() < static_cast<size_t>(I)) row.resize(static_cast<size_t>(I));
      for (int64_t r = r0; r < r1; ++r) {
        k.swiglu(xp + r * 2 * I, xp + r * 2 * I + I, row.data(), I);
        k.f32_to_bf16(row.data(), o + r * I, I);
      }
    });
    return;
  }
  float* o = out.data<float>();
  parallel_for(rows, grain_rows(2 * I), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) k.swiglu(xp + r * 2 * I, xp + r * 2 * I + I, o + r * I, I);
  });
}

void kv_cache_write_cpu(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& k_cache, Tensor& v_cache) {
  IA_CHECK(k.strides()[2] == 1 && v.strides()[2] == 1, "cpu kv_cache_write: k/v must be contiguous in the head dim");
  const int64_t T = k.size(0), H = k.size(1), D = k.size(2);
  const int64_t num_slots = k_cache.size(0) * k_cache.size(1);
  float* kc = k_cache.data<float>();
  float* vc = v_cache.data<float>();
  for (int64_t t = 0; t < T; ++t) {
    const int64_t slot = index_at(slots, t);
    IA_CHECK(slot >= 0 && slot < num_slots, "cpu kv_cache_write: slot {} outside the cache of {} slots", slot,
             num_slots);
    for (int64_t h = 0; h < H; ++h) {
      std::memcpy(kc + (slot * H + h) * D, k.data<float>() + t * k.strides()[0] + h * k.strides()[1],
                  static_cast<size_t>(D) * 4);
      std::memcpy(vc + (slot * H + h) * D, v.data<float>() + t * v.strides()[0] + h * v.strides()[1],
                  static_cast<size_t>(D) * 4);
    }
  }
}

void paged_attention_cpu(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables,
                         const Tensor& seq_lens, const Tensor& query_start, const PagedAttentionParams& params,
                         Tensor& out) {
  IA_CHECK(q.strides()[2] == 1, "cpu paged_attention: q must be contiguous in the head dim");
  const int64_t T = q.size(0), Hq = q.size(1), D = q.size(2);
  const int64_t bs = k_cache.size(1), Hkv = k_cache.size(2), nblocks = k_cache.size(0);
  const int64_t S = seq_lens.size(0), max_blocks = block_tables.size(1);
  const int64_t G = Hq / Hkv;
  if (T == 0) return;
  // Per query row: its sequence and position.
  std::vector<int64_t> row_seq(static_cast<size_t>(T), -1), row_pos(static_cast<size_t>(T), 0);
  for (int64_t s = 0; s < S; ++s) {
    const int64_t b = index_at(query_start, s), e = index_at(query_start, s + 1), len = index_at(seq_lens, s);
    IA_CHECK(0 <= b && b <= e && e <= T && e - b <= len && len <= max_blocks * bs,
             "cpu paged_attention: sequence {} rows [{}, {}) with {} cached tokens (table of {} blocks)", s, b, e, len,
             max_blocks);
    for (int64_t t = b; t < e; ++t) {
      row_seq[static_cast<size_t>(t)] = s;
      row_pos[static_cast<size_t>(t)] = len - (e - t);
    }
  }
  const int32_t* bt = block_tables.data<int32_t>();
  const int64_t bt_stride = block_tables.strides()[0];
  const float* qp = q.data<float>();
  const float* kc = k_cache.data<float>();
  const float* vc = v_cache.data<float>();
  float* o = out.data<float>();
  const Kernels& kern = kernels();
  // Sequences with many new rows (prefill) go through GEMMs; their rows leave the per-row loop.
  for (int64_t s = 0; s < S; ++s) {
    const int64_t b = index_at(query_start, s), e = index_at(query_start, s + 1), len = index_at(seq_lens, s);
    if (e - b < kPrefillAttentionMinRows || !k_cache.is_contiguous() || !v_cache.is_contiguous()) continue;
    for (int64_t i = 0; i < (len + bs - 1) / bs; ++i) {
      const int64_t blk = bt[s * bt_stride + i];
      IA_CHECK(blk >= 0 && blk < nblocks, "cpu paged_attention: block {} outside the cache of {} blocks", blk, nblocks);
    }
    PrefillAttentionArgs a;
    a.q = qp + b * q.strides()[0];
    a.q_row_stride = q.strides()[0];
    a.q_head_stride = q.strides()[1];
    a.rows = e - b;
    a.len = len;
    a.k_cache = kc;
    a.v_cache = vc;
    a.block_table = bt + s * bt_stride;
    a.block_size = bs;
    a.num_heads = Hq;
    a.num_kv_heads = Hkv;
    a.head_dim = D;
    a.window = params.window;
    a.scale = params.scale;
    a.bf16_products = params.bf16_products;
    a.out = o + b * Hq * D;
    prefill_attention_cpu(a);
    for (int64_t t = b; t < e; ++t) row_seq[static_cast<size_t>(t)] = -2;
  }
  parallel_for(T * Hkv, 1, [&](int64_t w0, int64_t w1) {
    std::vector<float> sc;
    std::vector<int64_t> kv_rows;  // element offsets of the visible keys/values
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t t = w / Hkv, hk = w % Hkv;
      const int64_t s = row_seq[static_cast<size_t>(t)];
      float* orow = o + (t * Hq + hk * G) * D;
      if (s == -2) continue;  // done by prefill_attention_cpu
      if (s < 0) {            // a row no sequence owns: defined output anyway
        std::fill(orow, orow + G * D, 0.0f);
        continue;
      }
      const int64_t p = row_pos[static_cast<size_t>(t)];
      const int64_t lo = params.window > 0 ? std::max<int64_t>(0, p - params.window + 1) : 0;
      const int64_t n = p - lo + 1;
      kv_rows.resize(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) {
        const int64_t pos = lo + j;
        const int64_t blk = bt[s * bt_stride + pos / bs];
        IA_CHECK(blk >= 0 && blk < nblocks, "cpu paged_attention: block {} outside the cache of {} blocks", blk,
                 nblocks);
        kv_rows[static_cast<size_t>(j)] = ((blk * bs + pos % bs) * Hkv + hk) * D;
      }
      sc.resize(static_cast<size_t>(G * n));
      for (int64_t j = 0; j < n; ++j) {
        const float* kr = kc + kv_rows[static_cast<size_t>(j)];
        for (int64_t g = 0; g < G; ++g)
          sc[static_cast<size_t>(g * n + j)] = kern.dot(qp + t * q.strides()[0] + (hk * G + g) * q.strides()[1], kr, D);
      }
      for (int64_t g = 0; g < G; ++g)
        kern.attn_softmax(sc.data() + g * n, sc.data() + g * n, n, n, nullptr, params.scale);
      std::fill(orow, orow + G * D, 0.0f);
      for (int64_t j = 0; j < n; ++j) {
        const float* vr = vc + kv_rows[static_cast<size_t>(j)];
        for (int64_t g = 0; g < G; ++g) kern.axpy(sc[static_cast<size_t>(g * n + j)], vr, orow + g * D, D);
      }
    }
  });
}

}  // namespace ia::cpu
