// Baseline kernels: plain C++ the compiler vectorises for the build's target
// ISA; transcendental functions come from libm, so this path is also the most
// exact one.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "backends/cpu/kernels.h"
#include "core/dtype.h"

namespace ia::cpu {
namespace {

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;

void gelu_erf(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    // For v < 0, erfc keeps the relative accuracy where 1 + erf cancels.
    y[i] = v >= 0 ? 0.5f * v * (1.0f + std::erf(v * kInvSqrt2)) : 0.5f * v * std::erfc(-v * kInvSqrt2);
  }
}

void gelu_tanh(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    float u = kSqrt2OverPi * (v + 0.044715f * v * v * v);
    // 0.5 v (1 + tanh u) == v / (1 + exp(-2u)), without cancellation.
    y[i] = v / (1.0f + std::exp(-2.0f * u));
  }
}

void silu(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void quick_gelu(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + std::exp(-1.702f * x[i]));
}

void relu(const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void add(const float* a, const float* b, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void layer_norm(const float* x, const float* w, const float* b, float eps, float* y, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / static_cast<double>(n);
  double sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    double d = x[i] - mean;
    sq += d * d;
  }
  const float rstd = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(n) + eps));
  const float m = static_cast<float>(mean);
  if (b) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) * rstd * w[i] + b[i];
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) * rstd * w[i];
  }
}

void softmax(const float* x, float* y, int64_t n) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  if (mx == -std::numeric_limits<float>::infinity()) {
    std::fill(y, y + n, 0.0f);
    return;
  }
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    y[i] = std::exp(x[i] - mx);
    sum += y[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) y[i] *= inv;
}

void attn_softmax(const float* s, float* p, int64_t n, int64_t limit, const uint8_t* keep, float scale) {
  limit = std::min(limit, n);
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < limit; ++j)
    if (!keep || keep[j]) mx = std::max(mx, s[j] * scale);
  if (mx == -std::numeric_limits<float>::infinity()) {
    std::fill(p, p + n, 0.0f);
    return;
  }
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    float e = (j < limit && (!keep || keep[j])) ? std::exp(s[j] * scale - mx) : 0.0f;
    p[j] = e;
    sum += e;
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n; ++j) p[j] *= inv;
}

void f32_to_bf16_row(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
}

void bf16_to_f32_row(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(x[i]);
}

void rms_norm(const float* x, const float* w, float eps, float* y, int64_t n) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(std::max<int64_t>(n, 1)) + eps));
  for (int64_t i = 0; i < n; ++i) y[i] = w[i] * (x[i] * inv);
}

void swiglu(const float* gate, const float* up, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

float dot(const float* a, const float* b, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

float dot_i8(const float* a, const int8_t* q, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * static_cast<float>(q[i]);
  return s;
}

void axpy_i8(float a, const int8_t* q, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * static_cast<float>(q[i]);
}

void dequantize_i8(const int8_t* q, float s, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = s * static_cast<float>(q[i]);
}

void max_into(const float* x, float* y, int64_t n) {
  // A select rather than a conditional store, so the baseline ISA vectorises it.
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] > y[i] || x[i] != x[i]) ? x[i] : y[i];
}

void sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
           int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    for (int64_t j = 0; j < n; ++j) ci[j] = 0.0f;
    for (int64_t p = 0; p < k; ++p) {
      const float av = a[i * lda + p];
      const float* bp = b + p * ldb;
      for (int64_t j = 0; j < n; ++j) ci[j] += av * bp[j];
    }
  }
}

}  // namespace

void pack_bf16_pairs(const uint16_t* x, int64_t M, int64_t K, int64_t ldx, uint16_t* out) {
  // A 16 x K/2 transpose of 32-bit pairs: each row of x is read once, in order (this runs
  // on one thread before every batched-decode linear, so it must stay small next to it).
  if (M < 16) std::fill(out, out + 16 * K, uint16_t{0});
  for (int64_t m = 0; m < M; ++m) {
    const uint16_t* row = x + m * ldx;
    for (int64_t kp = 0; kp < K / 2; ++kp) std::memcpy(out + kp * 32 + 2 * m, row + 2 * kp, 2 * sizeof(uint16_t));
  }
}

void round_bf16_row(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(f32_to_bf16(x[i]));
}

void transpose_rows(const float* const* rows, int64_t m, int64_t n, float* y, int64_t ldy) {
  for (int64_t c = 0; c < n; ++c)
    for (int64_t r = 0; r < m; ++r) y[c * ldy + r] = rows[r][c];
}

void interleave_bf16(const float* a, const float* b, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    y[2 * i] = f32_to_bf16(a[i]);
    y[2 * i + 1] = f32_to_bf16(b[i]);
  }
}

const Kernels& generic_kernels() {
  static const Kernels k{Isa::Generic,
                         "generic",
                         gelu_erf,
                         gelu_tanh,
                         silu,
                         relu,
                         quick_gelu,
                         add,
                         layer_norm,
                         softmax,
                         attn_softmax,
                         f32_to_bf16_row,
                         bf16_to_f32_row,
                         rms_norm,
                         swiglu,
                         dot,
                         axpy,
                         nullptr,
                         nullptr,
                         sgemm,
                         nullptr,
                         nullptr,
                         nullptr,
                         round_bf16_row,
                         transpose_rows,
                         interleave_bf16,
                         dot_i8,
                         axpy_i8,
                         dequantize_i8,
                         max_into};
  return k;
}

namespace {
const Kernels*& forced() {
  static const Kernels* f = nullptr;
  return f;
}

const Kernels& best() {
  static const Kernels* k = [] {
    const char* env = std::getenv("IA_CPU_ISA");
    if (env && std::strcmp(env, "generic") == 0) return &generic_kernels();
    if (const Kernels* a = avx512_kernels()) return a;
    return &generic_kernels();
  }();
  return *k;
}
}  // namespace

const Kernels& kernels() {
  const Kernels* f = forced();
  return f ? *f : best();
}

bool isa_available(Isa isa) {
  return isa == Isa::Generic || avx512_kernels() != nullptr;
}

bool force_isa(Isa isa) {
  if (!isa_available(isa)) return false;
  forced() = isa == Isa::Generic ? &generic_kernels() : avx512_kernels();
  return true;
}

}  // namespace ia::cpu
