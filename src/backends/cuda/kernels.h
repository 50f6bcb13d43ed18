#pragma once
// The CUDA kernels' launchers, as the backend (cuda_backend.cpp, compiled by the host compiler)
// calls them. Plain pointers and sizes only: no project header crosses into the .cu files, so
// nvcc never parses fmt or the Tensor class. Every launcher enqueues on `stream` and returns
// without synchronising; the caller checks cudaGetLastError. Element strides are in elements.
// All sizes are int64_t; a launcher may assume each is > 0 unless it says otherwise (the
// backend returns before calling with an empty tensor).
#include <cstdint>

#include <cuda_runtime_api.h>

namespace ia::cuda {

// The element types kernels read and write (the backend maps DType to these).
enum class ElemType : int { F32, F16, BF16, I64, I32, I16, I8, U8, Bool, F64 };

// Matches ia::Activation (backends/backend.h); the backend converts.
enum class Act : int { GeluErf, GeluTanh, Tanh, Relu, Silu, QuickGelu };

// Matches the pooling modes the backend's pool op takes (cls, mean, max, mean_sqrt_len).
enum class Pool : int { Cls, Mean, Max, MeanSqrtLen };

// A strided view of up to 6 dims (row-major index order), for gathers into contiguous memory.
struct StridedView {
  const void* data = nullptr;
  int dims = 0;
  int64_t shape[6] = {};
  int64_t strides[6] = {};  // elements
};

// ------------------------------------------------------------------ data movement

// dst (contiguous, numel elements of elem_bytes each) = src gathered in row-major order.
void launch_gather_strided(const StridedView& src, int elem_bytes, void* dst, int64_t numel, cudaStream_t stream);

// Elementwise conversion of n contiguous elements. Float -> int truncates toward zero as a C cast
// does; Bool / any -> Bool is (x != 0); f32 -> bf16 / f16 rounds to nearest even.
void launch_cast(const void* x, ElemType xt, void* out, ElemType ot, int64_t n, cudaStream_t stream);

// out[i, :] = table[ids[i], :] as f32, i < n_ids; table [vocab, H] of f32, bf16 or f16; ids i32
// or i64 (ids_i64). An id outside [0, vocab) writes NaN into its row and sets *bad_id_flag to 1
// (a device int the backend reads after the launch to raise the error).
void launch_embedding(const void* table, ElemType table_type, int64_t vocab, int64_t H, const void* ids, bool ids_i64,
                      int64_t n_ids, float* out, int* bad_id_flag, cudaStream_t stream);

// ------------------------------------------------------------------ elementwise (f32)

// out = act(x), n elements (out may equal x).
void launch_activation(Act act, const float* x, float* out, int64_t n, cudaStream_t stream);

// out[i] = a[i] + b[i % b_n], n elements (b broadcasts over a's leading dims; out may equal a).
void launch_add(const float* a, const float* b, int64_t b_n, float* out, int64_t n, cudaStream_t stream);

// The linear epilogue after the GEMM: y = act(acc[r, c]) (when has_act) + residual[r, c] (when
// residual != null), written to out as f32 or, when out_bf16, rounded to bf16 (nearest even).
// acc and residual are [rows, cols] contiguous f32; out [rows, cols] contiguous (may alias acc
// when out is f32).
void launch_linear_epilogue(const float* acc, bool has_act, Act act, const float* residual, void* out, bool out_bf16,
                            int64_t rows, int64_t cols, cudaStream_t stream);

// Decode-shaped bf16 linears (backends/cuda/gemv_kernels.cu): out[M, N] (contiguous, f32 or
// bf16) = act(x[M, K] @ w[N, K]^T + bias[N]) + residual[M, N], with x f32 (rounded to bf16 as the
// GEMM path rounds it) or bf16, row stride ldx; bias and residual f32 and may be null.
// gemv_bf16_applies says whether the kernel takes the call: 1 <= M <= min(max_rows,
// kGemvMaxRows), K and both row strides multiples of 8 (4 for an f32 x), 16-byte aligned x and
// w, and an activation it fuses (none, the GELUs, ReLU).
constexpr int64_t kGemvMaxRows = 8;
bool gemv_bf16_applies(const void* x, bool x_bf16, int64_t ldx, const void* w, int64_t ldw, bool has_act, Act act,
                       int64_t M, int64_t K, int64_t max_rows);
void launch_gemv_bf16(const void* x, bool x_bf16, int64_t ldx, const uint16_t* w, int64_t ldw, const float* bias,
                      bool has_act, Act act, const float* residual, void* out, bool out_bf16, int64_t M, int64_t N,
                      int64_t K, cudaStream_t stream);

// out [rows, cols] bf16 = x rounded to nearest even; x rows are `x_row_stride` apart (the last
// dim contiguous): the f32 input of a bf16 linear.
void launch_round_rows_to_bf16(const float* x, int64_t x_row_stride, uint16_t* out, int64_t rows, int64_t cols,
                               cudaStream_t stream);

// ------------------------------------------------------------------ row reductions (f32 in)

// LayerNorm over the last dim: x [rows, H] contiguous, weight/bias [H] f32 (bias may be null).
// Mean and variance (biased) in f32 with a two-pass or Welford reduction, as torch does.
void launch_layer_norm(const float* x, const float* weight, const float* bias, float eps, float* out, int64_t rows,
                       int64_t H, cudaStream_t stream);

// RMSNorm (HF LlamaRMSNorm): out = weight * (x / sqrt(mean(x^2) + eps)), in f32; weight [H] f32;
// out f32 or, when out_bf16, bf16 (nearest even).
void launch_rms_norm(const float* x, const float* weight, float eps, void* out, bool out_bf16, int64_t rows, int64_t H,
                     cudaStream_t stream);

// Softmax over the last dim of x [rows, cols] (max-subtracted, f32).
void launch_softmax(const float* x, float* out, int64_t rows, int64_t cols, cudaStream_t stream);
// out[r] = the index of row r's first maximum (torch.argmax).
void launch_argmax(const float* x, int32_t* out, int64_t rows, int64_t cols, cudaStream_t stream);
// The k largest of each row, largest first, ties by lower index (values and ids [rows, k]).
void launch_top_k(const float* x, float* values, int32_t* ids, int64_t rows, int64_t cols, int64_t k,
                  cudaStream_t stream);

// Divides each row by max(||row||_2, eps).
void launch_l2_normalize(const float* x, float eps, float* out, int64_t rows, int64_t cols, cudaStream_t stream);

// x [B, S, H] contiguous f32, mask [B, S] contiguous f32 (the mask's values as weights: 0 =
// padding; the backend casts any mask dtype to f32 first) -> out [B, H], as cpu pool_cpu
// (embedding_pool_ops.cpp): Cls row 0 whatever the mask; Mean sum(w x) / max(sum w, 1e-9);
// MeanSqrtLen sum(w x) / sqrt(max(sum w, 1e-9)); Max over rows with padding rows counting as
// -1e9. S >= 1 (the backend fills zeros for S == 0).
void launch_pool(Pool mode, const float* x, const float* mask, float* out, int64_t B, int64_t S, int64_t H,
                 cudaStream_t stream);

// ------------------------------------------------------------------ decoder ops

// Rotary, HF rotate_half layout. x [T, N, D] with strides (x_s0, x_s1, 1); positions [T] i64;
// cos/sin [P, R/2] contiguous f32 (R <= D; dims R..D-1 copied). out [T, N, D] contiguous f32.
// A position outside [0, P) writes NaN and sets *bad_flag to 1.
void launch_rotary(const float* x, int64_t x_s0, int64_t x_s1, const int64_t* positions, const float* cos,
                   const float* sin, int64_t P, int64_t R, float* out, int64_t T, int64_t N, int64_t D, int* bad_flag,
                   cudaStream_t stream);

// x [rows, 2I] = [gate | up] contiguous f32 -> out [rows, I] = act(gate) * up, f32 or bf16.
void launch_gated_activation(Act act, const float* x, void* out, bool out_bf16, int64_t rows, int64_t I,
                             cudaStream_t stream);

// k/v [T, Hkv, D] f32 with strides (s0, s1, 1) each, written to the caches
// [num_blocks * block_size, Hkv, D] (contiguous f32) at row slots[t] (i64). A slot outside
// [0, num_slots) is skipped and sets *bad_flag to 1.
void launch_kv_cache_write(const float* k, int64_t k_s0, int64_t k_s1, const float* v, int64_t v_s0, int64_t v_s1,
                           const int64_t* slots, float* k_cache, float* v_cache, int64_t num_slots, int64_t T,
                           int64_t Hkv, int64_t D, int* bad_flag, cudaStream_t stream);

// ------------------------------------------------------------------ attention (f32 in and out)

// A [rows, heads, D] tensor with arbitrary row and head strides (the last dim contiguous).
struct HeadsView {
  const float* data = nullptr;
  int64_t row_stride = 0;   // elements between consecutive rows (tokens)
  int64_t head_stride = 0;  // elements between consecutive heads
};

// Dense attention, backend.h `attention`: q [B, Sq, H, D], k/v [B, Sk, H, D] given as views whose
// rows are b * S + s (batch_stride = elements between batches, separately for q and k/v);
// key_mask [B, Sk] f32 (1 attend, 0 padding) or null; causal: query i sees keys j <= i + (Sk - Sq).
// A row that sees no key is 0. out [B, Sq, H, D] contiguous.
void launch_attention(const HeadsView& q, int64_t q_batch_stride, const HeadsView& k, const HeadsView& v,
                      int64_t kv_batch_stride, const float* key_mask, float scale, bool causal, float* out, int64_t B,
                      int64_t Sq, int64_t Sk, int64_t H, int64_t D, cudaStream_t stream);

// Packed sequences without a cache, backend.h `varlen_attention`: q [T, Hq, D], k/v [T, Hkv, D];
// query_start [S+1] i32 or i64 (starts_i64) on the device; GQA q head h reads kv head
// h / (Hq / Hkv); causal with window > 0 sees keys p-window+1 .. p. bf16_products rounds q, k, v
// and the probabilities to bf16 before the products (f32 accumulation and softmax). Rows no
// sequence owns are 0. out [T, Hq, D] contiguous.
// pos_bias (or null): a relative position bias [Hq, 2 * pos_bias_w + 1] f32 (backend.h
// PositionBias), added to the scaled score of query position p and key position j in head h as
// pos_bias[h * (2W + 1) + clamp(j - p, -W, W) + W]; positions are indices within the sequence.
void launch_varlen_attention(const HeadsView& q, const HeadsView& k, const HeadsView& v, const void* query_start,
                             bool starts_i64, int64_t S, float scale, bool causal, int64_t window, bool bf16_products,
                             const float* pos_bias, int64_t pos_bias_w, float* out, int64_t T, int64_t Hq, int64_t Hkv,
                             int64_t D, cudaStream_t stream);

// Cross-attention, backend.h `cross_attention`: q [T, Hq, D] view packed by query_start [S+1]
// i32; k/v [Tk, Hkv, D] views; kv_ranges [S, 2] i32: sequence s's rows see every key
// kv_ranges[s,0] .. kv_ranges[s,1]-1 (an empty range: zeros). Rows no sequence owns are 0.
// bf16_products as for varlen. out [T, Hq, D] contiguous.
void launch_cross_attention(const HeadsView& q, const HeadsView& k, const HeadsView& v, const int32_t* query_start,
                            const int32_t* kv_ranges, int64_t S, float scale, bool bf16_products, float* out, int64_t T,
                            int64_t Hq, int64_t Hkv, int64_t D, cudaStream_t stream);

// Causal attention of new tokens against the paged cache, backend.h `paged_attention`:
// q [T, Hq, D] view; caches [num_blocks, block_size, Hkv, D] contiguous f32; block_tables
// [S, max_blocks] i32; seq_lens [S] i32; query_start [S+1] i32 (all on the device). Sequence s
// owns q rows query_start[s] .. query_start[s+1]-1, its last positions once the cache holds
// seq_lens[s] tokens. window > 0: a query at position p sees keys p-window+1 .. p.
// bf16_products and pos_bias (positions: cache positions) as for varlen. out [T, Hq, D] contiguous.
void launch_paged_attention(const HeadsView& q, const float* k_cache, const float* v_cache, int64_t block_size,
                            const int32_t* block_tables, int64_t max_blocks, const int32_t* seq_lens,
                            const int32_t* query_start, int64_t S, float scale, int64_t window, bool bf16_products,
                            const float* pos_bias, int64_t pos_bias_w, float* out, int64_t T, int64_t Hq, int64_t Hkv,
                            int64_t D, cudaStream_t stream);

// ------------------------------------------------------------------ convolutional front ends

// col [rows, Cg K] contiguous = the im2col of one batch element x [L, Cin] (contiguous, channels
// last) for output rows t0 .. t0 + rows - 1 and channel group g (Cg channels from g Cg):
// col[r, i K + k] = x[(t0 + r) stride + k dilation - padding, g Cg + i], 0 outside [0, L). The
// column order is the conv weight's [Cout, Cg, K], so a group's GEMM reads the weights in place.
void launch_im2col_1d(const float* x, int64_t L, int64_t Cin, int64_t Cg, int64_t g, int64_t K, int64_t stride,
                      int64_t padding, int64_t dilation, int64_t t0, int64_t rows, float* col, cudaStream_t stream);

// One image's im2col for conv2d: x [H, W, Cin] contiguous (channels last), output pixels
// Hout x Wout, channel group g of Cg channels.
struct Im2col2dShape {
  int64_t H, W, Cin, Cg, g, KH, KW, Wout;
  int64_t stride_h, stride_w, padding_h, padding_w, dilation_h, dilation_w;
};

// col [rows, Cg KH KW] contiguous for output pixels p0 .. p0 + rows - 1 (row-major over
// Hout x Wout): col[r, (i KH + ky) KW + kx] = x[oy sh + ky dh - ph, ox sw + kx dw - pw, g Cg + i],
// 0 outside the image. The column order is the conv weight's [Cout, Cg, KH, KW].
void launch_im2col_2d(const float* x, const Im2col2dShape& s, int64_t p0, int64_t rows, float* col,
                      cudaStream_t stream);
// The same with col in bf16 (x rounded to nearest even).
void launch_im2col_2d_bf16(const float* x, const Im2col2dShape& s, int64_t p0, int64_t rows, uint16_t* col,
                           cudaStream_t stream);

// torch's max_pool2d (dilation 1) on channels-last x [B, H, W, C] contiguous f32: out [B, Hout,
// Wout, C] contiguous, the maximum over each window's pixels inside the image (a NaN wins).
void launch_max_pool2d(const float* x, int64_t B, int64_t H, int64_t W, int64_t C, int64_t Hout, int64_t Wout,
                       int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, float* out,
                       cudaStream_t stream);

// Row chunks group norm's first pass splits L into (at most 256, about 64 rows each).
inline int64_t group_norm_chunks(int64_t L) {
  const int64_t c = (L + 63) / 64;
  return c < 1 ? 1 : (c > 256 ? 256 : c);
}

// torch.nn.GroupNorm on channels-last x [B, L, C] contiguous f32, G groups of C/G channels:
// per-channel sums and sums of squares over row chunks in f64 (partials: B x
// group_norm_chunks(L) x 2C doubles of scratch), each group's mean and 1/sqrt(biased var + eps)
// (stats: B x G x 2 floats of scratch), then out = (x - mean) rstd weight[c] + bias[c] (bias may
// be null). out [B, L, C] contiguous.
void launch_group_norm(const float* x, const float* weight, const float* bias, float eps, float* out, int64_t B,
                       int64_t L, int64_t C, int64_t G, double* partials, float* stats, cudaStream_t stream);

}  // namespace ia::cuda
