// The quantized-linear kernels on AVX2: vpmaddubsw multiplies u8 by s8 pairwise into s16 and
// vpmaddwd sums those into int32, one activation block of 32 per vector. The s16 pair sums
// must not saturate: Q4's nibbles (u8, <= 15) times activations (|q| <= 127) stay below
// 3810; Q8 takes llama.cpp's sign trick, |w| as the u8 operand and x with w's sign as the s8
// one (<= 2 * 127 * 127 = 32258). Target attributes per function, <immintrin.h> and C headers
// only (see kernels_avx512.cpp).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backends/cpu/quant_kernels.h"
#include "core/cpu_info.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define IA_HAVE_AVX2_TU 1
#define IA_AVX2 __attribute__((target("avx2,fma,f16c")))
#define IA_AVX2_INLINE IA_AVX2 __attribute__((always_inline)) inline
#endif

namespace ia::cpu {

#if IA_HAVE_AVX2_TU
namespace {

IA_AVX2_INLINE float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

IA_AVX2_INLINE __m256i block_dot(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

IA_AVX2_INLINE float f16_at(const uint8_t* s, int64_t i) {
  uint16_t h;
  std::memcpy(&h, s + 2 * i, 2);
  return _cvtsh_ss(h);
}

IA_AVX2 void quantize_row(const float* x, int64_t K, int8_t* q, float* d, float* ds) {
  const int64_t Kp = (K + 63) / 64 * 64;
  alignas(32) float buf[32];
  for (int64_t b0 = 0; b0 < Kp; b0 += 32) {
    const int64_t n = K - b0 < 0 ? 0 : (K - b0 > 32 ? 32 : K - b0);
    std::memset(buf, 0, sizeof(buf));
    if (n > 0) std::memcpy(buf, x + b0, static_cast<size_t>(n) * sizeof(float));
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 mx = _mm256_setzero_ps();
    for (int i = 0; i < 32; i += 8) mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_load_ps(buf + i)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float scale = _mm_cvtss_f32(m4) / 127.0f;
    const __m256 inv = _mm256_set1_ps(scale != 0 ? 1.0f / scale : 0.0f);
    __m256i sum = _mm256_setzero_si256();
    for (int i = 0; i < 32; i += 8) {
      // Ties to even: vcvtps2dq under the default rounding mode.
      __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_load_ps(buf + i), inv));
      v = _mm256_min_epi32(_mm256_set1_epi32(127), _mm256_max_epi32(_mm256_set1_epi32(-127), v));
      sum = _mm256_add_epi32(sum, v);
      alignas(32) int32_t lanes[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), v);
      for (int l = 0; l < 8; ++l) q[b0 + i + l] = static_cast<int8_t>(lanes[l]);
    }
    alignas(32) int32_t s8[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(s8), sum);
    const int total = s8[0] + s8[1] + s8[2] + s8[3] + s8[4] + s8[5] + s8[6] + s8[7];
    d[b0 / 32] = scale;
    ds[b0 / 32] = scale * static_cast<float>(total);
  }
}

template <int MT>
IA_AVX2 void q8_rows(const QuantizedActivations& x, int64_t m0, const uint8_t* w, int64_t ldw, const float* bias,
                     float* y, int64_t ldy, int64_t j0, int64_t j1) {
  const int64_t Kp = x.Kp, nb = Kp / 32, blocks = (x.K + 31) / 32;
  for (int64_t j = j0; j < j1; ++j) {
    const uint8_t* row = w + j * ldw;
    __m256 acc[MT];
    for (int m = 0; m < MT; ++m) acc[m] = _mm256_setzero_ps();
    for (int64_t b = 0; b < blocks; ++b) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 32 * b));
      const __m256i aw = _mm256_sign_epi8(wv, wv);
      for (int m = 0; m < MT; ++m) {
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q + (m0 + m) * Kp + 32 * b));
        const __m256i dot = block_dot(aw, _mm256_sign_epi8(xv, wv));
        acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(x.d[(m0 + m) * nb + b]), acc[m]);
      }
    }
    float scale;
    std::memcpy(&scale, row + Kp, 4);
    for (int m = 0; m < MT; ++m) y[(m0 + m) * ldy + j] = scale * hsum(acc[m]) + (bias ? bias[j] : 0.0f);
  }
}

template <int MT>
IA_AVX2 void q4_rows(const QuantizedActivations& x, int64_t G, bool zero_points, int64_t m0, const uint8_t* w,
                     int64_t ldw, const float* bias, float* y, int64_t ldy, int64_t j0, int64_t j1) {
  const int64_t K = x.K, Kp = x.Kp, nb = Kp / 32, groups = K / G, blocks = K / 32;
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  for (int64_t j = j0; j < j1; ++j) {
    const uint8_t* row = w + j * ldw;
    const uint8_t* scales = row + Kp / 2;
    const uint8_t* zeros = zero_points ? scales + 2 * groups : nullptr;
    __m256 acc[MT];
    for (int m = 0; m < MT; ++m) acc[m] = _mm256_setzero_ps();
    for (int64_t b = 0; b < blocks; b += 2) {
      const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 16 * b));
      const __m256i wv[2] = {_mm256_and_si256(packed, low4), _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4)};
      for (int h = 0; h < 2 && b + h < blocks; ++h) {
        const float s = f16_at(scales, (b + h) * 32 / G);
        for (int m = 0; m < MT; ++m) {
          const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q + (m0 + m) * Kp + 32 * (b + h)));
          const __m256i dot = block_dot(wv[h], xv);
          acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(s * x.d[(m0 + m) * nb + b + h]), acc[m]);
        }
      }
    }
    for (int m = 0; m < MT; ++m) {
      float zero_term = 0;
      const float* gds = x.group_ds + (m0 + m) * x.groups;
      for (int64_t g = 0; g < groups; ++g)
        zero_term += f16_at(scales, g) * static_cast<float>(zeros ? zeros[g] : 8) * gds[g];
      y[(m0 + m) * ldy + j] = hsum(acc[m]) - zero_term + (bias ? bias[j] : 0.0f);
    }
  }
}

template <int MT>
IA_AVX2 void rows_of(DType wt, const QuantizedActivations& x, int64_t m0, const uint8_t* w, int64_t ldw,
                     const float* bias, float* y, int64_t ldy, int64_t j0, int64_t j1) {
  switch (wt) {
    case DType::Q8: q8_rows<MT>(x, m0, w, ldw, bias, y, ldy, j0, j1); break;
    case DType::Q4G32: q4_rows<MT>(x, 32, false, m0, w, ldw, bias, y, ldy, j0, j1); break;
    case DType::Q4ZG32: q4_rows<MT>(x, 32, true, m0, w, ldw, bias, y, ldy, j0, j1); break;
    case DType::Q4G128: q4_rows<MT>(x, 128, false, m0, w, ldw, bias, y, ldy, j0, j1); break;
    case DType::Q4ZG128: q4_rows<MT>(x, 128, true, m0, w, ldw, bias, y, ldy, j0, j1); break;
    default: break;
  }
}

IA_AVX2 void gemv(DType wt, const QuantizedActivations& x, const uint8_t* w, int64_t ldw, const float* bias, float* y,
                  int64_t ldy, int64_t j0, int64_t j1) {
  constexpr int64_t kRowsPerBlock = 8;
  for (int64_t jb = j0; jb < j1; jb += kRowsPerBlock) {
    const int64_t je = jb + kRowsPerBlock < j1 ? jb + kRowsPerBlock : j1;
    int64_t m = 0;
    for (; m + 4 <= x.M; m += 4) rows_of<4>(wt, x, m, w, ldw, bias, y, ldy, jb, je);
    switch (x.M - m) {
      case 3: rows_of<3>(wt, x, m, w, ldw, bias, y, ldy, jb, je); break;
      case 2: rows_of<2>(wt, x, m, w, ldw, bias, y, ldy, jb, je); break;
      case 1: rows_of<1>(wt, x, m, w, ldw, bias, y, ldy, jb, je); break;
      default: break;
    }
  }
}

}  // namespace

const QuantKernels* avx2_quant_kernels() {
  static const QuantKernels* k = []() -> const QuantKernels* {
    // cpu_features() rather than __builtin_cpu_supports: clang 14 has no "f16c" there.
    const CpuFeatures& f = cpu_features();
    if (!(f.avx2 && f.fma && f.f16c)) return nullptr;
    static const QuantKernels table{QuantIsa::Avx2, "avx2", quantize_row, gemv};
    return &table;
  }();
  return k;
}

#else
const QuantKernels* avx2_quant_kernels() {
  return nullptr;
}
#endif

}  // namespace ia::cpu
