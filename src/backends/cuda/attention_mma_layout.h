#pragma once
// The index math of the tensor-core attention kernel (attention_mma_kernels.cu) as plain
// functions: which element of an mma.m16n8k16 fragment or ldmatrix result a lane holds (from the
// PTX ISA), which shared-memory row each lane addresses for ldmatrix, how the scores' accumulator
// fragments become the A fragments of P V, and the online-softmax bookkeeping of one row. Host
// and device alike, so tests/unit/ops/attention_mma_layout_test.cpp checks the kernel's own
// formulas against an emulation of the instructions on a machine without a GPU.
#include <cmath>

#if defined(__CUDACC__)
#define IA_MMA_HD __host__ __device__ __forceinline__
#else
#define IA_MMA_HD inline
#endif

namespace ia::cuda::mma_layout {

struct RowCol {
  int row;
  int col;
};

// ---------------------------------------------------------------- PTX: what a lane holds
// PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type" (.bf16 inputs, .f32
// accumulators), with groupID = lane >> 2 and threadID_in_group = lane % 4.

// A (16 x 16, row major): elements a0..a7, two to a 32-bit register (a0 in the low half).
// a0 a1: row g, cols 2t, 2t+1; a2 a3: row g+8; a4 a5: row g, cols 2t+8, 2t+9; a6 a7: row g+8.
IA_MMA_HD constexpr RowCol a_elem(int lane, int i) {
  return {(lane >> 2) + ((i >> 1) & 1) * 8, (lane & 3) * 2 + (i & 1) + (i >> 2) * 8};
}

// B (16 x 8, k x n, "col": element (k, n) at n * ld + k): b0 b1 at k = 2t, 2t+1 and b2 b3 at
// k = 2t+8, 2t+9, all in column n = g. Returned as {k, n}.
IA_MMA_HD constexpr RowCol b_elem(int lane, int i) {
  return {(lane & 3) * 2 + (i & 1) + (i >> 1) * 8, lane >> 2};
}

// C and D (16 x 8 f32): c0 c1 at row g, cols 2t, 2t+1; c2 c3 at row g+8.
IA_MMA_HD constexpr RowCol c_elem(int lane, int i) {
  return {(lane >> 2) + (i >> 1) * 8, (lane & 3) * 2 + (i & 1)};
}

// ldmatrix.sync.aligned.m8n8.x4.shared.b16: lanes 8j .. 8j+7 give the addresses of rows 0..7 of
// matrix j (16 contiguous bytes each); register j of every lane receives two elements of matrix
// j, element e (0 low half, 1 high half) being, without .trans, row lane >> 2, col 2 (lane % 4) + e
// and, with .trans, row 2 (lane % 4) + e, col lane >> 2 (the fragment of the transpose).
IA_MMA_HD constexpr RowCol ldsm_elem(int lane, int e, bool trans) {
  return trans ? RowCol{(lane & 3) * 2 + e, lane >> 2} : RowCol{lane >> 2, (lane & 3) * 2 + e};
}

// ---------------------------------------------------------------- the kernel's choices
// Shared-memory tiles are row major bf16: Q [query row][dim], K and V [key][dim].

// Q as the A operand of S = Q K^T, one ldmatrix.x4 per 16 x 16 block (k-step kk adds 16 kk to
// the column): matrices (rows 0-7, cols 0-7), (rows 8-15, cols 0-7), (rows 0-7, cols 8-15),
// (rows 8-15, cols 8-15) land in the registers of a0a1, a2a3, a4a5, a6a7. Lane -> {row, col} of
// the 8 elements it addresses, relative to the block.
IA_MMA_HD constexpr RowCol q_lane_address(int lane) {
  return {(lane & 7) + ((lane >> 3) & 1) * 8, (lane >> 4) * 8};
}

// K as the "col" B operand of S = Q K^T (K row major [key][dim] is B = K^T column major): one
// ldmatrix.x4 gives the B fragments of two n-blocks (keys 8 nb .. 8 nb + 15) of one k-step:
// registers 0, 1 = b0b1, b2b3 of keys 8 nb..+7 (dims +0..7, +8..15), registers 2, 3 the same of
// keys 8 nb + 8 ..+15. Lane -> {key, dim} relative to (8 nb, 16 kk).
IA_MMA_HD constexpr RowCol k_lane_address(int lane) {
  return {(lane & 7) + (lane >> 4) * 8, ((lane >> 3) & 1) * 8};
}

// V as the B operand of O = P V (B = V, k = key, n = dim), read with ldmatrix.x4.trans: matrices
// (keys 0-7, dims 0-7), (keys 8-15, dims 0-7), (keys 0-7, dims 8-15), (keys 8-15, dims 8-15) of
// k-step kk and dim blocks 8 nd, 8 nd + 8 give b0b1, b2b3 of n-block nd, then of nd + 1.
// Lane -> {key, dim} relative to (16 kk, 8 nd).
IA_MMA_HD constexpr RowCol v_lane_address(int lane) {
  return {(lane & 7) + ((lane >> 3) & 1) * 8, (lane >> 4) * 8};
}

// P as the A operand of k-step kk of O = P V comes straight from the accumulators of S (no
// shared memory): A register j (a2j, a2j+1) = the pair {c[2 (j & 1)], c[2 (j & 1) + 1]} of the
// scores' n-block 2 kk + (j >> 1). Returned as {n-block offset, first c index}.
IA_MMA_HD constexpr RowCol p_source(int j) {
  return {j >> 1, 2 * (j & 1)};
}

// ---------------------------------------------------------------- online softmax of one row
// Scores are kept in the log2 domain (x = s * scale * log2 e) so each weight is one exp2.

IA_MMA_HD float neg_infinity() {
  return -__builtin_huge_valf();
}

IA_MMA_HD float exp2_approx(float x) {
#if defined(__CUDA_ARCH__)
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));  // 2^-inf = +0
  return y;
#else
  return std::exp2(x);
#endif
}

// One tile's update of a row's running max m: the new max, the factor (alpha) that rescales
// what was accumulated under the old one, and `none` while the row has seen no key (its weights
// are then 0 and nothing is rescaled, so no -inf - -inf appears).
struct SoftmaxStep {
  float m;
  float alpha;
  bool none;
};

IA_MMA_HD SoftmaxStep softmax_step(float m_old, float tile_max) {
  const float m_new = tile_max > m_old ? tile_max : m_old;
  const bool none = m_new == neg_infinity();
  return {m_new, none ? 1.0f : exp2_approx(m_old - m_new), none};
}

// The unnormalised weight of score x (log2 domain) under the step's max: 0 for a masked score.
IA_MMA_HD float softmax_weight(float x, const SoftmaxStep& step) {
  return step.none ? 0.0f : exp2_approx(x - step.m);
}

}  // namespace ia::cuda::mma_layout
