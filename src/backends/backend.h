#pragma once
// The contract every device backend implements (ggml-style): allocate, copy,
// supports(op, dtype), and one entry point per op. The ops layer checks shapes
// and allocates outputs; a backend only computes. A new device (CUDA) is a new
// subclass registered with register_backend; ops and models do not change.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/memory_budget.h"
#include "core/device.h"
#include "core/error.h"
#include "core/pool_mode.h"
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
  RmsNorm,
  Rotary,
  SwiGlu,          // gated activations: act(gate) * up (SwiGLU, GEGLU, ReGLU)
  PagedAttention,  // kv_cache_write + paged_attention; supports() is asked with the KV cache's dtype
  VarlenAttention,
  ArgMax,
  TopK,
  Conv1d,
  GroupNorm,
  CrossAttention,
  Conv2d,
  MaxPool2d,
};
const char* op_kind_name(OpKind op);

// QuickGelu: x * sigmoid(1.702 x) (CLIP's "quick_gelu").
enum class Activation { GeluErf, GeluTanh, Tanh, Relu, Silu, QuickGelu };

// Elementwise work applied to a linear layer's output, in this order:
// out = activation(x @ w^T + bias) + residual. Backends fuse it into the GEMM
// where they can; the default implementation runs the separate ops.
struct LinearEpilogue {
  bool has_activation = false;
  Activation activation = Activation::GeluErf;
  const Tensor* residual = nullptr;  // out-shaped f32, or null
};

// Elementwise work applied to a convolution's output, in a ResNet block's order:
// out = activation(conv(x, w) + bias + residual).
struct ConvEpilogue {
  const Tensor* residual = nullptr;  // out-shaped f32 contiguous, or null
  bool has_activation = false;
  Activation activation = Activation::Relu;
};

struct AttentionParams {
  float scale = 1.0f;  // usually 1/sqrt(head_dim)
  bool causal = false;
};

// A relative position bias (T5): added to every scaled score before the softmax, per query head
// and by the key's position relative to the query's. bias [Hq, 2W + 1] f32, contiguous, on the
// op's device: the score of query position p and key position j in head h gets
// bias[h, clamp(j - p, -W, W) + W]. T5's buckets no longer change past their max distance, so
// a table of W = relative_attention_max_distance covers every length exactly.
struct PositionBias {
  const Tensor* bias = nullptr;  // null: none
  int64_t max_distance() const { return bias ? (bias->size(1) - 1) / 2 : 0; }
};

// Decoder attention over a paged KV cache (see paged_attention below).
struct PagedAttentionParams {
  float scale = 1.0f;  // usually 1/sqrt(head_dim)
  int64_t window = 0;  // > 0: sliding window, a query at position p sees keys p-window+1 .. p (Mistral)
  // Q K^T and P V may take bf16 inputs (f32 accumulation, f32 softmax), as a bf16 model's
  // attention does in transformers; a backend may ignore it and stay in f32.
  bool bf16_products = false;
  PositionBias position_bias;  // positions: a row's position in its sequence
};

// Attention of packed sequences without a KV cache (see varlen_attention below).
struct VarlenAttentionParams {
  float scale = 1.0f;  // usually 1/sqrt(head_dim)
  bool causal = false;
  int64_t window = 0;  // causal only: > 0, a query at position p sees keys p-window+1 .. p
  // Q K^T and P V take bf16-rounded inputs (q, k, v, probabilities) with f32 accumulation and
  // f32 softmax, as PyTorch runs a bf16 model's SDPA; f32 otherwise.
  bool bf16_products = false;
  PositionBias position_bias;  // positions: a row's index within its sequence
};

// Cross-attention of decoder rows to encoder rows (see cross_attention below).
struct CrossAttentionParams {
  float scale = 1.0f;          // 1/sqrt(head_dim) for Whisper; T5 uses 1
  bool bf16_products = false;  // as VarlenAttentionParams
};

// A 1-D convolution as torch.nn.functional.conv1d computes it (cross-correlation; zero padding of
// `padding` samples at both ends), on channels-last activations (see Backend::conv1d).
struct Conv1dParams {
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t dilation = 1;
  int64_t groups = 1;
};

// Output length of a conv1d over `length` samples: (length + 2 padding - dilation (kernel - 1) - 1)
// / stride + 1, as torch computes it; <= 0 when the input is shorter than the (dilated) kernel.
inline int64_t conv1d_output_length(int64_t length, int64_t kernel, const Conv1dParams& p) {
  const int64_t span = length + 2 * p.padding - p.dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : span / p.stride + 1;
}

// A 2-D convolution as torch.nn.functional.conv2d computes it (cross-correlation; zero padding
// of padding_h rows at the top and bottom, padding_w columns left and right), on channels-last
// activations (see Backend::conv2d).
struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t padding_h = 0, padding_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
  // x and w may be rounded to bf16 with f32 accumulation and an f32 output, as PyTorch runs a bf16
  // model's convolutions; a backend may ignore it and stay in f32.
  bool bf16_products = false;
};

// torch.nn.functional.max_pool2d (dilation 1, ceil_mode False): padding counts as -inf.
struct MaxPool2dParams {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t padding_h = 0, padding_w = 0;
};

// Output size of a convolution or pooling window along one axis, as torch computes it
// (floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1); 0 when the (dilated)
// kernel does not fit.
inline int64_t window_output_size(int64_t size, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation) {
  const int64_t span = size + 2 * padding - dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

// Ops a backend recorded once and runs again on the same buffers (a CUDA graph). See
// Backend::begin_recording.
class RecordedWork {
 public:
  virtual ~RecordedWork() = default;
  // Queues the recorded ops again, in order, after what is already queued.
  virtual void replay() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;  // "cpu (avx512_core_amx)", "cuda:0 (H100)"

  virtual std::shared_ptr<Storage> allocate(size_t bytes) = 0;
  // Copies between two tensors of the same shape and dtype; one of them lives on this backend's device.
  // A copy to the host returns once the data is there; everything else may run asynchronously
  // (a GPU backend queues its ops on a stream in call order).
  virtual void copy(const Tensor& src, Tensor& dst) = 0;
  // Waits until every op queued so far has finished (timing, handing buffers to other code).
  // A backend that computes synchronously has nothing to wait for.
  virtual void synchronize() {}

  // Recording (a backend that queues its ops, to take the host out of a repeated step): between
  // begin_recording and end_recording the ops this thread issues to the backend are recorded,
  // not run; replay runs them on the same tensors. Tensors allocated while recording come from
  // memory kept for the recording while it lives, so a replay never writes memory someone else
  // holds by then. Nothing may be copied to or from the host, or waited for, while recording.
  // end_recording must follow a begin_recording on the same thread, also after an op failed
  // (it then throws). Backends that run ops as they are called (the CPU) cannot record.
  // Free and total memory of the device (free counts what the backend keeps cached for reuse);
  // nullopt where the backend does not budget memory (the CPU).
  virtual std::optional<DeviceMemoryInfo> memory_info() const { return std::nullopt; }
  // Returns what the backend keeps cached to the system (after a failed load, say).
  virtual void release_cached_memory() {}

  virtual bool can_record() const { return false; }
  virtual void begin_recording() { fail(ErrorKind::Unsupported, "{} cannot record ops", name()); }
  virtual std::unique_ptr<RecordedWork> end_recording() {
    fail(ErrorKind::Unsupported, "{} cannot record ops", name());
  }
  virtual bool supports(OpKind op, DType dtype) const = 0;

  // All outputs are preallocated, contiguous, on this device. Inputs may be
  // strided where the op says so. `dtype` of weights may differ from activations
  // (e.g. bf16 weights with f32 activations).

  // out[..., :] = table[ids[...], :]; ids are i32 or i64.
  virtual void embedding(const Tensor& table, const Tensor& ids, Tensor& out) = 0;
  // out[M, N] = x[M, K] @ w[N, K]^T (+ bias[N]); x contiguous in its last dim, f32 (bf16
  // weights: rounded to bf16 first), or already bf16 when w is bf16; out f32, or bf16 when w is
  // bf16 (the f32 result, epilogue included, rounded to nearest even: what the next bf16 linear
  // would round it to). w may also be packed (core/quantization.h: [N, quantized_row_bytes(K)]
  // of a Q8 / Q4 dtype, where supports(Linear, that dtype)): x f32 or bf16, out f32 or bf16.
  virtual void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) = 0;
  // linear followed by the epilogue; not pure: the default runs linear, activation and add.
  virtual void linear_fused(const Tensor& x, const Tensor& w, const Tensor* bias, const LinearEpilogue& epilogue,
                            Tensor& out);
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

  // --- decoder ops ---
  // out = weight * x / sqrt(mean(x^2) + eps) over the last dim, in f32 (HF LlamaRMSNorm);
  // out f32, or bf16 (rounded to nearest even) where supports(RmsNorm, BF16).
  virtual void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) = 0;
  // Rotary embedding, HF rotate_half layout: x [T, N, D] (dims 0/1 may be strided, last dim
  // contiguous), positions [T] i64, cos/sin [P, R/2] f32 with R <= D rotated dims (the rest is
  // copied). For i < R/2: out[i] = x[i] c - x[i+R/2] s, out[i+R/2] = x[i+R/2] c + x[i] s.
  virtual void rotary(const Tensor& x, const Tensor& positions, const Tensor& cos, const Tensor& sin, Tensor& out) = 0;
  // x [..., 2I] = [gate | up] -> out [..., I] = act(gate) * up, f32 (gate and up fused in one GEMM):
  // SwiGLU with Silu (LLaMA; gate / (1 + exp(-gate)) * up), GEGLU with GeluTanh (T5 v1.1's
  // gated-gelu), ReGLU with Relu, ... act as the activation op computes it. out f32, or bf16
  // where supports(SwiGlu, BF16).
  virtual void gated_activation(Activation act, const Tensor& x, Tensor& out) = 0;
  // Writes k/v [T, Hkv, D] (row strides allowed, last dim contiguous) into the paged caches
  // [num_blocks, block_size, Hkv, D] at slots[t] (i64: block * block_size + offset). The caches'
  // dtype is the KV cache's (core/kv_quantization.h): F32, or where supports(PagedAttention, Q8Kv)
  // int8 rows [num_blocks, block_size, Hkv, D + 4] bytes, each (token, head) quantized as it is
  // written (quantize_kv_row) and dequantized as paged_attention reads it.
  virtual void kv_cache_write(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& k_cache,
                              Tensor& v_cache) = 0;
  // Causal attention of new tokens against the paged cache (prefill and decode alike).
  // q [T, Hq, D] holds the new tokens of S sequences back to back: sequence s owns rows
  // query_start[s] .. query_start[s+1]-1 (query_start [S+1] i32), which are its last positions
  // once the cache holds seq_lens[s] (i32) tokens. block_tables [S, max_blocks] i32 maps a
  // sequence's position p to block block_tables[s, p / block_size]. Grouped-query: q head h
  // reads kv head h / (Hq / Hkv). With a position bias, a row's position is its cache position.
  // out [T, Hq, D].
  virtual void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                               const Tensor& block_tables, const Tensor& seq_lens, const Tensor& query_start,
                               const PagedAttentionParams& params, Tensor& out) = 0;

  // Attention of sequences packed back to back, without a KV cache (encoders; a prompt's
  // self-attention when nothing is cached). q [T, Hq, D], k/v [T, Hkv, D] (dims 0/1 may be
  // strided, last dim contiguous: usually narrow views of one fused QKV output [T, Hq+2Hkv, D]);
  // query_start [S+1] (i32/i64, ascending, within [0, T]): sequence s owns rows
  // query_start[s] .. query_start[s+1]-1 of q, k, v. A query sees the keys of its own sequence:
  // all of them, or with causal only those at or before it (and within `window` when > 0).
  // GQA: q head h reads kv head h / (Hq / Hkv). With a position bias, a row's position is its
  // index in its sequence. out [T, Hq, D] f32; rows no sequence owns are 0.
  virtual void varlen_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& query_start,
                                const VarlenAttentionParams& params, Tensor& out) = 0;

  // Cross-attention (encoder-decoders): decoder rows attend to every row of their encoder
  // sequence, kept as K/V projected once per request. q [T, Hq, D] packed as for varlen
  // (query_start [S+1] i32, ascending within [0, T]); k/v [Tk, Hkv, D] (dims 0/1 may be strided,
  // last dim contiguous: views of one fused K|V projection of the encoder outputs); kv_ranges
  // [S, 2] i32: the rows of sequence s see keys kv_ranges[s, 0] .. kv_ranges[s, 1] - 1, all of
  // them (no mask). Ranges may overlap or repeat (the beams of one prompt share its encoder
  // rows); an empty range gives zeros. GQA as varlen. out [T, Hq, D] f32; rows no sequence owns
  // are 0.
  virtual void cross_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& query_start,
                               const Tensor& kv_ranges, const CrossAttentionParams& params, Tensor& out) = 0;

  // The index of each row's first maximum: x [R, C] f32 contiguous (C >= 1) -> out [R] i32, as
  // torch.argmax (rows without NaN). A decode step's greedy choice is made on the device that
  // holds the logits, so only the ids cross to the host.
  virtual void argmax(const Tensor& x, Tensor& out) = 0;
  // The k largest of each row, most likely first (equal values: the lower index first, the
  // order the host sampler sorts by): x [R, C] f32 contiguous, 1 <= k <= min(C, 1024) ->
  // values [R, k] f32, ids [R, k] i32. Sampling with top-k then needs only these on the host.
  virtual void top_k(const Tensor& x, int64_t k, Tensor& values, Tensor& ids) = 0;

  // --- audio ops (convolutional front ends: Wav2Vec2's feature encoder and positional
  // convolution, Whisper's stem) ---
  // Activations are channels last, [B, L, C] contiguous: time-major rows as every other activation
  // here, so a conv's output is the next layer's [rows, hidden] without a transpose.
  // out[b, t, o] = bias[o] + sum_{i < Cin/G, k < K} x[b, t s + k d - p, g Cin/G + i] w[o, i, k]
  // with g = o / (Cout/G) and x = 0 outside [0, L): x [B, L, Cin] f32, w [Cout, Cin/G, K] f32 in
  // torch's layout (the checkpoint's), bias [Cout] f32 or null, out [B, Lout, Cout] f32 with
  // Lout = conv1d_output_length(L, K, p) >= 1.
  virtual void conv1d(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv1dParams& p, Tensor& out) = 0;
  // torch.nn.GroupNorm on channels-last x [B, L, C] f32 contiguous: channels split into `groups`
  // groups of C/G; each (b, group) is normalised over its L x C/G values (mean and biased variance),
  // then out = normalised * weight[c] + bias[c] (weight/bias [C] f32, bias may be null).
  virtual void group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor* bias, float eps,
                          Tensor& out) = 0;

  // --- image ops (convolutional backbones: DETR's ResNet), channels last as the audio ops ---
  // out[b, y, x, o] = bias[o] + sum_{i < Cin/G, ky < KH, kx < KW}
  //     in[b, y sh + ky dh - ph, x sw + kx dw - pw, g Cin/G + i] w[o, i, ky, kx]
  // with g = o / (Cout/G) and in = 0 outside the image: in [B, H, W, Cin] f32 contiguous, w
  // [Cout, Cin/G, KH, KW] f32 in torch's layout (the checkpoint's), bias [Cout] f32 or null, out
  // [B, Hout, Wout, Cout] f32 with each side window_output_size(...) >= 1. The output rows are
  // the next layer's [B, Hout Wout, Cout] tokens without a transpose.
  virtual void conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p, Tensor& out) = 0;
  // conv2d followed by the epilogue; not pure: the default runs conv2d, add and activation.
  virtual void conv2d_fused(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p,
                            const ConvEpilogue& epilogue, Tensor& out);
  // out[b, y, x, c] = max over the window (rows y sh - ph .. + KH - 1, columns x sw - pw .. + KW - 1)
  // of in[b, ., ., c], positions outside the image left out: x [B, H, W, C] f32 contiguous, out
  // [B, Hout, Wout, C] with each side window_output_size(...) >= 1 and padding <= kernel / 2 (torch's
  // rule, so every window holds at least one pixel).
  virtual void max_pool2d(const Tensor& x, const MaxPool2dParams& p, Tensor& out) = 0;
};

// The backend that runs tensors on `device`; throws ErrorKind::Unavailable when none is registered.
Backend& backend_for(Device device);
void register_backend(std::unique_ptr<Backend> backend);
bool has_backend(Device device);
// Every registered backend, CPU first (the conformance test runs each op on each).
std::vector<Backend*> registered_backends();

}  // namespace ia
