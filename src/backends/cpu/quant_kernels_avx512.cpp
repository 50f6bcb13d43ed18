// The quantized-linear kernels on AVX-512 VNNI: vpdpbusd multiplies 64 weight quants (as u8:
// Q4's nibbles as they are, Q8's int8 offset by 128) with 64 activation quants (s8) and sums
// each 4 into int32 lanes, so lanes 0-7 hold one activation block's sum and lanes 8-15 the
// next one's; the zero points (8, 128 or the group's) come back through the blocks' sums.
// Target attributes per function, <immintrin.h> and C headers only (see kernels_avx512.cpp).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backends/cpu/quant_kernels.h"
#include "core/cpu_info.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define IA_HAVE_VNNI_TU 1
#define IA_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma,avx2,f16c")))
#define IA_VNNI_INLINE IA_VNNI __attribute__((always_inline)) inline
#endif

namespace ia::cpu {

#if IA_HAVE_VNNI_TU
namespace {

IA_VNNI_INLINE __mmask16 mask16(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1u);
}

IA_VNNI void quantize_row(const float* x, int64_t K, int8_t* q, float* d, float* ds) {
  const int64_t Kp = (K + 63) / 64 * 64;
  const __m512 sign = _mm512_set1_ps(-0.0f);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (int64_t b0 = 0; b0 < Kp; b0 += 32) {
    const int64_t n = K - b0 < 0 ? 0 : (K - b0 > 32 ? 32 : K - b0);
    const __m512 x0 = _mm512_maskz_loadu_ps(mask16(n), x + b0);
    const __m512 x1 = _mm512_maskz_loadu_ps(mask16(n > 16 ? n - 16 : 0), x + b0 + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, x0), _mm512_andnot_ps(sign, x1)));
    const float scale = amax / 127.0f;
    const __m512 inv = _mm512_set1_ps(scale != 0 ? 1.0f / scale : 0.0f);
    // Ties to even: vcvtps2dq under the default rounding mode.
    const __m512i q0 = _mm512_min_epi32(hi, _mm512_max_epi32(lo, _mm512_cvtps_epi32(_mm512_mul_ps(x0, inv))));
    const __m512i q1 = _mm512_min_epi32(hi, _mm512_max_epi32(lo, _mm512_cvtps_epi32(_mm512_mul_ps(x1, inv))));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b0), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b0 + 16), _mm512_cvtepi32_epi8(q1));
    const int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    d[b0 / 32] = scale;
    ds[b0 / 32] = scale * static_cast<float>(sum);
  }
}

// [d_b x 8 | d_{b+1} x 8] for the chunk whose first block is b.
IA_VNNI_INLINE __m512 pair_spread(const float* d) {
  const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(idx, _mm512_maskz_loadu_ps(0x3, d));
}

IA_VNNI_INLINE __m512 f16_pair_spread(const uint8_t* s) {
  uint32_t two;
  std::memcpy(&two, s, 4);
  const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(two)));
  const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(f));
}

IA_VNNI_INLINE float f16_at(const uint8_t* s, int64_t i) {
  uint16_t h;
  std::memcpy(&h, s + 2 * i, 2);
  return _cvtsh_ss(h);
}

// sum over groups g of scale_g * zero_g * group_ds[g] (Q4), 16 groups at a time.
IA_VNNI_INLINE float zero_point_term(const uint8_t* scales, const uint8_t* zeros, const float* group_ds,
                                     int64_t groups) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t g = 0; g < groups; g += 16) {
    const __mmask16 m = mask16(groups - g);
    const __m512 s = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, scales + 2 * g));
    const __m512 z =
        zeros ? _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, zeros + g))) : _mm512_set1_ps(8.0f);
    acc = _mm512_fmadd_ps(_mm512_mul_ps(s, z), _mm512_maskz_loadu_ps(m, group_ds + g), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// Output rows [j0, j1) for activation rows [m0, m0 + MT).
template <int MT>
IA_VNNI void q8_rows(const QuantizedActivations& x, int64_t m0, const uint8_t* w, int64_t ldw, const float* bias,
                     float* y, int64_t ldy, int64_t j0, int64_t j1) {
  const int64_t Kp = x.Kp, nb = Kp / 32;
  const int64_t chunks = (x.K + 63) / 64;
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t j = j0; j < j1; ++j) {
    const uint8_t* row = w + j * ldw;
    __m512 acc[MT];
    for (int m = 0; m < MT; ++m) acc[m] = _mm512_setzero_ps();
    for (int64_t c = 0; c < chunks; ++c) {
      const __m512i wv = _mm512_xor_si512(_mm512_loadu_si512(row + 64 * c), flip);  // q + 128 as u8
      for (int m = 0; m < MT; ++m) {
        const __m512i xv = _mm512_loadu_si512(x.q + (m0 + m) * Kp + 64 * c);
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, xv);
        acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), pair_spread(x.d + (m0 + m) * nb + 2 * c), acc[m]);
      }
    }
    float scale;
    std::memcpy(&scale, row + Kp, 4);
    for (int m = 0; m < MT; ++m) {
      const float v = _mm512_reduce_add_ps(acc[m]) - 128.0f * x.group_ds[(m0 + m) * x.groups];
      y[(m0 + m) * ldy + j] = scale * v + (bias ? bias[j] : 0.0f);
    }
  }
}

template <int MT, int G>
IA_VNNI void q4_rows(const QuantizedActivations& x, bool zero_points, int64_t m0, const uint8_t* w, int64_t ldw,
                     const float* bias, float* y, int64_t ldy, int64_t j0, int64_t j1) {
  const int64_t K = x.K, Kp = x.Kp, nb = Kp / 32, groups = K / G;
  const int64_t chunks = K / 64, half = (K % 64) != 0;  // K % 32 == 0: a last chunk may hold one block
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  for (int64_t j = j0; j < j1; ++j) {
    const uint8_t* row = w + j * ldw;
    const uint8_t* scales = row + Kp / 2;
    const uint8_t* zeros = zero_points ? scales + 2 * groups : nullptr;
    __m512 acc[MT];
    for (int m = 0; m < MT; ++m) acc[m] = _mm512_setzero_ps();
    for (int64_t c = 0; c < chunks + half; ++c) {
      const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 32 * c));
      const __m256i lo = _mm256_and_si256(packed, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4);
      const __m512i wv = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      // The chunk's blocks' weight scales; a half chunk's second block is padding (x = 0),
      // so its scale may be anything finite: the first one's is reused.
      __m512 sv;
      if (G == 32) {
        sv = c < chunks ? f16_pair_spread(scales + 4 * c) : _mm512_set1_ps(f16_at(scales, 2 * c));
      } else {
        sv = _mm512_set1_ps(f16_at(scales, 64 * c / G));
      }
      for (int m = 0; m < MT; ++m) {
        const __m512i xv = _mm512_loadu_si512(x.q + (m0 + m) * Kp + 64 * c);
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, xv);
        const __m512 ds = _mm512_mul_ps(pair_spread(x.d + (m0 + m) * nb + 2 * c), sv);
        acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), ds, acc[m]);
      }
    }
    for (int m = 0; m < MT; ++m) {
      const float v =
          _mm512_reduce_add_ps(acc[m]) - zero_point_term(scales, zeros, x.group_ds + (m0 + m) * x.groups, groups);
      y[(m0 + m) * ldy + j] = v + (bias ? bias[j] : 0.0f);
    }
  }
}

template <int MT>
IA_VNNI void rows_of(DType wt, const QuantizedActivations& x, int64_t m0, const uint8_t* w, int64_t ldw,
                     const float* bias, float* y, int64_t ldy, int64_t j0, int64_t j1) {
  switch (wt) {
    case DType::Q8: q8_rows<MT>(x, m0, w, ldw, bias, y, ldy, j0, j1); break;
    case DType::Q4G32: q4_rows<MT, 32>(x, false, m0, w, ldw, bias, y, ldy, j0, j1); break;
    case DType::Q4ZG32: q4_rows<MT, 32>(x, true, m0, w, ldw, bias, y, ldy, j0, j1); break;
    case DType::Q4G128: q4_rows<MT, 128>(x, false, m0, w, ldw, bias, y, ldy, j0, j1); break;
    case DType::Q4ZG128: q4_rows<MT, 128>(x, true, m0, w, ldw, bias, y, ldy, j0, j1); break;
    default: break;
  }
}

IA_VNNI void gemv(DType wt, const QuantizedActivations& x, const uint8_t* w, int64_t ldw, const float* bias, float* y,
                  int64_t ldy, int64_t j0, int64_t j1) {
  // Up to 4 activation rows per pass over a block of weight rows: the block stays in L1 for
  // the next 4.
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

const QuantKernels* avx512_quant_kernels() {
  static const QuantKernels* k = []() -> const QuantKernels* {
    // cpu_features() rather than __builtin_cpu_supports: clang 14 has no "f16c" there.
    const CpuFeatures& f = cpu_features();
    if (!(f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512_vnni && f.fma && f.f16c)) return nullptr;
    static const QuantKernels table{QuantIsa::Avx512Vnni, "avx512_vnni", quantize_row, gemv};
    return &table;
  }();
  return k;
}

#else
const QuantKernels* avx512_quant_kernels() {
  return nullptr;
}
#endif

}  // namespace ia::cpu
