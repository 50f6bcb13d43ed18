// The tensor-core attention kernel's index math (backends/cuda/attention_mma_layout.h) on the
// host: ldmatrix and mma.m16n8k16 are emulated here from the PTX ISA's definitions, fed through
// the kernel's own lane addresses and score-to-P mapping, and the products compared with plain
// loops; the online-softmax bookkeeping is run tile by tile against a direct softmax. A wrong
// lane formula shows up here as a wrong product, on a machine without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "backends/cuda/attention_mma_layout.h"
#include "core/dtype.h"

namespace ia::cuda::mma_layout {
namespace {

float bf16(float x) {
  return bf16_to_f32(f32_to_bf16(x));
}

// A lane's 32-bit register as its two 16-bit elements (low half first), kept as the f32 values
// of the bf16s.
using Reg = std::array<float, 2>;
using LaneRegs = std::array<std::array<Reg, 4>, 32>;  // [lane][register]

// A bf16 tile in shared memory: row major, `ld` elements a row.
struct Tile {
  int rows, cols, ld;
  std::vector<float> v;
  Tile(int r, int c) : rows(r), cols(c), ld(c + 8), v(static_cast<size_t>(r) * (c + 8), 0.0f) {}
  float& at(int r, int c) { return v[static_cast<size_t>(r) * ld + c]; }
  float at(int r, int c) const { return v[static_cast<size_t>(r) * ld + c]; }
};

// ldmatrix.sync.aligned.m8n8.x4{.trans}.shared.b16, from the PTX ISA: lanes 8j..8j+7 hold the
// addresses of rows 0..7 of matrix j (8 consecutive elements each); register j of lane l gets
// two elements of matrix j: (row l / 4, cols 2 (l % 4), 2 (l % 4) + 1), or with .trans
// (rows 2 (l % 4), 2 (l % 4) + 1, col l / 4). Addresses are given as (row, col) of the tile.
LaneRegs ldmatrix_x4(const Tile& t, const std::array<RowCol, 32>& address, bool trans) {
  LaneRegs out{};
  for (int l = 0; l < 32; ++l)
    for (int j = 0; j < 4; ++j)
      for (int e = 0; e < 2; ++e) {
        const int mrow = trans ? 2 * (l % 4) + e : l / 4, mcol = trans ? l / 4 : 2 * (l % 4) + e;
        const RowCol a = address[static_cast<size_t>(8 * j + mrow)];
        out[static_cast<size_t>(l)][static_cast<size_t>(j)][static_cast<size_t>(e)] = t.at(a.row, a.col + mcol);
      }
  return out;
}

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 d, a, b, d: the matrices rebuilt from the
// lanes' fragments with the PTX layouts (a_elem, b_elem, c_elem), multiplied, handed back.
// a: four registers a lane; b: two; d: four floats a lane.
void mma(std::array<std::array<float, 4>, 32>& d, const std::array<std::array<Reg, 4>, 32>& a,
         const std::array<std::array<Reg, 2>, 32>& b) {
  float A[16][16] = {}, B[16][8] = {}, D[16][8] = {};
  for (int l = 0; l < 32; ++l) {
    for (int i = 0; i < 8; ++i) {
      const RowCol p = a_elem(l, i);
      A[p.row][p.col] = a[static_cast<size_t>(l)][static_cast<size_t>(i / 2)][static_cast<size_t>(i % 2)];
    }
    for (int i = 0; i < 4; ++i) {
      const RowCol p = b_elem(l, i);
      B[p.row][p.col] = b[static_cast<size_t>(l)][static_cast<size_t>(i / 2)][static_cast<size_t>(i % 2)];
      const RowCol c = c_elem(l, i);
      D[c.row][c.col] = d[static_cast<size_t>(l)][static_cast<size_t>(i)];
    }
  }
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 8; ++c) {
      float acc = D[r][c];
      for (int k = 0; k < 16; ++k) acc += A[r][k] * B[k][c];
      D[r][c] = acc;
    }
  for (int l = 0; l < 32; ++l)
    for (int i = 0; i < 4; ++i) {
      const RowCol c = c_elem(l, i);
      d[static_cast<size_t>(l)][static_cast<size_t>(i)] = D[c.row][c.col];
    }
}

using Acc = std::array<std::array<float, 4>, 32>;  // one 16 x 8 accumulator, [lane][c_i]

TEST(AttentionMmaLayout, FragmentsCoverEachElementOnce) {
  std::set<std::pair<int, int>> a, b, c;
  for (int l = 0; l < 32; ++l) {
    for (int i = 0; i < 8; ++i) a.insert({a_elem(l, i).row, a_elem(l, i).col});
    for (int i = 0; i < 4; ++i) b.insert({b_elem(l, i).row, b_elem(l, i).col});
    for (int i = 0; i < 4; ++i) c.insert({c_elem(l, i).row, c_elem(l, i).col});
  }
  EXPECT_EQ(a.size(), 256u);  // 16 x 16
  EXPECT_EQ(b.size(), 128u);  // 16 x 8
  EXPECT_EQ(c.size(), 128u);
  for (auto [r, col] : a) EXPECT_TRUE(r < 16 && col < 16);
  for (auto [r, col] : b) EXPECT_TRUE(r < 16 && col < 8);
  for (auto [r, col] : c) EXPECT_TRUE(r < 16 && col < 8);
  // Every lane addresses a distinct row of the four 8x8 matrices of an x4 load.
  for (auto f : {q_lane_address, k_lane_address, v_lane_address}) {
    std::set<std::pair<int, int>> rows;
    for (int l = 0; l < 32; ++l) rows.insert({f(l).row, f(l).col});
    EXPECT_EQ(rows.size(), 32u);
  }
}

TEST(AttentionMmaLayout, LdmatrixElementsAreThePtxOnes) {
  Tile t(8, 8);
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 8; ++c) t.at(r, c) = static_cast<float>(r * 8 + c);
  std::array<RowCol, 32> address{};
  for (int l = 0; l < 32; ++l) address[static_cast<size_t>(l)] = {l % 8, 0};  // four copies of one matrix
  for (bool trans : {false, true}) {
    const LaneRegs regs = ldmatrix_x4(t, address, trans);
    for (int l = 0; l < 32; ++l)
      for (int e = 0; e < 2; ++e) {
        const RowCol p = ldsm_elem(l, e, trans);
        EXPECT_EQ(regs[static_cast<size_t>(l)][0][static_cast<size_t>(e)], t.at(p.row, p.col));
      }
  }
}

// S = Q K^T and O = P V for one warp (16 query rows) over one key tile, with the kernel's loops,
// addresses and P fragments, against plain loops.
void check_tile(int DC, int kBN, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  Tile q(16, DC), k(kBN, DC), v(kBN, DC);
  for (Tile* t : {&q, &k, &v})
    for (int r = 0; r < t->rows; ++r)
      for (int c = 0; c < DC; ++c) t->at(r, c) = bf16(u(gen));

  // S: n-blocks of 8 keys; per k-step kk one Q load (q_lane_address) and per pair of n-blocks one
  // K load (k_lane_address).
  std::vector<Acc> s(static_cast<size_t>(kBN / 8), Acc{});
  for (int kk = 0; kk < DC / 16; ++kk) {
    std::array<RowCol, 32> qa{};
    for (int l = 0; l < 32; ++l) qa[static_cast<size_t>(l)] = {q_lane_address(l).row, q_lane_address(l).col + 16 * kk};
    const LaneRegs qf = ldmatrix_x4(q, qa, false);
    for (int nb = 0; nb < kBN / 8; nb += 2) {
      std::array<RowCol, 32> ka{};
      for (int l = 0; l < 32; ++l)
        ka[static_cast<size_t>(l)] = {k_lane_address(l).row + 8 * nb, k_lane_address(l).col + 16 * kk};
      const LaneRegs kf = ldmatrix_x4(k, ka, false);
      std::array<std::array<Reg, 2>, 32> b0{}, b1{};
      for (int l = 0; l < 32; ++l) {
        b0[static_cast<size_t>(l)] = {kf[static_cast<size_t>(l)][0], kf[static_cast<size_t>(l)][1]};
        b1[static_cast<size_t>(l)] = {kf[static_cast<size_t>(l)][2], kf[static_cast<size_t>(l)][3]};
      }
      mma(s[static_cast<size_t>(nb)], qf, b0);
      mma(s[static_cast<size_t>(nb) + 1], qf, b1);
    }
  }
  // Element i of n-block nb in lane l is row group + 8 (i >> 1), key 8 nb + 2 tig + (i & 1).
  std::vector<float> P(static_cast<size_t>(16 * kBN));
  for (int nb = 0; nb < kBN / 8; ++nb)
    for (int l = 0; l < 32; ++l)
      for (int i = 0; i < 4; ++i) {
        const int row = l / 4 + 8 * (i / 2), key = 8 * nb + 2 * (l % 4) + i % 2;
        double want = 0;
        for (int c = 0; c < DC; ++c) want += static_cast<double>(q.at(row, c)) * k.at(key, c);
        const float got = s[static_cast<size_t>(nb)][static_cast<size_t>(l)][static_cast<size_t>(i)];
        ASSERT_NEAR(got, want, 1e-4 * (1 + std::fabs(want))) << "S row " << row << " key " << key << " DC " << DC;
        // Some weights for P V: any values do; the kernel's are exp2 of the scaled scores.
        s[static_cast<size_t>(nb)][static_cast<size_t>(l)][static_cast<size_t>(i)] = got / 16.0f;
        P[static_cast<size_t>(row * kBN + key)] = bf16(got / 16.0f);
      }

  // O = P V: P's A fragments straight from the score accumulators (p_source), V with .trans.
  std::vector<Acc> o(static_cast<size_t>(DC / 8), Acc{});
  for (int kk = 0; kk < kBN / 16; ++kk) {
    std::array<std::array<Reg, 4>, 32> pf{};
    for (int l = 0; l < 32; ++l)
      for (int r = 0; r < 4; ++r) {
        const RowCol src = p_source(r);
        const auto& acc = s[static_cast<size_t>(2 * kk + src.row)][static_cast<size_t>(l)];
        pf[static_cast<size_t>(l)][static_cast<size_t>(r)] = {bf16(acc[static_cast<size_t>(src.col)]),
                                                              bf16(acc[static_cast<size_t>(src.col) + 1])};
      }
    for (int nd = 0; nd < DC / 8; nd += 2) {
      std::array<RowCol, 32> va{};
      for (int l = 0; l < 32; ++l)
        va[static_cast<size_t>(l)] = {v_lane_address(l).row + 16 * kk, v_lane_address(l).col + 8 * nd};
      const LaneRegs vf = ldmatrix_x4(v, va, true);
      std::array<std::array<Reg, 2>, 32> b0{}, b1{};
      for (int l = 0; l < 32; ++l) {
        b0[static_cast<size_t>(l)] = {vf[static_cast<size_t>(l)][0], vf[static_cast<size_t>(l)][1]};
        b1[static_cast<size_t>(l)] = {vf[static_cast<size_t>(l)][2], vf[static_cast<size_t>(l)][3]};
      }
      mma(o[static_cast<size_t>(nd)], pf, b0);
      mma(o[static_cast<size_t>(nd) + 1], pf, b1);
    }
  }
  for (int nd = 0; nd < DC / 8; ++nd)
    for (int l = 0; l < 32; ++l)
      for (int i = 0; i < 4; ++i) {
        const int row = l / 4 + 8 * (i / 2), dim = 8 * nd + 2 * (l % 4) + i % 2;
        double want = 0;
        for (int key = 0; key < kBN; ++key)
          want += static_cast<double>(P[static_cast<size_t>(row * kBN + key)]) * v.at(key, dim);
        ASSERT_NEAR(o[static_cast<size_t>(nd)][static_cast<size_t>(l)][static_cast<size_t>(i)], want,
                    1e-4 * (1 + std::fabs(want)))
            << "O row " << row << " dim " << dim << " DC " << DC;
      }
}

TEST(AttentionMmaLayout, TileProductsThroughTheKernelsFragments) {
  // The kernel's (head dim, keys per tile) instances.
  const std::pair<int, int> cfgs[] = {{32, 64}, {64, 64}, {80, 64}, {96, 64}, {128, 32}};
  uint64_t seed = 1;
  for (auto [dc, bn] : cfgs) check_tile(dc, bn, seed++);
}

// One row streamed over tiles as the kernel does (max over the tile, softmax_step, weights, the
// running sum and output rescaled by alpha), against a direct softmax in double.
TEST(AttentionMmaLayout, OnlineSoftmaxMatchesDirectSoftmax) {
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<float> u(-8.0f, 8.0f);
  const float ninf = -std::numeric_limits<float>::infinity();
  constexpr int kTile = 16, kTiles = 5, kDim = 3;
  for (int pattern = 0; pattern < 4; ++pattern) {
    // 0: every key seen; 1: the first two tiles masked (a window); 2: scattered masked keys and a
    // fully masked last tile; 3: nothing seen (the row's output is 0, not NaN).
    std::vector<float> x(kTile * kTiles);
    std::vector<std::array<float, kDim>> val(x.size());
    for (size_t j = 0; j < x.size(); ++j) {
      x[j] = u(gen);
      for (float& e : val[j]) e = u(gen);
      const bool masked = pattern == 3 || (pattern == 1 && j < 2 * kTile) ||
                          (pattern == 2 && (j % 3 == 1 || j >= static_cast<size_t>(kTile * (kTiles - 1))));
      if (masked) x[j] = ninf;
    }
    float m = neg_infinity(), l = 0.0f;
    std::array<float, kDim> o{};
    for (int t = 0; t < kTiles; ++t) {
      float mx = neg_infinity();
      for (int j = 0; j < kTile; ++j) mx = std::fmax(mx, x[static_cast<size_t>(t * kTile + j)]);
      const SoftmaxStep step = softmax_step(m, mx);
      float sum = 0.0f;
      for (float& e : o) e *= step.alpha;
      for (int j = 0; j < kTile; ++j) {
        const size_t k = static_cast<size_t>(t * kTile + j);
        const float p = softmax_weight(x[k], step);
        ASSERT_FALSE(std::isnan(p));
        sum += p;
        for (int d = 0; d < kDim; ++d) o[static_cast<size_t>(d)] += p * val[k][static_cast<size_t>(d)];
      }
      l = l * step.alpha + sum;
      m = step.m;
    }
    double mx = -INFINITY, total = 0;
    for (float e : x) mx = std::max(mx, static_cast<double>(e));
    std::array<double, kDim> want{};
    if (mx > -INFINITY) {
      for (size_t j = 0; j < x.size(); ++j) {
        const double w = std::exp2(static_cast<double>(x[j]) - mx);  // scores in the log2 domain
        total += w;
        for (int d = 0; d < kDim; ++d) want[static_cast<size_t>(d)] += w * val[j][static_cast<size_t>(d)];
      }
    }
    for (int d = 0; d < kDim; ++d) {
      const double got = l > 0.0f ? o[static_cast<size_t>(d)] / l : 0.0;
      const double ref = total > 0 ? want[static_cast<size_t>(d)] / total : 0.0;
      EXPECT_NEAR(got, ref, 1e-5 * (1 + std::fabs(ref))) << "pattern " << pattern << " dim " << d;
    }
    if (pattern == 3) {
      EXPECT_EQ(l, 0.0f);
    }
  }
}

}  // namespace
}  // namespace ia::cuda::mma_layout
