#pragma once
// A normalisation layer over the last dim: LayerNorm (with or without bias) or
// RMSNorm (HF LlamaRMSNorm), with its eps.
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/layers/weight_source.h"

namespace ia {

enum class NormKind { LayerNorm, RmsNorm };

struct NormSpec {
  NormKind kind = NormKind::LayerNorm;
  bool bias = true;  // LayerNorm only
  float eps = 1e-5f;
};

class Norm {
 public:
  Norm() = default;
  // Reads NAME.weight (and NAME.bias when the spec has one), each [size].
  static Norm load(const WeightSource& w, const std::string& name, int64_t size, const NormSpec& spec);
  // As load, with the weight multiplied by `scale` (a scale of the output folded into the norm).
  static Norm load_scaled(const WeightSource& w, const std::string& name, int64_t size, const NormSpec& spec,
                          float scale);
  // The checkpoint tensors load() reads.
  static std::vector<std::string> tensor_names(const std::string& name, const NormSpec& spec);

  // out_dtype BF16 lets an RMS norm hand a bf16 linear its input directly (the
  // values that linear would round to); LayerNorm always returns f32.
  Tensor operator()(const Tensor& x, DType out_dtype = DType::F32) const;
  bool defined() const { return weight_.defined(); }
  const NormSpec& spec() const { return spec_; }

 private:
  NormSpec spec_;
  Tensor weight_, bias_;
};

}  // namespace ia
