#pragma once
// CPU implementations of the decoder ops of the backend contract (RMS norm,
// rotary, SwiGLU, paged KV cache write and paged attention). The CpuBackend
// forwards to these; they use the ISA-dispatched row kernels.
#include "backends/backend.h"
#include "core/tensor.h"

namespace ia::cpu {

void rms_norm_cpu(const Tensor& x, const Tensor& weight, float eps, Tensor& out);
void rotary_cpu(const Tensor& x, const Tensor& positions, const Tensor& cos, const Tensor& sin, Tensor& out);
void swiglu_cpu(const Tensor& x, Tensor& out);
void kv_cache_write_cpu(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& k_cache, Tensor& v_cache);
void paged_attention_cpu(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables,
                         const Tensor& seq_lens, const Tensor& query_start, const PagedAttentionParams& params,
                         Tensor& out);

}  // namespace ia::cpu
