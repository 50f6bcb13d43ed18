#pragma once
// The sentence-transformers modules that run after Pooling, in modules.json order:
// Dense (a linear layer and its activation; weights from the module folder's
// model.safetensors) and Normalize (L2); Dropout does nothing at inference. They act on
// the pooled embeddings [S, H], a few rows, on the host with the CPU backend's ops.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "formats/hf_config.h"

namespace ia {

// A Dense module's activation_function: the torch.nn class sentence-transformers saved.
enum class DenseActivation { Identity, Tanh, Relu, Gelu, Sigmoid, Silu };

// "torch.nn.modules.activation.Tanh" (as sentence-transformers writes it), "torch.nn.Tanh", ...
// Unsupported naming `where`, the value and the known ones otherwise.
DenseActivation parse_dense_activation(const std::string& name, const std::string& where);
const char* dense_activation_name(DenseActivation a);  // "tanh", "identity", ...

struct DenseModule {
  std::string folder;
  int64_t in_features = 0, out_features = 0;
  DenseActivation activation = DenseActivation::Tanh;
  Tensor weight;  // [out, in] f32 on the host
  Tensor bias;    // [out] f32 on the host, or undefined

  // FOLDER/config.json and FOLDER/model.safetensors (linear.weight, linear.bias). Corrupt naming
  // the file for a bad config or a weight of the wrong shape; Unsupported for an activation this
  // build lacks, a Dense over token embeddings, or weights only in pytorch_model.bin.
  static DenseModule load(const std::string& folder);
  // x [S, in] f32 on the host -> activation(x · weightᵀ + bias) [S, out].
  Tensor operator()(const Tensor& x) const;
};

class SentenceModules {
 public:
  SentenceModules() = default;
  // The modules of `st` after Pooling, checked to chain from `pooled_dim`-wide embeddings.
  // Unsupported (naming modules.json) for a module this build cannot run (LayerNorm,
  // WordWeights, a Dense before Pooling, ...).
  static SentenceModules load(const SentenceTransformerConfig& st, int64_t pooled_dim, const std::string& dir);

  // pooled [S, pooled_dim] f32 on the host -> [S, output_dim()]. `normalize`: nullopt runs the
  // folder's modules as they are, false skips its Normalize modules, true also L2-normalizes
  // at the end when the last module is not a Normalize.
  Tensor apply(const Tensor& pooled, std::optional<bool> normalize) const;
  // Whether apply(…, normalize) returns L2-normalized rows.
  bool normalizes(std::optional<bool> normalize) const;
  int64_t output_dim() const { return dense_.empty() ? pooled_dim_ : dense_.back().out_features; }
  const std::vector<DenseModule>& dense() const { return dense_; }

 private:
  struct Step {
    bool normalize = false;  // else the Dense module dense_[index]
    size_t index = 0;
  };
  int64_t pooled_dim_ = 0;
  std::vector<DenseModule> dense_;
  std::vector<Step> steps_;
};

}  // namespace ia
