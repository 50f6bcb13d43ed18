#include "models/layers/block.h"

#include <fmt/format.h>

namespace ia {

Block Block::load(const WeightSource& w, int64_t index, const BlockWeightNames& n, const BlockSpec& spec) {
  Block b;
  b.spec_ = spec;
  const std::string lp = fmt::format(fmt::runtime(n.layer), index);
  const int64_t H = spec.attention.hidden;
  b.attention_norm_ = Norm::load(w, lp + n.attention_norm, H, spec.norm);
  b.attention_ = Attention::load(w, lp, n.attention, spec.attention);
  if (spec.cross_attention) {
    b.cross_norm_ = Norm::load(w, lp + n.cross_attention_norm, H, spec.norm);
    b.cross_attention_ = Attention::load(w, lp, n.cross_attention, *spec.cross_attention);
  }
  b.mlp_norm_ = Norm::load(w, lp + n.mlp_norm, H, spec.norm);
  b.mlp_ = Mlp::load(w, lp, n.mlp, spec.mlp);
  return b;
}

std::vector<std::string> Block::tensor_names(int64_t index, const BlockWeightNames& n, const BlockSpec& spec) {
  const std::string lp = fmt::format(fmt::runtime(n.layer), index);
  std::vector<std::string> out;
  auto add = [&](std::vector<std::string> more) {
    for (auto& t : more) out.push_back(std::move(t));
  };
  add(Norm::tensor_names(lp + n.attention_norm, spec.norm));
  add(Attention::tensor_names(lp, n.attention, spec.attention));
  if (spec.cross_attention) {
    add(Norm::tensor_names(lp + n.cross_attention_norm, spec.norm));
    add(Attention::tensor_names(lp, n.cross_attention, *spec.cross_attention));
  }
  add(Norm::tensor_names(lp + n.mlp_norm, spec.norm));
  add(Mlp::tensor_names(lp, n.mlp, spec.mlp));
  return out;
}

Tensor Block::operator()(const Tensor& x, const BlockContext& ctx) const {
  const DType in = ctx.linear_input_dtype;
  if (spec_.pre_norm) {
    Tensor h = attention_(attention_norm_(x, in), ctx, &x);
    if (spec_.cross_attention) h = cross_attention_(cross_norm_(h, in), ctx, &h);
    return mlp_(mlp_norm_(h, in), &h, in);
  }
  Tensor h = attention_norm_(attention_(x, ctx, &x));
  if (spec_.cross_attention) h = cross_norm_(cross_attention_(h, ctx, &h));
  return mlp_norm_(mlp_(h, &h));
}

}  // namespace ia
