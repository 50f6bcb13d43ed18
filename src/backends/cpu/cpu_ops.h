#pragma once
// The CPU backend's ops, one family per file (host_memory, linear_ops, norm_ops,
// elementwise_ops, embedding_pool_ops, rotary_op, attention_ops, conv_ops); CpuBackend
// (cpu_backend.cpp) only forwards to these. Semantics: backends/backend.h.
#include <cstddef>
#include <memory>

#include "backends/backend.h"
#include "core/storage.h"
#include "core/tensor.h"

namespace ia::cpu {

// host_memory.cpp
std::shared_ptr<Storage> allocate_host(size_t bytes);
void copy_host(const Tensor& src, Tensor& dst);
void trim_host_pool();

// linear_ops.cpp (epilogue may be null)
void linear_cpu(const Tensor& x, const Tensor& w, const Tensor* bias, const LinearEpilogue* epilogue, Tensor& out);
// quant_linear_ops.cpp: w packed (core/quantization.h), x f32 or bf16, out f32 or bf16.
void linear_quantized_cpu(const Tensor& x, const Tensor& w, const Tensor* bias, const LinearEpilogue* epilogue,
                          Tensor& out);
void matmul_cpu(const Tensor& a, const Tensor& b, bool trans_b, Tensor& out);

// norm_ops.cpp
void layer_norm_cpu(const Tensor& x, const Tensor& weight, const Tensor* bias, float eps, Tensor& out);
void rms_norm_cpu(const Tensor& x, const Tensor& weight, float eps, Tensor& out);
void l2_normalize_cpu(const Tensor& x, float eps, Tensor& out);

// elementwise_ops.cpp
void activation_cpu(Activation act, const Tensor& x, Tensor& out);
void add_cpu(const Tensor& a, const Tensor& b, Tensor& out);
void softmax_cpu(const Tensor& x, Tensor& out);
void gated_activation_cpu(Activation act, const Tensor& x, Tensor& out);
void cast_cpu(const Tensor& x, Tensor& out);
void argmax_cpu(const Tensor& x, Tensor& out);
void top_k_cpu(const Tensor& x, int64_t k, Tensor& values, Tensor& ids);

// embedding_pool_ops.cpp
void embedding_cpu(const Tensor& table, const Tensor& ids, Tensor& out);
void pool_cpu(PoolMode mode, const Tensor& x, const Tensor& mask, Tensor& out);

// rotary_op.cpp
void rotary_cpu(const Tensor& x, const Tensor& positions, const Tensor& cos, const Tensor& sin, Tensor& out);

// attention_ops.cpp
void attention_cpu(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* key_mask,
                   const AttentionParams& params, Tensor& out);
void kv_cache_write_cpu(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& k_cache, Tensor& v_cache);
void paged_attention_cpu(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables,
                         const Tensor& seq_lens, const Tensor& query_start, const PagedAttentionParams& params,
                         Tensor& out);
void varlen_attention_cpu(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& query_start,
                          const VarlenAttentionParams& params, Tensor& out);
void cross_attention_cpu(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& query_start,
                         const Tensor& kv_ranges, const CrossAttentionParams& params, Tensor& out);

// conv_ops.cpp (channels-last activations)
void conv1d_cpu(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv1dParams& p, Tensor& out);
// True when the epilogue was fused (oneDNN's primitive); false: out holds the convolution alone.
bool conv2d_cpu(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p, Tensor& out,
                const ConvEpilogue& epilogue = {});
void max_pool2d_cpu(const Tensor& x, const MaxPool2dParams& p, Tensor& out);
void group_norm_cpu(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor* bias, float eps, Tensor& out);

}  // namespace ia::cpu
