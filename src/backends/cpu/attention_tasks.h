#pragma once
// Attention of many query rows as small GEMMs: scores = Q K^T and out = P V per (sequence,
// query head, block of up to 64 query rows), each such task on one thread, instead of one dot
// product per (query, key). Shared by the decoder's prefill over the paged KV cache and by
// attention over packed sequences without a cache (encoders); they differ only in where a
// sequence's key/value rows lie (KvRows).
#include <cstdint>
#include <vector>

namespace ia::cpu {

// The key/value rows of one sequence: position p, kv head h at k + row(p) * k_row_stride +
// h * k_head_stride (head dim contiguous), v likewise. An int8 KV cache (core/kv_quantization.h)
// sets k8 / v8 instead, with the strides in bytes: each row is dequantized as it is gathered.
struct KvRows {
  const float* k = nullptr;
  const float* v = nullptr;
  const uint8_t* k8 = nullptr;
  const uint8_t* v8 = nullptr;
  int64_t k_row_stride = 0, k_head_stride = 0, v_row_stride = 0, v_head_stride = 0;
  // Paged: position p lives in row block_table[p / block_size] * block_size + p % block_size
  // (entries bounds-checked by the caller); null: in row p.
  const int32_t* block_table = nullptr;
  int64_t block_size = 1;
  int64_t row(int64_t p) const {
    return block_table ? static_cast<int64_t>(block_table[p / block_size]) * block_size + p % block_size : p;
  }
};

// Query rows q_row .. q_row + rows - 1 of q and out are the sequence's last `rows` positions
// (len - rows .. len - 1); its keys are positions 0 .. len - 1.
struct AttentionSequence {
  int64_t q_row = 0, rows = 0, len = 0;
  KvRows kv;
};

struct AttentionTasksArgs {
  const float* q = nullptr;  // row t, head h at q + t * q_row_stride + h * q_head_stride (head dim contiguous)
  int64_t q_row_stride = 0, q_head_stride = 0;
  float* out = nullptr;  // [T, Hq, D] contiguous
  int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0;
  bool causal = true;  // false: every query sees all len keys
  int64_t window = 0;  // causal only: > 0 sees keys p - window + 1 .. p
  float scale = 1.0f;
  // Both products on bf16-rounded inputs (q, k, v and the probabilities) with f32 accumulation
  // and f32 softmax: on bf16 pairs where the CPU multiplies them (AMX tiles, else AVX512-BF16
  // vdpbf16ps; D % 32 == 0), else as exact f32 products of the rounded values.
  bool bf16_products = false;
  // A relative position bias (PositionBias in backends/backend.h): [Hq, 2 * pos_bias_w + 1]; the
  // score of query position p and key position j in head h gets
  // pos_bias[h * (2W + 1) + clamp(j - p, -W, W) + W] after scaling. Null: none.
  const float* pos_bias = nullptr;
  int64_t pos_bias_w = 0;
  std::vector<AttentionSequence> seqs;
};

// One row of scores over keys kbeg .. kbeg + n - 1 into probabilities, in place: the keys in
// [lo, limit) (relative to kbeg) are seen, the rest get 0. Each seen score is scaled, and with a
// position bias (row position p, head h) biased, before the softmax.
void softmax_scores_row(const AttentionTasksArgs& a, float* row, int64_t n, int64_t lo, int64_t limit, int64_t kbeg,
                        int64_t p, int64_t h);

// Sequences with fewer query rows than this are not worth the GEMM set-up in a decode step.
constexpr int64_t kPrefillAttentionMinRows = 16;

void attention_tasks_cpu(const AttentionTasksArgs& a);

}  // namespace ia::cpu
