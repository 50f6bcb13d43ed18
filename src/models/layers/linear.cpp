#include "models/layers/linear.h"

#include "ops/ops.h"

namespace ia {

Linear Linear::load(const WeightSource& w, const std::vector<std::string>& names, const std::vector<int64_t>& rows,
                    int64_t in, bool bias) {
  Linear l;
  std::vector<std::string> weights, biases;
  for (const auto& n : names) {
    weights.push_back(n + ".weight");
    biases.push_back(n + ".bias");
  }
  l.weight_ = w.stacked_matrices(weights, rows, in);
  if (bias) l.bias_ = w.stacked_vectors(biases, rows);
  return l;
}

std::vector<std::string> Linear::tensor_names(const std::vector<std::string>& names, bool bias) {
  std::vector<std::string> out;
  for (const auto& n : names) {
    out.push_back(n + ".weight");
    if (bias) out.push_back(n + ".bias");
  }
  return out;
}

Tensor Linear::operator()(const Tensor& x, const LinearEpilogue& epilogue, DType out_dtype) const {
  const Tensor* b = bias_.defined() ? &bias_ : nullptr;
  if (!epilogue.has_activation && !epilogue.residual && out_dtype == DType::F32) return ops::linear(x, weight_, b);
  return ops::linear(x, weight_, b, epilogue, out_dtype);
}

}  // namespace ia
