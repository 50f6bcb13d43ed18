#include "backends/cpu/attention_tasks.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "backends/cpu/kernels.h"
#include "core/dtype.h"
#include "core/kv_quantization.h"
#include "core/thread_pool.h"

namespace ia::cpu {
namespace {

constexpr int64_t kBlockRows = 64;

template <class T>
T* grown(std::vector<T>& v, int64_t n) {
  if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  return v.data();
}

// Up to 64 query rows of one sequence, and the keys any of them sees: [kbeg, kend).
struct QueryBlock {
  int64_t seq = 0, i0 = 0, rows = 0, kbeg = 0, kend = 0;
};

// Positions are gathered in tiles of this many: a tile of K rows is read while it sits in L1, and
// each cache line of a transposed buffer is written by one thread.
constexpr int64_t kGatherTile = 16;

// Calls fn(s, p0, p1) for tiles [p0, p1) of the positions 0 .. positions[s] - 1 of every
// sequence s, in parallel.
template <class Fn>
void for_each_position_tile(const std::vector<int64_t>& positions, int64_t positions_per_chunk, const Fn& fn) {
  std::vector<std::pair<int64_t, int64_t>> tiles;  // (sequence, first position)
  for (size_t s = 0; s < positions.size(); ++s)
    for (int64_t p = 0; p < positions[s]; p += kGatherTile) tiles.emplace_back(static_cast<int64_t>(s), p);
  parallel_for(static_cast<int64_t>(tiles.size()), std::max<int64_t>(1, positions_per_chunk / kGatherTile),
               [&](int64_t t0, int64_t t1) {
                 for (int64_t t = t0; t < t1; ++t) {
                   const auto [s, p0] = tiles[static_cast<size_t>(t)];
                   fn(s, p0, std::min(p0 + kGatherTile, positions[static_cast<size_t>(s)]));
                 }
               });
}

class AttentionTasks {
 public:
  explicit AttentionTasks(const AttentionTasksArgs& a)
      : a_(a), kern_(kernels()), Hq_(a.num_heads), Hkv_(a.num_kv_heads), D_(a.head_dim), G_(Hq_ / Hkv_) {
    const int64_t S = static_cast<int64_t>(a.seqs.size());
    for (int64_t s = 0; s < S; ++s) {
      const AttentionSequence& sq = a.seqs[static_cast<size_t>(s)];
      const int64_t p0 = sq.len - sq.rows;
      for (int64_t i0 = 0; i0 < sq.rows; i0 += kBlockRows) {
        QueryBlock b;
        b.seq = s, b.i0 = i0, b.rows = std::min(kBlockRows, sq.rows - i0);
        b.kend = a.causal ? p0 + i0 + b.rows : sq.len;
        b.kbeg = a.causal && a.window > 0 ? std::max<int64_t>(0, p0 + i0 - a.window + 1) : 0;
        blocks_.push_back(b);
      }
    }
    // Costlier blocks first (more rows, more keys: a causal sequence's later blocks), as
    // parallel_tasks hands tasks out in index order.
    std::stable_sort(blocks_.begin(), blocks_.end(), [](const QueryBlock& x, const QueryBlock& y) {
      return x.rows * (x.kend - x.kbeg) > y.rows * (y.kend - y.kbeg);
    });
  }

  void run() {
    if (blocks_.empty() || D_ == 0) return;
    if (a_.bf16_products && D_ % 32 == 0 && kern_.attn_scores_bf16 && kern_.attn_values_bf16) {
      run_bf16_pairs();
    } else {
      run_f32();
    }
  }

 private:
  // f32 products (of bf16-rounded inputs when bf16_products): K of each sequence gathered
  // transposed per KV head [Hkv, D, len], so Q K^T reads whole rows of it; V read where it lies
  // when its rows are evenly strided and need no rounding, else gathered as [Hkv, len, D].
  void run_f32() {
    const bool round = a_.bf16_products;
    const bool gather_v = round || std::any_of(a_.seqs.begin(), a_.seqs.end(),
                                               [](const AttentionSequence& s) { return s.kv.block_table || s.kv.v8; });
    std::vector<int64_t> lens, offset;
    int64_t total = 0;
    for (const AttentionSequence& s : a_.seqs) {
      lens.push_back(s.rows > 0 ? s.len : 0);
      offset.push_back(total);
      total += lens.back() * Hkv_ * D_;
    }
    // Reused across calls: a fresh buffer of this size would page-fault its way in every layer.
    thread_local std::vector<float> kt_buf, vh_buf;
    float* kt = grown(kt_buf, total);
    float* vh = gather_v ? grown(vh_buf, total) : nullptr;
    for_each_position_tile(lens, std::max<int64_t>(1, 4096 / (Hkv_ * D_)), [&](int64_t s, int64_t p0, int64_t p1) {
      const AttentionSequence& sq = a_.seqs[static_cast<size_t>(s)];
      const int64_t len = sq.len;
      int64_t rows[kGatherTile];
      for (int64_t p = p0; p < p1; ++p) rows[p - p0] = sq.kv.row(p);
      float* kts = kt + offset[static_cast<size_t>(s)];
      thread_local std::vector<float> rounded_rows;
      for (int64_t h = 0; h < Hkv_; ++h) {
        // The tile's K rows of head h: where they lie, or dequantized / rounded into a small
        // buffer first.
        const float* src[kGatherTile];
        float* buf = round || sq.kv.k8 ? grown(rounded_rows, kGatherTile * D_) : nullptr;
        for (int64_t p = p0; p < p1; ++p)
          src[p - p0] = key_row(sq.kv, rows[p - p0], h, buf ? buf + (p - p0) * D_ : nullptr);
        if (round) {
          for (int64_t p = p0; p < p1; ++p) {
            round_to_bf16(src[p - p0], buf + (p - p0) * D_, D_);
            src[p - p0] = buf + (p - p0) * D_;
          }
        }
        kern_.transpose_rows(src, p1 - p0, D_, kts + h * D_ * len + p0, len);
        if (!gather_v) continue;
        for (int64_t p = p0; p < p1; ++p) {
          float* vd = vh + offset[static_cast<size_t>(s)] + (h * len + p) * D_;
          const float* vr = value_row(sq.kv, rows[p - p0], h, vd);
          if (vr == vd) {
            if (round) round_to_bf16(vd, vd, D_);
          } else if (round) {
            round_to_bf16(vr, vd, D_);
          } else {
            std::copy(vr, vr + D_, vd);
          }
        }
      }
    });
    parallel_tasks(static_cast<int64_t>(blocks_.size()) * Hq_, [&](int64_t task) {
      const QueryBlock& b = blocks_[static_cast<size_t>(task / Hq_)];
      const int64_t h = task % Hq_, hk = h / G_;
      const AttentionSequence& sq = a_.seqs[static_cast<size_t>(b.seq)];
      const int64_t nk = b.kend - b.kbeg, len = sq.len;
      thread_local std::vector<float> scores, q_rounded;
      float* sp = grown(scores, b.rows * nk);
      const float* qp = a_.q + (sq.q_row + b.i0) * a_.q_row_stride + h * a_.q_head_stride;
      int64_t ldq = a_.q_row_stride;
      if (round) {
        float* qr = grown(q_rounded, b.rows * D_);
        for (int64_t i = 0; i < b.rows; ++i) round_to_bf16(qp + i * ldq, qr + i * D_, D_);
        qp = qr, ldq = D_;
      }
      // scores[i, j] = q[i0 + i, h, :] . k[kbeg + j, hk, :]
      kern_.sgemm(b.rows, nk, D_, qp, ldq, kt + offset[static_cast<size_t>(b.seq)] + hk * D_ * len + b.kbeg, len, sp,
                  nk);
      softmax_rows(b, h, sp, nk, b.kbeg);
      if (round) round_to_bf16(sp, sp, b.rows * nk);
      // out[i0 + i, h, :] = sum_j p[i, j] v[kbeg + j, hk, :]
      const float* vp = gather_v ? vh + offset[static_cast<size_t>(b.seq)] + (hk * len + b.kbeg) * D_
                                 : sq.kv.v + b.kbeg * sq.kv.v_row_stride + hk * sq.kv.v_head_stride;
      const int64_t ldv = gather_v ? D_ : sq.kv.v_row_stride;
      kern_.sgemm(b.rows, D_, nk, sp, nk, vp, ldv, a_.out + ((sq.q_row + b.i0) * Hq_ + h) * D_, Hq_ * D_);
    });
  }

  // Both products on bf16 pairs (AMX tiles, or vdpbf16ps): K and V of each sequence gathered
  // as pairs (K along d, V along keys), keys padded to a multiple of 32 with zeros; query
  // blocks padded to 64 rows.
  void run_bf16_pairs() {
    std::vector<int64_t> padded, offset;
    int64_t total = 0;
    for (const AttentionSequence& s : a_.seqs) {
      padded.push_back(s.rows > 0 ? (s.len + 31) / 32 * 32 : 0);
      offset.push_back(total);
      total += padded.back() * Hkv_ * D_;
    }
    thread_local std::vector<uint16_t> kp_buf, vp_buf;
    uint16_t* kp = grown(kp_buf, total);
    uint16_t* vp = grown(vp_buf, total);
    for_each_position_tile(padded, std::max<int64_t>(1, 4096 / (Hkv_ * D_)), [&](int64_t s, int64_t p0, int64_t p1) {
      const AttentionSequence& sq = a_.seqs[static_cast<size_t>(s)];
      const int64_t len_pad = padded[static_cast<size_t>(s)];
      uint16_t* kps = kp + offset[static_cast<size_t>(s)];
      uint16_t* vps = vp + offset[static_cast<size_t>(s)];
      // Tiles hold 16 positions of a padded length (a multiple of 32): whole position pairs.
      const int64_t m = p1 - p0;
      thread_local std::vector<uint16_t> k16_buf;
      thread_local std::vector<float> zeros, k_rows, v_rows;  // int8 rows dequantized
      uint16_t* k16 = grown(k16_buf, kGatherTile * D_);
      float* kf = sq.kv.k8 ? grown(k_rows, kGatherTile * D_) : nullptr;
      float* vf = sq.kv.v8 ? grown(v_rows, kGatherTile * D_) : nullptr;
      if (static_cast<int64_t>(zeros.size()) < D_) zeros.assign(static_cast<size_t>(D_), 0.0f);
      int64_t rows[kGatherTile];
      for (int64_t p = p0; p < p1; ++p) rows[p - p0] = p < sq.len ? sq.kv.row(p) : -1;
      for (int64_t h = 0; h < Hkv_; ++h) {
        // Padding keys are zeros: their probabilities are 0, and 0 * garbage could be NaN.
        const float* kr[kGatherTile];
        const float* vr[kGatherTile];
        for (int64_t i = 0; i < m; ++i) {
          kr[i] = rows[i] < 0 ? zeros.data() : key_row(sq.kv, rows[i], h, kf ? kf + i * D_ : nullptr);
          vr[i] = rows[i] < 0 ? zeros.data() : value_row(sq.kv, rows[i], h, vf ? vf + i * D_ : nullptr);
        }
        // K: each row to bf16, then its 32-bit d-pairs transposed to [D / 2, positions].
        const float* pairs[kGatherTile];
        for (int64_t i = 0; i < m; ++i) {
          kern_.f32_to_bf16(kr[i], k16 + i * D_, D_);
          pairs[i] = reinterpret_cast<const float*>(k16 + i * D_);
        }
        kern_.transpose_rows(pairs, m, D_ / 2, reinterpret_cast<float*>(kps + (h * (D_ / 2) * len_pad + p0) * 2),
                             len_pad);
        // V: the rows of each position pair interleaved.
        for (int64_t i = 0; i + 1 < m; i += 2)
          kern_.interleave_bf16(vr[i], vr[i + 1], vps + (h * (len_pad / 2) + (p0 + i) / 2) * D_ * 2, D_);
      }
    });
    parallel_tasks(static_cast<int64_t>(blocks_.size()) * Hq_, [&](int64_t task) {
      const QueryBlock& b = blocks_[static_cast<size_t>(task / Hq_)];
      const int64_t h = task % Hq_, hk = h / G_;
      const AttentionSequence& sq = a_.seqs[static_cast<size_t>(b.seq)];
      const int64_t len_pad = padded[static_cast<size_t>(b.seq)];
      // Keys from a whole 32-key step (keys before the window get p = 0), to a multiple of 32.
      const int64_t kbeg = b.kbeg / 32 * 32, nk = (b.kend - kbeg + 31) / 32 * 32;
      thread_local std::vector<uint16_t> q16, p16;
      thread_local std::vector<float> sc, ob;
      uint16_t* qt = grown(q16, kBlockRows * D_);
      uint16_t* pt = grown(p16, kBlockRows * nk);
      float* sp = grown(sc, kBlockRows * nk);
      float* op = grown(ob, kBlockRows * D_);
      // Rows qb..63 of a short block pad the tiles: zeros (rows below qb are written in full).
      std::fill(qt + b.rows * D_, qt + kBlockRows * D_, uint16_t{0});
      std::fill(pt + b.rows * nk, pt + kBlockRows * nk, uint16_t{0});
      for (int64_t i = 0; i < b.rows; ++i)
        kern_.f32_to_bf16(a_.q + (sq.q_row + b.i0 + i) * a_.q_row_stride + h * a_.q_head_stride, qt + i * D_, D_);
      const uint16_t* kps = kp + offset[static_cast<size_t>(b.seq)];
      const uint16_t* vps = vp + offset[static_cast<size_t>(b.seq)];
      kern_.attn_scores_bf16(qt, D_, kps + (hk * (D_ / 2) * len_pad + kbeg) * 2, 2 * len_pad, nk, sp, nk);
      softmax_rows(b, h, sp, nk, kbeg);
      for (int64_t i = 0; i < b.rows; ++i) kern_.f32_to_bf16(sp + i * nk, pt + i * nk, nk);
      kern_.attn_values_bf16(pt, nk, vps + (hk * (len_pad / 2) + kbeg / 2) * D_ * 2, D_, op);
      for (int64_t i = 0; i < b.rows; ++i)
        std::copy(op + i * D_, op + (i + 1) * D_, a_.out + ((sq.q_row + b.i0 + i) * Hq_ + h) * D_);
    });
  }

  void round_to_bf16(const float* x, float* y, int64_t n) const { kern_.round_bf16(x, y, n); }

  // The K (V) row of cache row r, head h as floats: where it lies, or an int8 row dequantized
  // into buf (D floats).
  const float* key_row(const KvRows& kv, int64_t r, int64_t h, float* buf) const {
    if (!kv.k8) return kv.k + r * kv.k_row_stride + h * kv.k_head_stride;
    return dequantized(kv.k8 + r * kv.k_row_stride + h * kv.k_head_stride, buf);
  }
  const float* value_row(const KvRows& kv, int64_t r, int64_t h, float* buf) const {
    if (!kv.v8) return kv.v + r * kv.v_row_stride + h * kv.v_head_stride;
    return dequantized(kv.v8 + r * kv.v_row_stride + h * kv.v_head_stride, buf);
  }
  const float* dequantized(const uint8_t* row, float* buf) const {
    kern_.dequantize_i8(reinterpret_cast<const int8_t*>(row), kv_row_scale(row, D_), buf, D_);
    return buf;
  }

  // Scores [rows, nk] of keys kbeg.. of head h into probabilities, in place: per row, the keys it
  // sees (causal end, window start, or all of the sequence), zeros elsewhere.
  void softmax_rows(const QueryBlock& b, int64_t h, float* sp, int64_t nk, int64_t kbeg) const {
    const AttentionSequence& sq = a_.seqs[static_cast<size_t>(b.seq)];
    const int64_t p0 = sq.len - sq.rows;
    for (int64_t i = 0; i < b.rows; ++i) {
      const int64_t p = p0 + b.i0 + i;
      const int64_t lo = a_.causal && a_.window > 0 ? std::max<int64_t>(0, p - a_.window + 1) : 0;
      const int64_t limit = (a_.causal ? p + 1 : sq.len) - kbeg;
      softmax_scores_row(a_, sp + i * nk, nk, lo - kbeg, limit, kbeg, p, h);
    }
  }

  const AttentionTasksArgs& a_;
  const Kernels& kern_;
  const int64_t Hq_, Hkv_, D_, G_;
  std::vector<QueryBlock> blocks_;
};

}  // namespace

void softmax_scores_row(const AttentionTasksArgs& a, float* row, int64_t n, int64_t lo, int64_t limit, int64_t kbeg,
                        int64_t p, int64_t h) {
  const Kernels& k = kernels();
  std::fill(row, row + lo, 0.0f);
  float scale = a.scale;
  if (a.pos_bias) {
    // Scaled and biased in place (the softmax then scales by 1), as scores + position_bias.
    const int64_t W = a.pos_bias_w;
    const float* bh = a.pos_bias + h * (2 * W + 1) + W;
    const int64_t end = std::min(limit, n);
    for (int64_t j = lo; j < end; ++j) row[j] = row[j] * a.scale + bh[std::clamp(kbeg + j - p, -W, W)];
    scale = 1.0f;
  }
  k.attn_softmax(row + lo, row + lo, n - lo, limit - lo, nullptr, scale);
}

void attention_tasks_cpu(const AttentionTasksArgs& a) {
  if (a.num_heads <= 0 || a.num_kv_heads <= 0) return;
  AttentionTasks(a).run();
}

}  // namespace ia::cpu
