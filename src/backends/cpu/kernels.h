#pragma once
// Row-level CPU kernels behind a runtime-dispatched table. One binary runs on
// any x86-64: the generic table is plain C++ (auto-vectorised for the build's
// baseline ISA, exact libm erf/exp); the AVX-512 table lives in its own
// translation unit whose functions carry __attribute__((target(...))) and is
// chosen at run time with __builtin_cpu_supports.
#include <cstdint>

namespace ia::cpu {

enum class Isa { Generic, Avx512 };

struct Kernels {
  Isa isa;
  const char* name;
  // y[i] = act(x[i]) for n elements (x == y allowed).
  void (*gelu_erf)(const float* x, float* y, int64_t n);
  void (*gelu_tanh)(const float* x, float* y, int64_t n);
  void (*silu)(const float* x, float* y, int64_t n);
  void (*relu)(const float* x, float* y, int64_t n);
  void (*quick_gelu)(const float* x, float* y, int64_t n);  // x * sigmoid(1.702 x)
  // y = a + b (n elements).
  void (*add)(const float* a, const float* b, float* y, int64_t n);
  // One row of layer norm; b may be null.
  void (*layer_norm)(const float* x, const float* w, const float* b, float eps, float* y, int64_t n);
  // One row of softmax over n elements (x == y allowed). A row of all -inf gives zeros.
  void (*softmax)(const float* x, float* y, int64_t n);
  // Attention probabilities for one query row: p[j] = softmax_j(scale * s[j]) over
  // keys j < limit with keep[j] != 0 (keep may be null = all); others 0. No key -> zeros.
  void (*attn_softmax)(const float* s, float* p, int64_t n, int64_t limit, const uint8_t* keep, float scale);
  // Round-to-nearest-even f32 -> bf16 (NaN stays NaN), and back.
  void (*f32_to_bf16)(const float* x, uint16_t* y, int64_t n);
  void (*bf16_to_f32)(const uint16_t* x, float* y, int64_t n);
  // One row of RMS norm: y = w * x / sqrt(mean(x^2) + eps).
  void (*rms_norm)(const float* x, const float* w, float eps, float* y, int64_t n);
  // y = silu(gate) * up (n elements).
  void (*swiglu)(const float* gate, const float* up, float* y, int64_t n);
  // sum a[i] b[i]; and y += a x (attention over cached keys / values).
  float (*dot)(const float* a, const float* b, int64_t n);
  void (*axpy)(float a, const float* x, float* y, int64_t n);
  // Small-M bf16 GEMV for decode: y[m, j] = sum_k x[m, k] w[j, k] (+ bias[j]) for output
  // rows j in [j0, j1), m < M <= 8; x already holds bf16-representable values. Null when the
  // ISA has no fast version (the caller then uses oneDNN).
  void (*gemv_bf16)(const float* x, int64_t M, int64_t K, int64_t ldx, const uint16_t* w, int64_t ldw,
                    const float* bias, float* y, int64_t ldy, int64_t j0, int64_t j1);
  // As gemv_bf16 with x in bf16 (row stride ldx), multiplied pairwise in bf16 with f32
  // accumulation (AVX512-BF16 vdpbf16ps). Null without AVX512-BF16.
  void (*gemv_bf16_dp)(const uint16_t* x, int64_t M, int64_t K, int64_t ldx, const uint16_t* w, int64_t ldw,
                       const float* bias, float* y, int64_t ldy, int64_t j0, int64_t j1);
  // Small single-threaded f32 GEMM, all row-major: c[i, j] = sum_p a[i, p] b[p, j] for
  // i < m, j < n (c overwritten). Prefill attention's Q K^T (K transposed) and P V per
  // (head, query block), each task on one thread.
  void (*sgemm)(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                int64_t ldc);
  // Decode of 2-16 rows on AMX tiles: y[m, j] = sum_k x[m, k] w[j, k] (+ bias[j]) for
  // j in [j0, j1), both multiples of 16, K a multiple of 32. The weights are the tiles' A
  // operand as they lie (row-major rows), x the B operand, packed by pack_bf16_pairs;
  // the tile unit's throughput leaves the 2-16 rows bound by the weight stream, as one
  // row is. Null without AMX-BF16 (or without the kernel's permission to use it).
  void (*gemv_bf16_amx)(const uint16_t* x_pairs, int64_t M, int64_t K, const uint16_t* w, int64_t ldw,
                        const float* bias, float* y, int64_t ldy, int64_t j0, int64_t j1);
  // Attention products in bf16 for one (head, block of 64 query rows), D a
  // multiple of 32, key counts multiples of 32. Scores: s[i, j] = sum_d q[i, d] k[j, d] with q
  // bf16 [64, D] and k as pairs along d, k_pairs[(d / 2) * ldk + 2 j + d % 2] (ldk = 2 * keys
  // in the buffer), s f32 with row stride lds. Values: o[i, d] = sum_j p[i, j] v[j, d] with p
  // bf16 [64, nk] and v as pairs along keys, v_pairs[(j / 2) * 2 D + 2 d + j % 2]; o f32 [64, D].
  // AMX tiles where usable, else vdpbf16ps (AVX512-BF16); null without either.
  void (*attn_scores_bf16)(const uint16_t* q, int64_t D, const uint16_t* k_pairs, int64_t ldk, int64_t nk, float* s,
                           int64_t lds);
  void (*attn_values_bf16)(const uint16_t* p, int64_t nk, const uint16_t* v_pairs, int64_t D, float* o);
  // y = x rounded to the nearest bf16 value, kept in f32 (as f32_to_bf16 then bf16_to_f32, in
  // one pass; x == y allowed): bf16 products computed as exact f32 products.
  void (*round_bf16)(const float* x, float* y, int64_t n);
  // Transposes up to 16 rows of n floats each (rows[r], r < m <= 16) into columns:
  // y[c * ldy + r] = rows[r][c] for c < n, r < m (K gathered for Q K^T).
  // (Any 32-bit elements: they are moved bit for bit, e.g. pairs of bf16.)
  void (*transpose_rows)(const float* const* rows, int64_t m, int64_t n, float* y, int64_t ldy);
  // Two rows rounded to bf16 and interleaved: y[2 i] = bf16(a[i]), y[2 i + 1] = bf16(b[i]), i < n
  // (V rows as the key pairs of bf16 attention products).
  void (*interleave_bf16)(const float* a, const float* b, uint16_t* y, int64_t n);
  // The int8 KV cache's rows (core/kv_quantization.h), dequantized on the fly; the caller applies
  // the row's scale: sum a[i] q[i]; y += a q; y = s q (n elements).
  float (*dot_i8)(const float* a, const int8_t* q, int64_t n);
  void (*axpy_i8)(float a, const int8_t* q, float* y, int64_t n);
  void (*dequantize_i8)(const int8_t* q, float s, float* y, int64_t n);
  // y[i] = x[i] where x[i] > y[i] or x[i] is NaN (torch's max propagates NaN): one window
  // position of max_pool2d over n channels.
  void (*max_into)(const float* x, float* y, int64_t n);
};

// x [M <= 16, K] bf16 (row stride ldx) as the B operand of a tile product: out[(k / 2) * 32
// + 2 * m + k % 2] = x[m, k], rows m >= M zero; out holds K * 16 values (K even).
void pack_bf16_pairs(const uint16_t* x, int64_t M, int64_t K, int64_t ldx, uint16_t* out);

const Kernels& generic_kernels();
// Null when the CPU (or the compiler) lacks AVX-512.
const Kernels* avx512_kernels();

// The kernels in use: the best the CPU supports, unless IA_CPU_ISA=generic in
// the environment or force_isa() said otherwise.
const Kernels& kernels();
// For tests and benchmarks: returns false when `isa` is not available here.
bool force_isa(Isa isa);
bool isa_available(Isa isa);

}  // namespace ia::cpu
