#pragma once
// The contract every device backend implements (ggml-style): allocate, copy,
// supports(op, dtype), and one entry point per op. The ops layer checks shapes
// and allocates outputs; a backend only computes. A new device (CUDA) is a new
// subclass registered with register_backend; ops and models do not change.
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"

namespace ia {

enum class OpKind {
  Embedding,
  Linear,
  MatMul,
  LayerNorm,
  Activation,
  Softmax,
  Attention,
  Add,
  Pool,
  L2Normalize,
  Cast,
};
const char* op_kind_name(OpKind op);

enum class Activation { GeluErf, GeluTanh, Tanh, Relu, Silu };

enum class PoolMode { Cls, Mean, Max, MeanSqrtLen };

struct AttentionParams {
  float scale = 1.0f;  // usually 1/sqrt(head_dim)
  bool causal = false;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;  // "cpu (avx512_core_amx)", "cuda:0 (H100)"

  virtual std::shared_ptr<Storage> allocate(size_t bytes) = 0;
  // Copies between two tensors of the same shape and dtype; one of them lives on this backend's device.
  virtual void copy(const Tensor& src, Tensor& dst) = 0;
  virtual bool supports(OpKind op, DType dtype) const = 0;

  // All outputs are preallocated, contiguous, on this device. Inputs may be
  // strided where the op says so. `dtype` of weights may differ from activations
  // (e.g. bf16 weights with f32 activations).

  // out[..., :] = table[ids[...], :]; ids are i32 or i64.
  virtual void embedding(const Tensor& table, const Tensor& ids, Tensor& out) = 0;
  // out[M, N] = x[M, K] @ w[N, K]^T (+ bias[N]); x contiguous in its last dim.
  virtual void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) = 0;
  // Batched: out[b, M, N] = a[b, M, K] @ (trans_b ? b[b, N, K]^T : b[b, K, N]).
  virtual void matmul(const Tensor& a, const Tensor& b, bool trans_b, Tensor& out) = 0;
  // Normalises over the last dim; bias may be null.
  virtual void layer_norm(const Tensor& x, const Tensor& weight, const Tensor* bias, float eps, Tensor& out) = 0;
  virtual void activation(Activation act, const Tensor& x, Tensor& out) = 0;
  // Softmax over the last dim.
  virtual void softmax(const Tensor& x, Tensor& out) = 0;
  // q [B, Sq, H, D], k/v [B, Sk, H, D] (strided views allowed, last dim contiguous);
  // key_mask [B, Sk] (i64/i32, 1 = attend, 0 = padding) or null; out [B, Sq, H, D].
  virtual void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* key_mask,
                         const AttentionParams& params, Tensor& out) = 0;
  // out = a + b, where b has a's shape or a's trailing shape (broadcast over leading dims).
  virtual void add(const Tensor& a, const Tensor& b, Tensor& out) = 0;
  // x [B, S, H], mask [B, S] (1 = token) -> out [B, H].
  virtual void pool(PoolMode mode, const Tensor& x, const Tensor& mask, Tensor& out) = 0;
  // Divides each row (last dim) by max(||row||_2, eps), as torch.nn.functional.normalize.
  virtual void l2_normalize(const Tensor& x, float eps, Tensor& out) = 0;
  // Elementwise dtype conversion (f32 <-> bf16 <-> f16, ints).
  virtual void cast(const Tensor& x, Tensor& out) = 0;
};

// The backend that runs tensors on `device`; throws ErrorKind::Unavailable when none is registered.
Backend& backend_for(Device device);
void register_backend(std::unique_ptr<Backend> backend);
bool has_backend(Device device);
// Every registered backend, CPU first (the conformance test runs each op on each).
std::vector<Backend*> registered_backends();

}  // namespace ia
