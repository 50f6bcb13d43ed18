#pragma once
// Multi-head attention, self or cross: fused Q|K|V projection, optional q/k
// norm, rotary positions, grouped-query heads, causal or bidirectional masks,
// sliding windows, and K/V read from the step itself (encoders), from the
// paged KV cache (causal LMs) or from a cross-attention cache filled once from
// an encoder's output (encoder-decoders).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "models/layers/block_context.h"
#include "models/layers/linear.h"
#include "models/layers/norm.h"
#include "models/layers/weight_source.h"

namespace ia {

enum class AttentionMask { Causal, Bidirectional };

// How a model encodes positions. Learned tables are added to the embeddings by
// the model; rotary and relative-bias positions act inside attention. QueryKey (DETR): a
// position embedding per row (BlockContext::query_key_positions) is added to the inputs of
// the q and k projections, never to v's; a cross-attention's keys get the encoder rows' own
// (project_kv's `encoder_positions`).
enum class PositionKind { None, Learned, Rotary, RelativeBias, QueryKey };

// Where keys and values come from.
enum class KvSource {
  Step,        // the step's own tokens (encoders; nothing is cached)
  PagedCache,  // the paged KV cache: new tokens are written, then attend to everything cached
  CrossCache,  // an encoder output projected once per request (Whisper, T5 decoders)
};

struct AttentionSpec {
  int64_t hidden = 0, heads = 0, kv_heads = 0, head_dim = 0;
  AttentionMask mask = AttentionMask::Causal;
  PositionKind positions = PositionKind::None;
  KvSource kv = KvSource::Step;
  bool qkv_bias = false, o_bias = false;
  // With qkv_bias: whether the key projection has a bias of its own (Whisper's k_proj has none:
  // zeros, which change no score since a key bias adds the same q.b to a query's every score).
  bool k_bias = true;
  bool qk_norm = false;  // per-head RMS norm of q and k (Qwen3)
  float qk_norm_eps = 1e-6f;
  int64_t window = 0;  // > 0: a query at position p sees keys p-window+1 .. p
  float scale = 0;     // 0: 1/sqrt(head_dim) (T5 uses 1)
};

// Checkpoint names relative to the layer prefix; null where the architecture has none.
struct AttentionWeightNames {
  const char* q;
  const char* k;
  const char* v;
  const char* qkv;  // already fused in the checkpoint (GPT-2 c_attn); used when q is null
  const char* o;
  const char* q_norm;
  const char* k_norm;
};

class Attention {
 public:
  Attention() = default;
  // Cross-attention (KvSource::CrossCache) loads q as its projection of the step's rows and k|v
  // as the projection of the encoder output (project_kv).
  static Attention load(const WeightSource& w, const std::string& layer_prefix, const AttentionWeightNames& names,
                        const AttentionSpec& spec);

  // The checkpoint tensors load() reads.
  static std::vector<std::string> tensor_names(const std::string& layer_prefix, const AttentionWeightNames& names,
                                               const AttentionSpec& spec);

  // x [T, hidden] -> o_proj(attention) + residual. Relative-bias positions read
  // ctx.position_bias; cross-attention reads layer ctx.layer of ctx.step->cross, at the rows
  // ctx.step->cross_ranges gives each sequence.
  Tensor operator()(const Tensor& x, const BlockContext& ctx, const Tensor* residual) const;
  const AttentionSpec& spec() const { return spec_; }

  // Cross-attention only: the keys and values of encoder outputs [rows, hidden], each
  // [rows, kv_heads, head_dim] (views of one projection), for a CrossKvCache. With QueryKey
  // positions, `encoder_positions` [rows, hidden] is added to the keys' input (required).
  std::pair<Tensor, Tensor> project_kv(const Tensor& encoder_hidden, const Tensor* encoder_positions = nullptr) const;

 private:
  Tensor with_query_key_positions(const Tensor& x, const BlockContext& ctx) const;

  AttentionSpec spec_;
  Linear qkv_, o_;  // cross-attention: qkv_ projects q only
  Linear kv_;       // cross-attention: k | v of the encoder output
  // QueryKey positions: q and k read x + positions, v reads x, so v (and a cross-attention's k)
  // is its own GEMM; qkv_ then projects q | k (self-attention) or q (cross-attention).
  Linear k_, v_;
  Norm q_norm_, k_norm_;
};

}  // namespace ia
