#pragma once
// Device-neutral operations used by models. Each checks shapes and dtypes
// (ErrorKind::Internal on a mismatch: models are expected to be consistent;
// user-facing checks happen when weights load), allocates the output on the
// input's device, and dispatches to that device's Backend.
#include <utility>
#include <vector>

#include "backends/backend.h"
#include "core/tensor.h"

namespace ia::ops {

Tensor embedding(const Tensor& table, const Tensor& ids);             // -> ids.shape + [H], f32
Tensor linear(const Tensor& x, const Tensor& w, const Tensor* bias);  // x [..., K], w [N, K] -> [..., N] f32
// activation(x @ w^T + bias) + residual in one pass where the backend can fuse it. out_dtype BF16
// (bf16 weights only) hands the next bf16 linear its input already rounded, as rms_norm does:
// the same values that linear would round an f32 output to, without the f32 round trip.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor* bias, const LinearEpilogue& epilogue,
              DType out_dtype = DType::F32);
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_b = false);  // batched 3-D or 2-D
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor* bias, float eps);
Tensor activation(Activation act, const Tensor& x);
Tensor gelu(const Tensor& x);       // erf form (HF "gelu")
Tensor gelu_tanh(const Tensor& x);  // tanh form (HF "gelu_new", "gelu_pytorch_tanh")
Tensor softmax(const Tensor& x);    // over last dim
Tensor argmax(const Tensor& x);     // [R, C] f32 -> [R] i32: each row's first maximum
// [R, C] f32 -> values [R, k] f32 and ids [R, k] i32, largest first (ties: lower index first).
std::pair<Tensor, Tensor> top_k(const Tensor& x, int64_t k);
// q [B, Sq, H, D], k/v [B, Sk, H, D]; key_mask [B, Sk] or null -> [B, Sq, H, D]
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* key_mask,
                 const AttentionParams& params);
Tensor add(const Tensor& a, const Tensor& b);
Tensor pool(PoolMode mode, const Tensor& x, const Tensor& mask);  // [B, S, H] -> [B, H]
Tensor l2_normalize(const Tensor& x, float eps = 1e-12f);
Tensor cast(const Tensor& x, DType dtype);
// --- decoder ops (see backends/backend.h for the exact semantics) ---
// Over the last dim, computed in f32. out_dtype BF16 feeds a bf16 linear directly: the
// values are those linear would round x to (nearest even), without the f32 round trip.
Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps, DType out_dtype = DType::F32);
// x [T, N, D] (rows may be strided), positions [T] i64, cos/sin [P, R/2] -> [T, N, D]
Tensor rotary(const Tensor& x, const Tensor& positions, const Tensor& cos, const Tensor& sin);
// [..., 2I] = [gate | up] -> act(gate) * up [..., I] (out_dtype F32 or BF16, as rms_norm).
Tensor gated_activation(Activation act, const Tensor& gate_up, DType out_dtype = DType::F32);
// SwiGLU: gated_activation with SiLU.
inline Tensor swiglu(const Tensor& gate_up, DType out_dtype = DType::F32) {
  return gated_activation(Activation::Silu, gate_up, out_dtype);
}
// k/v [T, Hkv, D] into the caches [blocks, block_size, Hkv, D] at slots [T] (i64); an int8 cache
// (Q8Kv, core/kv_quantization.h: [blocks, block_size, Hkv, D + 4] bytes) quantizes each row.
void kv_cache_write(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& k_cache, Tensor& v_cache);
// q [T, Hq, D]; block_tables [S, max_blocks] i32; seq_lens [S] i32; query_start [S+1] i32 -> [T, Hq, D]
Tensor paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables,
                       const Tensor& seq_lens, const Tensor& query_start, const PagedAttentionParams& params);
// Packed sequences without a KV cache (encoders): q [T, Hq, D], k/v [T, Hkv, D] (rows and heads
// may be strided, e.g. views of one fused QKV output), query_start [S+1] i32/i64 -> [T, Hq, D] f32.
Tensor varlen_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& query_start,
                        const VarlenAttentionParams& params);
// --- audio ops (see backends/backend.h; activations channels last) ---
// x [B, L, Cin], w [Cout, Cin/groups, K] (torch's layout), bias [Cout] or null -> [B, Lout, Cout] f32.
Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv1dParams& params);
// torch.nn.GroupNorm over channels-last x [B, L, C]: `groups` groups of C/groups channels.
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor* bias, float eps);
// --- image ops (see backends/backend.h; activations channels last) ---
// x [B, H, W, Cin], w [Cout, Cin/groups, KH, KW] (torch's layout), bias [Cout] or null ->
// [B, Hout, Wout, Cout] f32; with the epilogue, activation(conv + bias + residual), fused where
// the backend can.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& params,
              const ConvEpilogue& epilogue = {});
// x [B, H, W, C] -> [B, Hout, Wout, C]: torch's max_pool2d (padding never wins).
Tensor max_pool2d(const Tensor& x, const MaxPool2dParams& params);
// Tensors of one dtype and device with the same trailing shape, stacked along dim 0 into a new
// contiguous tensor on that device (packing per-sequence results into one step's rows; one part
// comes back as it is when already contiguous).
Tensor concat_rows(const std::vector<Tensor>& parts);
// Decoder rows against encoder rows (encoder-decoders): q [T, Hq, D] packed by query_start [S+1];
// k/v [Tk, Hkv, D] (strided views allowed); kv_ranges [S, 2] i32 -> [T, Hq, D] f32.
Tensor cross_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& query_start,
                       const Tensor& kv_ranges, const CrossAttentionParams& params);
// Moves (copies) a tensor to another device.
Tensor to_device(const Tensor& x, Device device);
// Waits for every op queued on `device` (see Backend::synchronize).
void synchronize(Device device);

}  // namespace ia::ops
