#pragma once
// The feed-forward part of a block: plain (up -> activation -> down, the
// activation fused into the up projection's epilogue: BERT, GPT-2, T5 v1.0's ReLU) or gated
// (act(gate) * up -> down, gate and up fused into one GEMM: LLaMA's SwiGLU, T5 v1.1's GEGLU).
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/tensor.h"
#include "models/layers/linear.h"

namespace ia {

enum class MlpKind { Plain, Gated };

struct MlpSpec {
  MlpKind kind = MlpKind::Plain;
  Activation activation = Activation::GeluErf;
  int64_t hidden = 0, intermediate = 0;
  bool bias = true;
};

// Checkpoint names of the MLP's matrices, relative to the layer prefix ("" for gate when plain).
struct MlpWeightNames {
  const char* gate;
  const char* up;
  const char* down;
};

class Mlp {
 public:
  Mlp() = default;
  static Mlp load(const WeightSource& w, const std::string& layer_prefix, const MlpWeightNames& names,
                  const MlpSpec& spec);

  // The checkpoint tensors load() reads.
  static std::vector<std::string> tensor_names(const std::string& layer_prefix, const MlpWeightNames& names,
                                               const MlpSpec& spec);

  // x [T, hidden] -> down(...) + residual; `act_dtype` BF16 lets the gate hand bf16 to a bf16 down projection.
  Tensor operator()(const Tensor& x, const Tensor* residual, DType act_dtype = DType::F32) const;

 private:
  MlpSpec spec_;
  // A plain MLP's activation handed to a bf16 down projection as bf16, rounded in the up
  // projection's output pass (the values the down projection would round it to).
  DType hidden_dtype_ = DType::F32;
  Linear up_;  // gated: [gate | up]
  Linear down_;
};

}  // namespace ia
