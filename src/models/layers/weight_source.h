#pragma once
// Where a model's layers take their weights from: a WeightStore, the name
// prefix the checkpoint uses ("bert." for task heads, "transformer." for some
// GPT-2 files), the compute dtype of matrices, the device, and the matrix
// layout the checkpoint stores. Matrices and token tables become the compute
// dtype, vectors f32; everything lands on the device. When the store says so (`--quantize`,
// WeightStore::quantization), the layers' matrices and the LM head (matrix_out_in) are packed
// instead (core/quantization.h); tables stay in the compute dtype. A pre-quantized checkpoint's
// packed layers (GPTQ) load packed as they are, whatever the compute dtype. Shapes are checked exactly
// (Corrupt naming the tensor and folder on a mismatch or a missing tensor).
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "formats/safetensors.h"

namespace ia {

// How a checkpoint stores a linear layer's matrix: [out, in] (torch.nn.Linear)
// or [in, out] (GPT-2's Conv1D, transposed once at load).
enum class WeightLayout { OutIn, InOut };

class WeightSource {
 public:
  WeightSource(const WeightStore& store, std::string prefix, DType compute_dtype, Device device,
               WeightLayout layout = WeightLayout::OutIn);

  // Also true for a layer's "NAME.weight" that a pre-quantized checkpoint holds packed (GPTQ's
  // NAME.qweight ...: formats/checkpoint_quantization.h).
  bool has(const std::string& name) const;
  // NotFound naming the first of `names` the checkpoint lacks and what needs it; run before
  // allocating anything, so a folder missing a tensor costs nothing however large its config says it is.
  void require(const std::vector<std::string>& names, const std::string& needed_by) const;
  // An f32 tensor of exactly `shape` (norm weights, biases, small tables).
  Tensor vector(const std::string& name, const Shape& shape) const;
  // A lookup table (token embeddings) in the compute dtype: a bf16 checkpoint's table is used
  // in place, not widened to an f32 copy (the gather widens the rows it reads).
  Tensor table(const std::string& name, const Shape& shape) const;
  // Vectors stacked end to end (the biases of a fused projection).
  Tensor stacked_vectors(const std::vector<std::string>& names, const std::vector<int64_t>& sizes) const;
  // A [rows, cols] matrix in the compute dtype, read in this source's layout.
  Tensor matrix(const std::string& name, int64_t rows, int64_t cols) const;
  // Several matrices of `cols` columns stacked by rows into one (Q|K|V, gate|up), so a layer runs one GEMM.
  Tensor stacked_matrices(const std::vector<std::string>& names, const std::vector<int64_t>& rows, int64_t cols) const;
  // A matrix stored as [rows, cols] whatever the layout (tied embeddings used as the LM head).
  Tensor matrix_out_in(const std::string& name, int64_t rows, int64_t cols) const;

  const WeightStore& store() const { return *store_; }
  const std::string& prefix() const { return prefix_; }
  DType compute_dtype() const { return compute_dtype_; }
  Device device() const { return device_; }
  // Bytes of the matrices loaded so far (what one decode step streams), for rooflines.
  int64_t matrix_bytes() const { return *matrix_bytes_; }

 private:
  Tensor matrix_host(const std::string& name, int64_t rows, int64_t cols, WeightLayout layout) const;
  Tensor placed_matrix(const Tensor& host) const;
  // A pre-quantized checkpoint's packed matrix for `name` ("LAYER.weight"), on the host;
  // undefined when the checkpoint holds it unpacked.
  Tensor checkpoint_packed(const std::string& name, int64_t rows, int64_t cols) const;
  // The matrix packed as `format` (core/quantization.h) on the host.
  Tensor packed_host(const std::string& name, int64_t rows, int64_t cols, WeightLayout layout, DType format) const;

  const WeightStore* store_;
  std::string prefix_;
  DType compute_dtype_;
  Device device_;
  WeightLayout layout_;
  std::shared_ptr<int64_t> matrix_bytes_;  // shared by copies of this source
};

}  // namespace ia
