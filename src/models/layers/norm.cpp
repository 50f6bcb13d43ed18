#include "models/layers/norm.h"

#include "ops/ops.h"

namespace ia {

Norm Norm::load(const WeightSource& w, const std::string& name, int64_t size, const NormSpec& spec) {
  Norm n;
  n.spec_ = spec;
  n.weight_ = w.vector(name + ".weight", {size});
  if (spec.kind == NormKind::LayerNorm && spec.bias) n.bias_ = w.vector(name + ".bias", {size});
  return n;
}

Norm Norm::load_scaled(const WeightSource& w, const std::string& name, int64_t size, const NormSpec& spec,
                       float scale) {
  Norm n;
  n.spec_ = spec;
  Tensor weight = w.store().get_as(w.prefix() + name + ".weight", DType::F32, {size}).contiguous();
  Tensor scaled = Tensor::empty({size}, DType::F32);
  for (int64_t i = 0; i < size; ++i) scaled.data<float>()[i] = weight.data<float>()[i] * scale;
  n.weight_ = ops::to_device(scaled, w.device());
  if (spec.kind == NormKind::LayerNorm && spec.bias) {
    Tensor bias = w.store().get_as(w.prefix() + name + ".bias", DType::F32, {size}).contiguous();
    Tensor sb = Tensor::empty({size}, DType::F32);
    for (int64_t i = 0; i < size; ++i) sb.data<float>()[i] = bias.data<float>()[i] * scale;
    n.bias_ = ops::to_device(sb, w.device());
  }
  return n;
}

std::vector<std::string> Norm::tensor_names(const std::string& name, const NormSpec& spec) {
  std::vector<std::string> out = {name + ".weight"};
  if (spec.kind == NormKind::LayerNorm && spec.bias) out.push_back(name + ".bias");
  return out;
}

Tensor Norm::operator()(const Tensor& x, DType out_dtype) const {
  if (spec_.kind == NormKind::RmsNorm) return ops::rms_norm(x, weight_, spec_.eps, out_dtype);
  return ops::layer_norm(x, weight_, bias_.defined() ? &bias_ : nullptr, spec_.eps);
}

}  // namespace ia
