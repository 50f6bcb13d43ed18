#pragma once
// oneDNN matmul wrappers with a primitive cache (creating a primitive costs far
// more than running a small one; models call the same shapes over and over).
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>

#include <oneapi/dnnl/dnnl.hpp>

#include "backends/backend.h"
#include "backends/cpu/lru_map.h"
#include "backends/cpu/thread_scratch.h"
#include "core/storage.h"

namespace ia::cpu {

// The calling thread's scratchpad for oneDNN executions (thread_scratch): primitives run with
// scratchpad_mode::user, so a cached primitive can run on several threads at once, and one
// thread runs one execution at a time (each waits for its stream).
struct DnnlScratchpadTag {};

dnnl::engine& dnnl_engine();
dnnl::stream& dnnl_stream();  // one per calling thread

// A strided matrix operand of a (batched) matmul: up to 4 dims, row-major meaning.
struct MatDesc {
  dnnl::memory::data_type dt = dnnl::memory::data_type::f32;
  int ndims = 2;
  int64_t dims[4] = {0, 0, 0, 0};
  int64_t strides[4] = {0, 0, 0, 0};
};

inline MatDesc mat_desc(dnnl::memory::data_type type, std::initializer_list<int64_t> dims,
                        std::initializer_list<int64_t> strides) {
  MatDesc d;
  d.dt = type;
  d.ndims = static_cast<int>(dims.size());
  std::copy(dims.begin(), dims.end(), d.dims);
  std::copy(strides.begin(), strides.end(), d.strides);
  return d;
}

// An activation as a oneDNN eltwise post-op.
struct DnnlEltwise {
  dnnl::algorithm algorithm = dnnl::algorithm::undef;
  float alpha = 0.0f;
};
inline DnnlEltwise dnnl_eltwise(Activation a) {
  switch (a) {
    case Activation::GeluErf: return {dnnl::algorithm::eltwise_gelu_erf, 0.0f};
    case Activation::GeluTanh: return {dnnl::algorithm::eltwise_gelu_tanh, 0.0f};
    case Activation::Tanh: return {dnnl::algorithm::eltwise_tanh, 0.0f};
    case Activation::Relu: return {dnnl::algorithm::eltwise_relu, 0.0f};
    case Activation::Silu: return {dnnl::algorithm::eltwise_swish, 1.0f};
    case Activation::QuickGelu: return {dnnl::algorithm::eltwise_swish, 1.702f};  // x sigmoid(1.702 x)
  }
  return {};
}

// Work fused into the GEMM's output pass (oneDNN post-ops), in this order:
// activation(dst), then dst += residual. Saves a full read and write of dst per step.
struct GemmEpilogue {
  dnnl::algorithm activation = dnnl::algorithm::undef;  // an eltwise algorithm, or undef
  float activation_alpha = 0.0f;
  const float* residual = nullptr;  // dst-shaped, contiguous f32
};

// dst = src @ wei (+ bias broadcast over the last dim), with shapes
// src [..., M, K], wei [..., K, N], dst [..., M, N] (dst f32) as oneDNN matmul.
// bias: f32 [N] or null. Throws dnnl::error when oneDNN has no implementation.
void dnnl_matmul(const MatDesc& src, const void* src_ptr, const MatDesc& wei, const void* wei_ptr, const float* bias,
                 const MatDesc& dst, void* dst_ptr, const GemmEpilogue& epi = {});

// As dnnl_matmul for a 2-D linear layer whose weights are reused across calls:
// the weights are reordered once into the layout oneDNN prefers (AMX / AVX-512
// blocked) and cached, keyed by (owner, pointer, desc). `owner` is the storage
// that holds the weights; the cached copy is dropped once it is freed.
// Off with set_weight_prepack(false) or IA_CPU_PREPACK=0 (core/weight_prepack.h): plain dnnl_matmul.
void dnnl_linear_prepacked(const MatDesc& src, const void* src_ptr, const MatDesc& wei, const void* wei_ptr,
                           const std::shared_ptr<Storage>& owner, const float* bias, const MatDesc& dst, void* dst_ptr,
                           const GemmEpilogue& epi = {});
// `wei_ptr` (laid out as `plain`) in the layout `packed` describes: reordered once and cached by
// (pointer, layout) while `owner` (the storage holding the weights) lives. The linears' prepacked
// weights and the convolutions' (dnnl_conv.h) share this cache.
dnnl::memory packed_weights(const void* wei_ptr, const dnnl::memory::desc& plain, const dnnl::memory::desc& packed,
                            const std::shared_ptr<Storage>& owner);
// Prepacked weight copies held now (for tests).
size_t dnnl_packed_weights();

// Drops every cached primitive and prepacked weight.
void dnnl_clear_caches();

// Number of cached primitives (for tests / stats).
size_t dnnl_cache_size();

}  // namespace ia::cpu
