// Attention: padded batches with a key mask (oneDNN batched GEMMs), packed sequences without a
// cache (GEMM tasks), and the decoder's paged KV cache (write, then attention: GEMM tasks for
// prefill rows, a per-row loop for decode).
#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/cpu/attention_tasks.h"
#include "backends/cpu/cpu_common.h"
#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/dnnl_gemm.h"
#include "backends/cpu/kernels.h"
#include "core/error.h"
#include "core/kv_quantization.h"
#include "core/thread_pool.h"

namespace ia::cpu {

using dt = dnnl::memory::data_type;

void attention_cpu(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* key_mask,
                   const AttentionParams& params, Tensor& out) {
  check_f32(q, "attention", "q");
  check_f32(k, "attention", "k");
  check_f32(v, "attention", "v");
  check_contig(out, "attention", "out");
  IA_CHECK(q.strides()[3] == 1 && k.strides()[3] == 1 && v.strides()[3] == 1,
           "cpu attention: q, k, v must be contiguous in the head dim");
  const int64_t B = q.size(0), Sq = q.size(1), H = q.size(2), D = q.size(3), Sk = k.size(1);
  if (B == 0 || Sq == 0 || H == 0 || D == 0) return;
  float* o = out.data<float>();
  if (Sk == 0) {
    std::memset(o, 0, out.nbytes());
    return;
  }
  // keep[b, j]: 1 where key j of batch b may be attended to.
  std::vector<uint8_t> keep;
  if (key_mask) {
    keep.resize(static_cast<size_t>(B * Sk));
    const void* mp = key_mask->raw();
    const DType mt = key_mask->dtype();
    const Shape& ms = key_mask->strides();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < Sk; ++j)
        keep[static_cast<size_t>(b * Sk + j)] = load_scalar(mp, mt, b * ms[0] + j * ms[1]) != 0;
  }
  const Shape &qs = q.strides(), &ks = k.strides(), &vs = v.strides();
  // Work in steps whose score block stays cache-sized (~2 MiB): several
  // batches per step for short sequences; for long ones, a block of heads
  // and, when even one head is too large, a block of query rows.
  constexpr int64_t kScoreBudget = 512 * 1024;  // floats
  const int64_t per_b = H * Sq * Sk;
  int64_t nb = 1, nh = H, nq = Sq;
  if (per_b <= kScoreBudget) {
    nb = std::clamp<int64_t>(kScoreBudget / per_b, 1, B);
  } else {
    nh = std::clamp<int64_t>(kScoreBudget / (Sq * Sk), 1, H);
    if (nh == 1) nq = std::clamp<int64_t>(kScoreBudget / Sk, 1, Sq);
  }
  thread_local std::vector<float> scores;
  const size_t need = static_cast<size_t>(nb * nh * nq * Sk);
  if (scores.size() < need) scores.resize(need);
  float* sp = scores.data();
  const Kernels& kern = kernels();
  const float scale = params.scale;
  for (int64_t b0 = 0; b0 < B; b0 += nb) {
    const int64_t n = std::min(nb, B - b0);
    for (int64_t h0 = 0; h0 < H; h0 += nh) {
      const int64_t hn = std::min(nh, H - h0);
      for (int64_t i0 = 0; i0 < Sq; i0 += nq) {
        const int64_t qn = std::min(nq, Sq - i0);
        const float* qp = q.data<float>() + b0 * qs[0] + i0 * qs[1] + h0 * qs[2];
        const float* kp = k.data<float>() + b0 * ks[0] + h0 * ks[2];
        const float* vp = v.data<float>() + b0 * vs[0] + h0 * vs[2];
        const int64_t sb = hn * qn * Sk, sh = qn * Sk;  // score strides per batch / head
        // scores[b, h, i, j] = q[b, i, h, :] . k[b, j, h, :]
        dnnl_matmul(mat_desc(dt::f32, {n, hn, qn, D}, {qs[0], qs[2], qs[1], 1}), qp,
                    mat_desc(dt::f32, {n, hn, D, Sk}, {ks[0], ks[2], 1, ks[1]}), kp, nullptr,
                    mat_desc(dt::f32, {n, hn, qn, Sk}, {sb, sh, Sk, 1}), sp);
        parallel_for(n * hn * qn, row_grain(Sk), [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            const int64_t b = r / (hn * qn), i = i0 + r % qn;
            const uint8_t* kb = key_mask ? keep.data() + (b0 + b) * Sk : nullptr;
            const int64_t limit = params.causal ? i + (Sk - Sq) + 1 : Sk;
            kern.attn_softmax(sp + r * Sk, sp + r * Sk, Sk, std::max<int64_t>(limit, 0), kb, scale);
          }
        });
        // out[b, i, h, :] = sum_j p[b, h, i, j] v[b, j, h, :]
        dnnl_matmul(mat_desc(dt::f32, {n, hn, qn, Sk}, {sb, sh, Sk, 1}), sp,
                    mat_desc(dt::f32, {n, hn, Sk, D}, {vs[0], vs[2], vs[1], 1}), vp, nullptr,
                    mat_desc(dt::f32, {n, hn, qn, D}, {Sq * H * D, D, H * D, 1}), o + ((b0 * Sq + i0) * H + h0) * D);
      }
    }
  }
}

void kv_cache_write_cpu(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& k_cache, Tensor& v_cache) {
  IA_CHECK(k.strides()[2] == 1 && v.strides()[2] == 1, "cpu kv_cache_write: k/v must be contiguous in the head dim");
  const int64_t T = k.size(0), H = k.size(1), D = k.size(2);
  const int64_t num_slots = k_cache.size(0) * k_cache.size(1);
  // An int8 cache quantizes each (token, head) row as it is written (core/kv_quantization.h).
  const bool q8 = k_cache.dtype() == DType::Q8Kv;
  const int64_t row = k_cache.size(3);  // elements of a cache row: D floats, or D + 4 bytes
  for (int64_t t = 0; t < T; ++t) {
    const int64_t slot = index_at(slots, t);
    IA_CHECK(slot >= 0 && slot < num_slots, "cpu kv_cache_write: slot {} outside the cache of {} slots", slot,
             num_slots);
    for (int64_t h = 0; h < H; ++h) {
      const float* kr = k.data<float>() + t * k.strides()[0] + h * k.strides()[1];
      const float* vr = v.data<float>() + t * v.strides()[0] + h * v.strides()[1];
      const int64_t at = (slot * H + h) * row;
      if (q8) {
        quantize_kv_row(kr, D, k_cache.data<uint8_t>() + at);
        quantize_kv_row(vr, D, v_cache.data<uint8_t>() + at);
      } else {
        std::memcpy(k_cache.data<float>() + at, kr, static_cast<size_t>(D) * 4);
        std::memcpy(v_cache.data<float>() + at, vr, static_cast<size_t>(D) * 4);
      }
    }
  }
}

namespace {

// What the paged and the packed attention share in a run of attention tasks: q [T, Hq, D]
// (rows and heads strided), the output rows, the heads and how the products run.
AttentionTasksArgs task_args(const Tensor& q, float* out, int64_t kv_heads, bool causal, int64_t window, float scale,
                             bool bf16_products, const PositionBias& bias = {}) {
  AttentionTasksArgs a;
  if (bias.bias) {
    IA_CHECK(bias.bias->dtype() == DType::F32 && bias.bias->is_contiguous() && bias.bias->dim() == 2 &&
                 bias.bias->size(0) == q.size(1) && bias.bias->size(1) % 2 == 1,
             "cpu attention: position bias {} must be [{}, 2W + 1] f32", bias.bias->describe(), q.size(1));
    a.pos_bias = bias.bias->data<float>();
    a.pos_bias_w = bias.max_distance();
  }
  a.q = q.data<float>();
  a.q_row_stride = q.strides()[0];
  a.q_head_stride = q.strides()[1];
  a.out = out;
  a.num_heads = q.size(1);
  a.num_kv_heads = kv_heads;
  a.head_dim = q.size(2);
  a.causal = causal;
  a.window = window;
  a.scale = scale;
  a.bf16_products = bf16_products;
  return a;
}

}  // namespace

void paged_attention_cpu(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables,
                         const Tensor& seq_lens, const Tensor& query_start, const PagedAttentionParams& params,
                         Tensor& out) {
  IA_CHECK(q.strides()[2] == 1, "cpu paged_attention: q must be contiguous in the head dim");
  const int64_t T = q.size(0), Hq = q.size(1), D = q.size(2);
  const int64_t bs = k_cache.size(1), Hkv = k_cache.size(2), nblocks = k_cache.size(0);
  // An int8 cache (core/kv_quantization.h) holds rows of D quants and a scale, read as such.
  const bool q8 = k_cache.dtype() == DType::Q8Kv;
  const int64_t row = k_cache.size(3);  // elements of a cache row: D floats, or D + 4 bytes
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
  const float* kc = q8 ? nullptr : k_cache.data<float>();
  const float* vc = q8 ? nullptr : v_cache.data<float>();
  const uint8_t* kc8 = q8 ? k_cache.data<uint8_t>() : nullptr;
  const uint8_t* vc8 = q8 ? v_cache.data<uint8_t>() : nullptr;
  float* o = out.data<float>();
  const Kernels& kern = kernels();
  // Sequences with many new rows (prefill) go through GEMM tasks; their rows leave the per-row loop.
  AttentionTasksArgs a =
      task_args(q, o, Hkv, true, params.window, params.scale, params.bf16_products, params.position_bias);
  for (int64_t s = 0; s < S; ++s) {
    const int64_t b = index_at(query_start, s), e = index_at(query_start, s + 1), len = index_at(seq_lens, s);
    if (e - b < kPrefillAttentionMinRows || !k_cache.is_contiguous() || !v_cache.is_contiguous()) continue;
    for (int64_t i = 0; i < (len + bs - 1) / bs; ++i) {
      const int64_t blk = bt[s * bt_stride + i];
      IA_CHECK(blk >= 0 && blk < nblocks, "cpu paged_attention: block {} outside the cache of {} blocks", blk, nblocks);
    }
    AttentionSequence sq;
    sq.q_row = b;
    sq.rows = e - b;
    sq.len = len;
    sq.kv.k = kc;
    sq.kv.v = vc;
    sq.kv.k8 = kc8;
    sq.kv.v8 = vc8;
    sq.kv.k_row_stride = sq.kv.v_row_stride = Hkv * row;
    sq.kv.k_head_stride = sq.kv.v_head_stride = row;
    sq.kv.block_table = bt + s * bt_stride;
    sq.kv.block_size = bs;
    a.seqs.push_back(sq);
    for (int64_t t = b; t < e; ++t) row_seq[static_cast<size_t>(t)] = -2;
  }
  attention_tasks_cpu(a);
  parallel_for(T * Hkv, 1, [&](int64_t w0, int64_t w1) {
    std::vector<float> sc;
    std::vector<int64_t> kv_rows;  // element (int8 cache: byte) offsets of the visible keys/values
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t t = w / Hkv, hk = w % Hkv;
      const int64_t s = row_seq[static_cast<size_t>(t)];
      float* orow = o + (t * Hq + hk * G) * D;
      if (s == -2) continue;  // done by attention_tasks_cpu
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
        kv_rows[static_cast<size_t>(j)] = ((blk * bs + pos % bs) * Hkv + hk) * row;
      }
      sc.resize(static_cast<size_t>(G * n));
      for (int64_t j = 0; j < n; ++j) {
        const int64_t at = kv_rows[static_cast<size_t>(j)];
        for (int64_t g = 0; g < G; ++g) {
          const float* qr = qp + t * q.strides()[0] + (hk * G + g) * q.strides()[1];
          // int8: q . (s k8) = s (q . k8), the quants widened in registers.
          sc[static_cast<size_t>(g * n + j)] =
              q8 ? kern.dot_i8(qr, reinterpret_cast<const int8_t*>(kc8 + at), D) * kv_row_scale(kc8 + at, D)
                 : kern.dot(qr, kc + at, D);
        }
      }
      for (int64_t g = 0; g < G; ++g) softmax_scores_row(a, sc.data() + g * n, n, 0, n, lo, p, hk * G + g);
      std::fill(orow, orow + G * D, 0.0f);
      for (int64_t j = 0; j < n; ++j) {
        const int64_t at = kv_rows[static_cast<size_t>(j)];
        if (q8) {
          const float s = kv_row_scale(vc8 + at, D);
          const auto* vq = reinterpret_cast<const int8_t*>(vc8 + at);
          for (int64_t g = 0; g < G; ++g) kern.axpy_i8(sc[static_cast<size_t>(g * n + j)] * s, vq, orow + g * D, D);
        } else {
          for (int64_t g = 0; g < G; ++g) kern.axpy(sc[static_cast<size_t>(g * n + j)], vc + at, orow + g * D, D);
        }
      }
    }
  });
}

void varlen_attention_cpu(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& query_start,
                          const VarlenAttentionParams& params, Tensor& out) {
  check_f32(q, "varlen_attention", "q");
  check_f32(k, "varlen_attention", "k");
  check_f32(v, "varlen_attention", "v");
  check_contig(out, "varlen_attention", "out");
  IA_CHECK(q.strides()[2] == 1 && k.strides()[2] == 1 && v.strides()[2] == 1,
           "cpu varlen_attention: q, k, v must be contiguous in the head dim");
  const int64_t T = q.size(0), Hq = q.size(1), D = q.size(2), Hkv = k.size(1), S = query_start.numel() - 1;
  float* o = out.data<float>();
  if (T == 0 || Hq == 0 || D == 0) return;
  AttentionTasksArgs a =
      task_args(q, o, Hkv, params.causal, params.window, params.scale, params.bf16_products, params.position_bias);
  int64_t covered = 0;  // rows of the sequences so far; the rest get zeros
  for (int64_t s = 0; s < S; ++s) {
    const int64_t b = index_at(query_start, s), e = index_at(query_start, s + 1);
    if (b < covered || e < b || e > T)
      fail(ErrorKind::InvalidArgument,
           "varlen_attention: query_start[{}..{}] = {}, {} is not an ascending range within the {} rows", s, s + 1, b,
           e, T);
    std::fill(o + covered * Hq * D, o + b * Hq * D, 0.0f);
    covered = e;
    if (e == b) continue;
    AttentionSequence sq;
    sq.q_row = b;
    sq.rows = sq.len = e - b;
    sq.kv.k = k.data<float>() + b * k.strides()[0];
    sq.kv.v = v.data<float>() + b * v.strides()[0];
    sq.kv.k_row_stride = k.strides()[0];
    sq.kv.k_head_stride = k.strides()[1];
    sq.kv.v_row_stride = v.strides()[0];
    sq.kv.v_head_stride = v.strides()[1];
    a.seqs.push_back(sq);
  }
  std::fill(o + covered * Hq * D, o + T * Hq * D, 0.0f);
  attention_tasks_cpu(a);
}

void cross_attention_cpu(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& query_start,
                         const Tensor& kv_ranges, const CrossAttentionParams& params, Tensor& out) {
  check_f32(q, "cross_attention", "q");
  check_f32(k, "cross_attention", "k");
  check_f32(v, "cross_attention", "v");
  check_contig(out, "cross_attention", "out");
  IA_CHECK(q.strides()[2] == 1 && k.strides()[2] == 1 && v.strides()[2] == 1,
           "cpu cross_attention: q, k, v must be contiguous in the head dim");
  const int64_t T = q.size(0), Hq = q.size(1), D = q.size(2), Hkv = k.size(1), Tk = k.size(0);
  const int64_t S = query_start.numel() - 1;
  float* o = out.data<float>();
  if (T == 0 || Hq == 0 || D == 0) return;
  // Non-causal tasks: each sequence's rows see all `len` keys of its range, wherever its rows lie.
  AttentionTasksArgs a = task_args(q, o, Hkv, false, 0, params.scale, params.bf16_products);
  int64_t covered = 0;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t b = index_at(query_start, s), e = index_at(query_start, s + 1);
    const int64_t k0 = load_index(kv_ranges.raw(), kv_ranges.dtype(), s * kv_ranges.strides()[0]);
    const int64_t k1 =
        load_index(kv_ranges.raw(), kv_ranges.dtype(), s * kv_ranges.strides()[0] + kv_ranges.strides()[1]);
    if (b < covered || e < b || e > T)
      fail(ErrorKind::InvalidArgument,
           "cross_attention: query_start[{}..{}] = {}, {} is not an ascending range within the {} rows", s, s + 1, b, e,
           T);
    if (k0 < 0 || k1 < k0 || k1 > Tk)
      fail(ErrorKind::InvalidArgument, "cross_attention: kv_ranges[{}] = [{}, {}) is not a range within the {} keys", s,
           k0, k1, Tk);
    std::fill(o + covered * Hq * D, o + e * Hq * D, 0.0f);  // rows before the sequence, and its own if no key
    covered = e;
    if (e == b || k1 == k0) continue;
    AttentionSequence sq;
    sq.q_row = b;
    sq.rows = e - b;
    sq.len = k1 - k0;
    sq.kv.k = k.data<float>() + k0 * k.strides()[0];
    sq.kv.v = v.data<float>() + k0 * v.strides()[0];
    sq.kv.k_row_stride = k.strides()[0];
    sq.kv.k_head_stride = k.strides()[1];
    sq.kv.v_row_stride = v.strides()[0];
    sq.kv.v_head_stride = v.strides()[1];
    a.seqs.push_back(sq);
  }
  std::fill(o + covered * Hq * D, o + T * Hq * D, 0.0f);
  attention_tasks_cpu(a);
}

}  // namespace ia::cpu
