#pragma once
// Prefill attention on the CPU: the query rows of one sequence against its
// paged K/V, as two small GEMMs (scores = Q K^T, out = P V) per query head and
// block of query rows, each such task on one thread, instead of one dot
// product per (query, key). Decode rows (one query per sequence) stay on the
// per-row loop of paged_attention_cpu.
#include <cstdint>

namespace ia::cpu {

struct PrefillAttentionArgs {
  const float* q = nullptr;  // row t, head h at q + t * q_row_stride + h * q_head_stride (head dim contiguous)
  int64_t q_row_stride = 0, q_head_stride = 0;
  int64_t rows = 0;  // query rows: the last `rows` of the sequence's `len` cached tokens
  int64_t len = 0;
  const float* k_cache = nullptr;  // [blocks, block_size, Hkv, D]
  const float* v_cache = nullptr;
  const int32_t* block_table = nullptr;  // the sequence's blocks, already bounds-checked by the caller
  int64_t block_size = 0;
  int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0;
  int64_t window = 0;  // sliding window (0 = none)
  float scale = 1.0f;
  bool bf16_products = false;  // AMX tiles for both products where the CPU has them (D % 32 == 0)
  float* out = nullptr;        // [rows, Hq, D] contiguous
};

// Rows below this many per sequence are not worth the GEMM set-up.
constexpr int64_t kPrefillAttentionMinRows = 16;

void prefill_attention_cpu(const PrefillAttentionArgs& a);

}  // namespace ia::cpu
