#include <algorithm>
#include <mutex>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cuda_library.h"
#include "core/error.h"

namespace ia {

const char* op_kind_name(OpKind op) {
  switch (op) {
    case OpKind::Embedding: return "embedding";
    case OpKind::Linear: return "linear";
    case OpKind::MatMul: return "matmul";
    case OpKind::LayerNorm: return "layer_norm";
    case OpKind::Activation: return "activation";
    case OpKind::Softmax: return "softmax";
    case OpKind::Attention: return "attention";
    case OpKind::Add: return "add";
    case OpKind::Pool: return "pool";
    case OpKind::L2Normalize: return "l2_normalize";
    case OpKind::Cast: return "cast";
    case OpKind::RmsNorm: return "rms_norm";
    case OpKind::Rotary: return "rotary";
    case OpKind::SwiGlu: return "swiglu";
    case OpKind::PagedAttention: return "paged_attention";
    case OpKind::VarlenAttention: return "varlen_attention";
    case OpKind::ArgMax: return "argmax";
    case OpKind::TopK: return "top_k";
    case OpKind::Conv1d: return "conv1d";
    case OpKind::GroupNorm: return "group_norm";
    case OpKind::Conv2d: return "conv2d";
    case OpKind::MaxPool2d: return "max_pool2d";
    case OpKind::CrossAttention: return "cross_attention";
  }
  return "?";
}

namespace {

struct Registry {
  std::mutex mu;
  std::vector<std::unique_ptr<Backend>> backends;  // never shrinks: references stay valid
  std::once_flag cuda_once;
  CudaLibraryStatus cuda_status;
  Registry() { backends.push_back(cpu::make_cpu_backend()); }
};

// Never destroyed: backends hold device resources the CUDA runtime may already have torn down
// at exit, and storages still alive then point back at their allocators.
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

// The CUDA library is loaded the first time a device other than the CPU is asked about, not at
// start: a CPU-only run on a GPU machine pays nothing for it. Loaded outside the registry's lock
// (the library's code may log or allocate); call_once makes every other caller wait for it.
Registry& registry_with(Device device) {
  Registry& r = registry();
  if (!device.is_cpu()) {
    std::call_once(r.cuda_once, [&r] {
      CudaLibraryStatus status;
      std::vector<std::unique_ptr<Backend>> made = load_cuda_backends(&status);
      std::lock_guard<std::mutex> lock(r.mu);
      r.cuda_status = status;
      for (auto& b : made) r.backends.push_back(std::move(b));
    });
  }
  return r;
}

}  // namespace

Backend& backend_for(Device device) {
  Registry& r = registry_with(device);
  std::lock_guard<std::mutex> lock(r.mu);
  for (auto& b : r.backends)
    if (b->device() == device) return *b;
  fail(ErrorKind::Unavailable, "no backend for device {} (registered: {})", device.str(), [&] {
    std::string s;
    for (auto& b : r.backends) s += (s.empty() ? "" : ", ") + b->device().str();
    return s;
  }());
}

void register_backend(std::unique_ptr<Backend> backend) {
  IA_CHECK(backend != nullptr, "register_backend: null backend");
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (auto& b : r.backends) {
    if (b->device() == backend->device()) {
      fail(ErrorKind::Internal, "register_backend: a backend for {} is already registered", backend->device().str());
    }
  }
  r.backends.push_back(std::move(backend));
}

bool has_backend(Device device) {
  Registry& r = registry_with(device);
  std::lock_guard<std::mutex> lock(r.mu);
  return std::any_of(r.backends.begin(), r.backends.end(), [&](auto& b) { return b->device() == device; });
}

std::vector<Backend*> registered_backends() {
  Registry& r = registry_with(Device::cuda(0));
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<Backend*> out;
  for (auto& b : r.backends) out.push_back(b.get());
  return out;
}

const CudaLibraryStatus& cuda_library_status() {
  return registry_with(Device::cuda(0)).cuda_status;
}

void Backend::linear_fused(const Tensor& x, const Tensor& w, const Tensor* bias, const LinearEpilogue& epilogue,
                           Tensor& out) {
  linear(x, w, bias, out);
  if (epilogue.has_activation) activation(epilogue.activation, out, out);
  if (epilogue.residual) add(out, *epilogue.residual, out);
}

void Backend::conv2d_fused(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p,
                           const ConvEpilogue& epilogue, Tensor& out) {
  conv2d(x, w, bias, p, out);
  if (epilogue.residual) add(out, *epilogue.residual, out);
  if (epilogue.has_activation) activation(epilogue.activation, out, out);
}

}  // namespace ia
