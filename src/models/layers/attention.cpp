#include "models/layers/attention.h"

#include <cmath>

#include "core/error.h"
#include "models/cross_kv_cache.h"
#include "ops/ops.h"

namespace ia {

namespace {

// Which of the separate q, k, v projections have a bias.
std::vector<bool> qkv_biases(const AttentionSpec& spec) {
  return {spec.qkv_bias, spec.qkv_bias && spec.k_bias, spec.qkv_bias};
}

}  // namespace

// x plus the step's q/k position rows where the layer has QueryKey positions, else x.
Tensor Attention::with_query_key_positions(const Tensor& x, const BlockContext& ctx) const {
  if (spec_.positions != PositionKind::QueryKey) return x;
  IA_CHECK(ctx.query_key_positions && ctx.query_key_positions->size(0) == x.size(0),
           "attention: q/k positions need one position row per step row");
  return ops::add(x, *ctx.query_key_positions);
}

Attention Attention::load(const WeightSource& w, const std::string& lp, const AttentionWeightNames& n,
                          const AttentionSpec& spec) {
  Attention a;
  a.spec_ = spec;
  const int64_t H = spec.hidden, D = spec.head_dim, Hq = spec.heads, Hkv = spec.kv_heads;
  if (spec.kv == KvSource::CrossCache) {
    if (!n.q)
      fail(ErrorKind::Unsupported, "{}: cross-attention needs separate q, k and v projections", w.store().dir());
    if (spec.positions == PositionKind::Rotary || spec.positions == PositionKind::RelativeBias || spec.qk_norm ||
        spec.window > 0)
      fail(ErrorKind::Unsupported, "{}: cross-attention with positions, q/k norm or a window is not supported",
           w.store().dir());
    a.qkv_ = Linear::load(w, lp + n.q, Hq * D, H, spec.qkv_bias);
    if (spec.positions == PositionKind::QueryKey) {
      a.k_ = Linear::load(w, lp + n.k, Hkv * D, H, spec.qkv_bias && spec.k_bias);
      a.v_ = Linear::load(w, lp + n.v, Hkv * D, H, spec.qkv_bias);
    } else {
      a.kv_ = Linear::load(w, {lp + n.k, lp + n.v}, {Hkv * D, Hkv * D}, H,
                           std::vector<bool>{spec.qkv_bias && spec.k_bias, spec.qkv_bias});
    }
  } else if (spec.positions == PositionKind::QueryKey) {
    if (!n.q || spec.kv != KvSource::Step || spec.qk_norm)
      fail(ErrorKind::Unsupported, "{}: positions added to q/k need separate q, k, v projections over the step's rows",
           w.store().dir());
    a.qkv_ = Linear::load(w, {lp + n.q, lp + n.k}, {Hq * D, Hkv * D}, H,
                          std::vector<bool>{spec.qkv_bias, spec.qkv_bias && spec.k_bias});
    a.v_ = Linear::load(w, lp + n.v, Hkv * D, H, spec.qkv_bias);
  } else if (n.q) {
    a.qkv_ = Linear::load(w, {lp + n.q, lp + n.k, lp + n.v}, {Hq * D, Hkv * D, Hkv * D}, H, qkv_biases(spec));
  } else {
    a.qkv_ = Linear::load(w, lp + n.qkv, (Hq + 2 * Hkv) * D, H, spec.qkv_bias);
  }
  a.o_ = Linear::load(w, lp + n.o, H, Hq * D, spec.o_bias);
  if (spec.qk_norm) {
    const NormSpec rms{NormKind::RmsNorm, false, spec.qk_norm_eps};
    a.q_norm_ = Norm::load(w, lp + n.q_norm, D, rms);
    a.k_norm_ = Norm::load(w, lp + n.k_norm, D, rms);
  }
  return a;
}

std::vector<std::string> Attention::tensor_names(const std::string& lp, const AttentionWeightNames& n,
                                                 const AttentionSpec& spec) {
  std::vector<std::string> out = n.q ? Linear::tensor_names({lp + n.q, lp + n.k, lp + n.v}, qkv_biases(spec))
                                     : Linear::tensor_names({lp + n.qkv}, spec.qkv_bias);
  for (auto& t : Linear::tensor_names({lp + n.o}, spec.o_bias)) out.push_back(std::move(t));
  if (spec.qk_norm) {
    out.push_back(lp + n.q_norm + ".weight");
    out.push_back(lp + n.k_norm + ".weight");
  }
  return out;
}

std::pair<Tensor, Tensor> Attention::project_kv(const Tensor& encoder_hidden, const Tensor* encoder_positions) const {
  IA_CHECK(spec_.kv == KvSource::CrossCache, "attention: project_kv of a layer without cross-attention");
  const int64_t Hkv = spec_.kv_heads, D = spec_.head_dim;
  if (spec_.positions == PositionKind::QueryKey) {
    IA_CHECK(encoder_positions, "attention: cross-attention with q/k positions needs the encoder rows' positions");
    const int64_t rows = encoder_hidden.size(0);
    return {k_(ops::add(encoder_hidden, *encoder_positions)).view({rows, Hkv, D}),
            v_(encoder_hidden).view({rows, Hkv, D})};
  }
  Tensor kv = kv_(encoder_hidden).view({encoder_hidden.size(0), 2 * Hkv, D});
  return {kv.narrow(1, 0, Hkv), kv.narrow(1, Hkv, Hkv)};
}

Tensor Attention::operator()(const Tensor& x, const BlockContext& ctx, const Tensor* residual) const {
  const StepInputs& step = *ctx.step;
  const int64_t T = x.size(0), D = spec_.head_dim, Hq = spec_.heads, Hkv = spec_.kv_heads;
  const float scale = spec_.scale > 0 ? spec_.scale : 1.0f / std::sqrt(static_cast<float>(D));
  LinearEpilogue add;
  add.residual = residual;
  if (spec_.kv == KvSource::CrossCache) {
    const CrossKvCache* cross = step.cross;
    if (!cross || !step.cross_ranges.defined() || ctx.layer >= static_cast<int64_t>(cross->k.size()) ||
        !cross->k[static_cast<size_t>(ctx.layer)].defined())
      fail(ErrorKind::InvalidArgument, "a cross-attention step needs the encoder's cross-attention cache");
    CrossAttentionParams p;
    p.scale = scale;
    p.bf16_products = ctx.bf16_products;
    Tensor q = qkv_(with_query_key_positions(x, ctx)).view({T, Hq, D});
    Tensor a = ops::cross_attention(q, cross->k[static_cast<size_t>(ctx.layer)],
                                    cross->v[static_cast<size_t>(ctx.layer)], step.query_start, step.cross_ranges, p);
    return o_(a.view({T, Hq * D}), add);
  }
  PositionBias bias;
  if (spec_.positions == PositionKind::RelativeBias) {
    IA_CHECK(ctx.position_bias, "attention: relative-bias positions without a bias table");
    bias.bias = ctx.position_bias;
  }
  Tensor q, k, v;
  if (spec_.positions == PositionKind::QueryKey) {
    Tensor qk = qkv_(with_query_key_positions(x, ctx)).view({T, Hq + Hkv, D});
    q = qk.narrow(1, 0, Hq);
    k = qk.narrow(1, Hq, Hkv);
    v = v_(x).view({T, Hkv, D});
  } else {
    Tensor qkv = qkv_(x).view({T, Hq + 2 * Hkv, D});
    q = qkv.narrow(1, 0, Hq);
    k = qkv.narrow(1, Hq, Hkv);
    v = qkv.narrow(1, Hq + Hkv, Hkv);
  }
  if (spec_.qk_norm) {
    q = q_norm_(q);
    k = k_norm_(k);
  }
  if (spec_.positions == PositionKind::Rotary) {
    IA_CHECK(ctx.rotary, "attention: rotary positions without tables");
    q = ops::rotary(q, ctx.rotary->positions, ctx.rotary->cos, ctx.rotary->sin);
    k = ops::rotary(k, ctx.rotary->positions, ctx.rotary->cos, ctx.rotary->sin);
  }
  Tensor a;
  // A paged-cache layer run without a cache (a whole prompt whose K/V is not kept:
  // embeddings from a decoder) attends within the step's own tokens, as an encoder does.
  if (spec_.kv == KvSource::PagedCache && ctx.cache) {
    Tensor& kc = ctx.cache->k(ctx.layer);
    Tensor& vc = ctx.cache->v(ctx.layer);
    ops::kv_cache_write(k, v, step.slots, kc, vc);
    PagedAttentionParams p;
    p.scale = scale;
    p.window = spec_.window;
    p.bf16_products = ctx.bf16_products;
    p.position_bias = bias;
    a = ops::paged_attention(q, kc, vc, step.block_tables, step.seq_lens, step.query_start, p);
  } else {
    VarlenAttentionParams p;
    p.scale = scale;
    p.causal = spec_.mask == AttentionMask::Causal;
    p.window = spec_.window;
    p.bf16_products = ctx.bf16_products;
    p.position_bias = bias;
    a = ops::varlen_attention(q, k, v, step.query_start, p);
  }
  return o_(a.view({T, Hq * D}), add);
}

}  // namespace ia
