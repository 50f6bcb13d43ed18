#include "models/layers/mlp.h"

#include "core/error.h"
#include "ops/ops.h"

namespace ia {

Mlp Mlp::load(const WeightSource& w, const std::string& lp, const MlpWeightNames& names, const MlpSpec& spec) {
  Mlp m;
  m.spec_ = spec;
  const int64_t H = spec.hidden, I = spec.intermediate;
  if (spec.kind == MlpKind::Gated) {
    m.up_ = Linear::load(w, {lp + names.gate, lp + names.up}, {I, I}, H, spec.bias);
  } else {
    m.up_ = Linear::load(w, lp + names.up, I, H, spec.bias);
  }
  m.down_ = Linear::load(w, lp + names.down, H, I, spec.bias);
  if (spec.kind == MlpKind::Plain && m.down_.weight().dtype() == DType::BF16 &&
      backend_for(w.device()).supports(OpKind::Linear, DType::BF16))
    m.hidden_dtype_ = DType::BF16;
  return m;
}

std::vector<std::string> Mlp::tensor_names(const std::string& lp, const MlpWeightNames& n, const MlpSpec& spec) {
  std::vector<std::string> names = {lp + n.up, lp + n.down};
  if (spec.kind == MlpKind::Gated) names.push_back(lp + n.gate);
  return Linear::tensor_names(names, spec.bias);
}

Tensor Mlp::operator()(const Tensor& x, const Tensor* residual, DType act_dtype) const {
  LinearEpilogue add;
  add.residual = residual;
  if (spec_.kind == MlpKind::Gated) return down_(ops::gated_activation(spec_.activation, up_(x), act_dtype), add);
  LinearEpilogue act;
  act.has_activation = true;
  act.activation = spec_.activation;
  return down_(up_(x, act, hidden_dtype_), add);
}

}  // namespace ia
