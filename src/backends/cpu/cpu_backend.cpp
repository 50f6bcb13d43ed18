// The CPU backend's wiring: device, name, allocation, supports(), and one forward per op to
// the op families of cpu_ops.h.
#include "backends/cpu/cpu_backend.h"

#include <string>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/dnnl_gemm.h"
#include "backends/cpu/kernels.h"

namespace ia::cpu {
namespace {

std::string isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::cpu(); }
  std::string name() const override {
    return std::string("cpu (") + kernels().name + ", oneDNN " + onednn_isa_name() + ")";
  }

  std::shared_ptr<Storage> allocate(size_t bytes) override { return allocate_host(bytes); }
  void copy(const Tensor& src, Tensor& dst) override { copy_host(src, dst); }
  // The pooled op outputs and oneDNN's caches (the resource pool calls it after an unload).
  void release_cached_memory() override { cpu::release_cached_memory(); }

  bool supports(OpKind op, DType t) const override {
    switch (op) {
      case OpKind::Linear: return t == DType::F32 || t == DType::BF16 || is_quantized(t);
      case OpKind::Embedding: return t == DType::F32 || t == DType::BF16 || t == DType::F16;
      case OpKind::Cast: return true;
      case OpKind::RmsNorm:  // bf16: an output that feeds a bf16 linear
      case OpKind::SwiGlu: return t == DType::F32 || t == DType::BF16;
      case OpKind::PagedAttention: return t == DType::F32 || t == DType::Q8Kv;  // the KV cache's dtype
      default: return t == DType::F32;
    }
  }

  void embedding(const Tensor& table, const Tensor& ids, Tensor& out) override { embedding_cpu(table, ids, out); }
  void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) override {
    linear_cpu(x, w, bias, nullptr, out);
  }
  void linear_fused(const Tensor& x, const Tensor& w, const Tensor* bias, const LinearEpilogue& epilogue,
                    Tensor& out) override {
    linear_cpu(x, w, bias, &epilogue, out);
  }
  void matmul(const Tensor& a, const Tensor& b, bool trans_b, Tensor& out) override { matmul_cpu(a, b, trans_b, out); }
  void layer_norm(const Tensor& x, const Tensor& weight, const Tensor* bias, float eps, Tensor& out) override {
    layer_norm_cpu(x, weight, bias, eps, out);
  }
  void activation(Activation act, const Tensor& x, Tensor& out) override { activation_cpu(act, x, out); }
  void softmax(const Tensor& x, Tensor& out) override { softmax_cpu(x, out); }
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* key_mask,
                 const AttentionParams& params, Tensor& out) override {
    attention_cpu(q, k, v, key_mask, params, out);
  }
  void add(const Tensor& a, const Tensor& b, Tensor& out) override { add_cpu(a, b, out); }
  void pool(PoolMode mode, const Tensor& x, const Tensor& mask, Tensor& out) override { pool_cpu(mode, x, mask, out); }
  void l2_normalize(const Tensor& x, float eps, Tensor& out) override { l2_normalize_cpu(x, eps, out); }
  void cast(const Tensor& x, Tensor& out) override { cast_cpu(x, out); }
  void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) override {
    rms_norm_cpu(x, weight, eps, out);
  }
  void rotary(const Tensor& x, const Tensor& positions, const Tensor& cos, const Tensor& sin, Tensor& out) override {
    rotary_cpu(x, positions, cos, sin, out);
  }
  void gated_activation(Activation act, const Tensor& x, Tensor& out) override { gated_activation_cpu(act, x, out); }
  void kv_cache_write(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& k_cache,
                      Tensor& v_cache) override {
    kv_cache_write_cpu(k, v, slots, k_cache, v_cache);
  }
  void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables,
                       const Tensor& seq_lens, const Tensor& query_start, const PagedAttentionParams& params,
                       Tensor& out) override {
    paged_attention_cpu(q, k_cache, v_cache, block_tables, seq_lens, query_start, params, out);
  }
  void varlen_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& query_start,
                        const VarlenAttentionParams& params, Tensor& out) override {
    varlen_attention_cpu(q, k, v, query_start, params, out);
  }
  void cross_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& query_start,
                       const Tensor& kv_ranges, const CrossAttentionParams& params, Tensor& out) override {
    cross_attention_cpu(q, k, v, query_start, kv_ranges, params, out);
  }
  void argmax(const Tensor& x, Tensor& out) override { argmax_cpu(x, out); }
  void top_k(const Tensor& x, int64_t k, Tensor& values, Tensor& ids) override { top_k_cpu(x, k, values, ids); }
  void conv1d(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv1dParams& p, Tensor& out) override {
    conv1d_cpu(x, w, bias, p, out);
  }
  void conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p, Tensor& out) override {
    conv2d_cpu(x, w, bias, p, out);
  }
  void conv2d_fused(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p,
                    const ConvEpilogue& epilogue, Tensor& out) override {
    if (conv2d_cpu(x, w, bias, p, out, epilogue)) return;
    if (epilogue.residual) add(out, *epilogue.residual, out);
    if (epilogue.has_activation) activation(epilogue.activation, out, out);
  }
  void max_pool2d(const Tensor& x, const MaxPool2dParams& p, Tensor& out) override { max_pool2d_cpu(x, p, out); }
  void group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor* bias, float eps,
                  Tensor& out) override {
    group_norm_cpu(x, groups, weight, bias, eps, out);
  }
};

}  // namespace

std::string onednn_isa_name() {
  dnnl_engine();  // raises the max ISA first
  return isa_name(dnnl::get_effective_cpu_isa());
}

void release_cached_memory() {
  trim_host_pool();
  dnnl_clear_caches();
}

std::unique_ptr<Backend> make_cpu_backend() {
  return std::make_unique<CpuBackend>();
}

}  // namespace ia::cpu
