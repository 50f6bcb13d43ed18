#pragma once
// A linear layer: weight [out, in] in the compute dtype (any dtype the backend
// runs) and an optional f32 bias, with the backend's fused epilogue
// (activation, residual add). Several checkpoint matrices can load as one
// (fused Q|K|V, gate|up) so a layer runs one GEMM for them.
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/tensor.h"
#include "models/layers/weight_source.h"

namespace ia {

class Linear {
 public:
  Linear() = default;
  // NAME_i.weight [rows_i, in] stacked by rows; with `bias`, NAME_i.bias [rows_i] likewise.
  static Linear load(const WeightSource& w, const std::vector<std::string>& names, const std::vector<int64_t>& rows,
                     int64_t in, bool bias);
  // As load, where matrix i has a bias only when biased[i] (the others add zeros).
  static Linear load(const WeightSource& w, const std::vector<std::string>& names, const std::vector<int64_t>& rows,
                     int64_t in, const std::vector<bool>& biased);
  static Linear load(const WeightSource& w, const std::string& name, int64_t out, int64_t in, bool bias) {
    return load(w, std::vector<std::string>{name}, std::vector<int64_t>{out}, in, bias);
  }
  // The checkpoint tensors load() reads.
  static std::vector<std::string> tensor_names(const std::vector<std::string>& names, bool bias);
  static std::vector<std::string> tensor_names(const std::vector<std::string>& names, const std::vector<bool>& biased);
  // A linear layer over an existing matrix (a tied LM head) and, optionally, f32 bias (both on the device).
  static Linear from(Tensor weight, Tensor bias = {}) {
    Linear l;
    l.weight_ = std::move(weight);
    l.bias_ = std::move(bias);
    return l;
  }

  // x [..., in] f32 (or bf16 with bf16 weights) -> activation(x W^T + b) + residual, f32, or
  // bf16 with out_dtype BF16 (bf16 weights only: the input the next bf16 linear would round to).
  Tensor operator()(const Tensor& x, const LinearEpilogue& epilogue = {}, DType out_dtype = DType::F32) const;
  const Tensor& weight() const { return weight_; }
  int64_t out_features() const { return weight_.size(0); }

 private:
  Tensor weight_, bias_;
};

}  // namespace ia
