#include "models/layers/linear.h"

#include <algorithm>

#include "core/error.h"
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

Linear Linear::load(const WeightSource& w, const std::vector<std::string>& names, const std::vector<int64_t>& rows,
                    int64_t in, const std::vector<bool>& biased) {
  IA_CHECK(biased.size() == names.size(), "linear: {} bias flags for {} matrices", biased.size(), names.size());
  if (std::all_of(biased.begin(), biased.end(), [](bool b) { return b; })) return load(w, names, rows, in, true);
  if (std::none_of(biased.begin(), biased.end(), [](bool b) { return b; })) return load(w, names, rows, in, false);
  Linear l;
  std::vector<std::string> weights;
  for (const auto& n : names) weights.push_back(n + ".weight");
  l.weight_ = w.stacked_matrices(weights, rows, in);
  std::vector<Tensor> parts;
  for (size_t i = 0; i < names.size(); ++i)
    parts.push_back(biased[i] ? w.store().get_as(w.prefix() + names[i] + ".bias", DType::F32, {rows[i]})
                              : Tensor::zeros({rows[i]}, DType::F32));
  l.bias_ = ops::to_device(concat_rows(parts), w.device());
  return l;
}

std::vector<std::string> Linear::tensor_names(const std::vector<std::string>& names, const std::vector<bool>& biased) {
  std::vector<std::string> out;
  for (size_t i = 0; i < names.size(); ++i) {
    out.push_back(names[i] + ".weight");
    if (i < biased.size() && biased[i]) out.push_back(names[i] + ".bias");
  }
  return out;
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
