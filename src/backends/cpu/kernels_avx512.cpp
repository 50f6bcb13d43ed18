// AVX-512 kernels. Every function here carries IA_AVX512 (a target attribute)
// instead of the whole file being built with -mavx512f, so no AVX-512 code can
// leak into inline functions shared with the baseline build. Only <immintrin.h>
// and C headers are used here for the same reason.
//
// GCC 12's intrinsic headers self-initialise "undefined" vectors, which trips
// -Wuninitialized once inlined; the warning is spurious for this file.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "backends/cpu/amx_permission.h"
#include "backends/cpu/amx_tile_config.h"
#include "backends/cpu/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define IA_HAVE_AVX512_TU 1
#define IA_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx2,f16c")))
#define IA_AVX512_INLINE IA_AVX512 __attribute__((always_inline)) inline
#endif

namespace ia::cpu {

#if IA_HAVE_AVX512_TU
namespace {

IA_AVX512_INLINE __mmask16 tail_mask(int64_t r) {
  return static_cast<__mmask16>((1u << r) - 1u);
}

// exp(x), about 1 ulp (Cephes polynomial); exact 0 below -87.3, +inf above 88.7.
IA_AVX512_INLINE __m512 exp_ps(__m512 x) {
  const __m512 hi = _mm512_set1_ps(88.3762626647949f);
  const __m512 lo = _mm512_set1_ps(-87.3365478515625f);
  __mmask16 underflow = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
  x = _mm512_min_ps(x, hi);
  x = _mm512_max_ps(x, lo);
  __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 y = _mm512_set1_ps(1.9875691500E-4f);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507E-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073E-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894E-2f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459E-1f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201E-1f));
  __m512 r2 = _mm512_mul_ps(r, r);
  y = _mm512_fmadd_ps(y, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  y = _mm512_scalef_ps(y, fx);
  return _mm512_mask_mov_ps(y, underflow, _mm512_setzero_ps());
}

// erf(x): rational approximation (as Eigen / XLA use), a few ulp; |x| >= 4 -> +-1.
IA_AVX512_INLINE __m512 erf_ps(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-4.0f)), _mm512_set1_ps(4.0f));
  const __m512 x2 = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(-2.72614225801306e-10f);
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(2.77068142495902e-08f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-2.10102402082508e-06f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-5.69250639462346e-05f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-7.34990630326855e-04f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-2.95459980854025e-03f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-1.60960333262415e-02f));
  p = _mm512_mul_ps(p, x);
  __m512 q = _mm512_set1_ps(-1.45660718464996e-05f);
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-2.13374055278905e-04f));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-1.68282697438203e-03f));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-7.37332916720468e-03f));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-1.42647390514189e-02f));
  return _mm512_div_ps(p, q);
}

IA_AVX512_INLINE __m512 gelu_erf_ps(__m512 x) {
  __m512 e = erf_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752440f)));
  __m512 hx = _mm512_mul_ps(x, _mm512_set1_ps(0.5f));
  return _mm512_fmadd_ps(hx, e, hx);
}

IA_AVX512_INLINE __m512 gelu_tanh_ps(__m512 x) {
  // 0.5 x (1 + tanh u) == x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3)
  __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
  __m512 u = _mm512_fmadd_ps(x3, _mm512_set1_ps(0.044715f), x);
  __m512 e = exp_ps(_mm512_mul_ps(u, _mm512_set1_ps(-2.0f * 0.79788456080286535588f)));
  return _mm512_div_ps(x, _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
}

IA_AVX512_INLINE __m512 silu_ps(__m512 x) {
  __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), x));
  return _mm512_div_ps(x, _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
}

template <__m512 (*F)(__m512)>
IA_AVX512_INLINE void map(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
    _mm512_storeu_ps(y + i, F(a));
    _mm512_storeu_ps(y + i + 16, F(b));
  }
  for (; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, F(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

IA_AVX512 __m512 gelu_erf_fn(__m512 x) {
  return gelu_erf_ps(x);
}
IA_AVX512 __m512 gelu_tanh_fn(__m512 x) {
  return gelu_tanh_ps(x);
}
IA_AVX512 __m512 silu_fn(__m512 x) {
  return silu_ps(x);
}
IA_AVX512 __m512 quick_gelu_fn(__m512 x) {
  __m512 e = exp_ps(_mm512_mul_ps(_mm512_set1_ps(-1.702f), x));
  return _mm512_div_ps(x, _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
}
IA_AVX512 __m512 relu_fn(__m512 x) {
  return _mm512_max_ps(x, _mm512_setzero_ps());
}

IA_AVX512 void gelu_erf(const float* x, float* y, int64_t n) {
  map<gelu_erf_fn>(x, y, n);
}
IA_AVX512 void gelu_tanh(const float* x, float* y, int64_t n) {
  map<gelu_tanh_fn>(x, y, n);
}
IA_AVX512 void silu(const float* x, float* y, int64_t n) {
  map<silu_fn>(x, y, n);
}
IA_AVX512 void quick_gelu(const float* x, float* y, int64_t n) {
  map<quick_gelu_fn>(x, y, n);
}
IA_AVX512 void relu(const float* x, float* y, int64_t n) {
  map<relu_fn>(x, y, n);
}

IA_AVX512 void add(const float* a, const float* b, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
  if (i < n) {
    __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
  }
}

IA_AVX512 void layer_norm(const float* x, const float* w, const float* b, float eps, float* y, int64_t n) {
  // Pass 1: approximate mean. Pass 2: compensated two-pass variance
  // (sum of d^2 minus the square of the residual mean), exact to f32 rounding.
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x + i));
    s1 = _mm512_add_ps(s1, _mm512_loadu_ps(x + i + 16));
  }
  for (; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(m, x + i));
  }
  const float inv_n = 1.0f / static_cast<float>(n);
  const float m0 = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) * inv_n;
  const __m512 vm0 = _mm512_set1_ps(m0);
  __m512 d0 = _mm512_setzero_ps(), q0 = _mm512_setzero_ps(), q1 = _mm512_setzero_ps();
  for (i = 0; i + 16 <= n; i += 16) {
    __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + i), vm0);
    d0 = _mm512_add_ps(d0, d);
    if ((i & 16) == 0)
      q0 = _mm512_fmadd_ps(d, d, q0);
    else
      q1 = _mm512_fmadd_ps(d, d, q1);
  }
  if (i < n) {
    __mmask16 m = tail_mask(n - i);
    __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), vm0);
    d0 = _mm512_add_ps(d0, d);
    q0 = _mm512_fmadd_ps(d, d, q0);
  }
  const float dm = _mm512_reduce_add_ps(d0) * inv_n;
  float var = _mm512_reduce_add_ps(_mm512_add_ps(q0, q1)) * inv_n - dm * dm;
  if (var < 0) var = 0;
  const __m512 mean = _mm512_set1_ps(m0 + dm);
  const __m512 rstd = _mm512_set1_ps(1.0f / __builtin_sqrtf(var + eps));
  for (i = 0; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mean), rstd);
    __m512 r = b ? _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, w + i), _mm512_maskz_loadu_ps(m, b + i))
                 : _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i));
    _mm512_mask_storeu_ps(y + i, m, r);
  }
}

// Softmax of scale*s over the lanes of `valid` (per 16-block masks from keep_fn).
template <typename KeepFn>
IA_AVX512_INLINE void softmax_masked(const float* s, float* p, int64_t n, float scale, KeepFn keep_fn) {
  const __m512 vs = _mm512_set1_ps(scale);
  const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
  __m512 mx = ninf;
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = keep_fn(i);
    mx = _mm512_mask_max_ps(mx, m, mx, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + i), vs));
  }
  const float fmx = _mm512_reduce_max_ps(mx);
  if (fmx == -__builtin_inff()) {
    for (int64_t i = 0; i < n; i += 16) {
      __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
      _mm512_mask_storeu_ps(p + i, m, _mm512_setzero_ps());
    }
    return;
  }
  const __m512 vmx = _mm512_set1_ps(fmx);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 all = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    __mmask16 m = keep_fn(i);
    __m512 e = exp_ps(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(m, s + i), vs, vmx));
    e = _mm512_maskz_mov_ps(m, e);
    sum = _mm512_add_ps(sum, e);
    _mm512_mask_storeu_ps(p + i, all, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 all = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    _mm512_mask_storeu_ps(p + i, all, _mm512_mul_ps(_mm512_maskz_loadu_ps(all, p + i), inv));
  }
}

IA_AVX512 void softmax(const float* x, float* y, int64_t n) {
  softmax_masked(x, y, n, 1.0f,
                 [n](int64_t i) IA_AVX512 { return n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i); });
}

IA_AVX512 void attn_softmax(const float* s, float* p, int64_t n, int64_t limit, const uint8_t* keep, float scale) {
  if (limit > n) limit = n;
  softmax_masked(s, p, n, scale, [limit, keep](int64_t i) IA_AVX512 {
    if (i >= limit) return static_cast<__mmask16>(0);
    __mmask16 m = limit - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(limit - i);
    if (keep) {
      __m128i k = _mm_maskz_loadu_epi8(m, keep + i);
      m = _mm_mask_cmpneq_epi8_mask(m, k, _mm_setzero_si128());
    }
    return m;
  });
}

IA_AVX512_INLINE __m256i cvt_bf16(__m512 v) {
  __m512i bits = _mm512_castps_si512(v);
  __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  __m512i qnan = _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40));
  rounded = _mm512_mask_mov_epi32(rounded, nan, qnan);
  return _mm512_cvtepi32_epi16(rounded);
}

IA_AVX512 void round_bf16_row(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    const __m512i high = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
    __m512i r = _mm512_and_si512(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), high);
    // NaN stays NaN (quiet), as f32_to_bf16.
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_and_si512(_mm512_or_si512(bits, _mm512_set1_epi32(0x400000)), high));
    _mm512_mask_storeu_ps(y + i, m, _mm512_castsi512_ps(r));
  }
}

IA_AVX512 void interleave_bf16(const float* a, const float* b, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    const __m512i lo = _mm512_cvtepu16_epi32(cvt_bf16(_mm512_maskz_loadu_ps(m, a + i)));
    const __m512i hi = _mm512_slli_epi32(_mm512_cvtepu16_epi32(cvt_bf16(_mm512_maskz_loadu_ps(m, b + i))), 16);
    _mm512_mask_storeu_epi32(y + 2 * i, m, _mm512_or_si512(lo, hi));
  }
}

// 16 x 16 blocks transposed in registers: unpack pairs, then quads, then 128-bit lanes.
IA_AVX512 void transpose_rows(const float* const* rows, int64_t m, int64_t n, float* y, int64_t ldy) {
  const __mmask16 row_mask = tail_mask(m);
  for (int64_t c = 0; c < n; c += 16) {
    const __mmask16 cm = n - c >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - c);
    __m512 r[16], t[16];
    for (int i = 0; i < 16; ++i) r[i] = i < m ? _mm512_maskz_loadu_ps(cm, rows[i] + c) : _mm512_setzero_ps();
    // t[2i] holds, per 128-bit lane, columns 0-1 of rows 2i, 2i + 1 interleaved; t[2i + 1] columns 2-3.
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    // r[4q + k] holds, in each 128-bit lane L, column 4L + k of rows 4q .. 4q + 3.
    for (int i = 0; i < 16; i += 4)
      for (int j = 0; j < 2; ++j) {
        const __m512d lo = _mm512_castps_pd(t[i + j]), hi = _mm512_castps_pd(t[i + 2 + j]);
        r[i + 2 * j] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo, hi));
        r[i + 2 * j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo, hi));
      }
    // Column 4L + k: lane L of r[k], r[4 + k], r[8 + k], r[12 + k] (rows 0-3, 4-7, 8-11, 12-15).
    for (int k = 0; k < 4; ++k) {
      const __m512 ab_lo = _mm512_shuffle_f32x4(r[k], r[4 + k], 0x44),
                   ab_hi = _mm512_shuffle_f32x4(r[k], r[4 + k], 0xee);
      const __m512 cd_lo = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0x44),
                   cd_hi = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0xee);
      t[k] = _mm512_shuffle_f32x4(ab_lo, cd_lo, 0x88);
      t[4 + k] = _mm512_shuffle_f32x4(ab_lo, cd_lo, 0xdd);
      t[8 + k] = _mm512_shuffle_f32x4(ab_hi, cd_hi, 0x88);
      t[12 + k] = _mm512_shuffle_f32x4(ab_hi, cd_hi, 0xdd);
    }
    for (int i = 0; i < 16 && c + i < n; ++i) _mm512_mask_storeu_ps(y + (c + i) * ldy, row_mask, t[i]);
  }
}

IA_AVX512 void f32_to_bf16_row(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), cvt_bf16(_mm512_loadu_ps(x + i)));
  if (i < n) {
    __mmask16 m = tail_mask(n - i);
    _mm256_mask_storeu_epi16(y + i, m, cvt_bf16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

IA_AVX512 void bf16_to_f32_row(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)));
    _mm512_storeu_ps(y + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
  }
  if (i < n) {
    __mmask16 m = tail_mask(n - i);
    __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, x + i));
    _mm512_mask_storeu_ps(y + i, m, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
  }
}

IA_AVX512_INLINE __mmask16 lanes(int64_t n, int64_t i) {
  return n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
}

IA_AVX512 void rms_norm(const float* x, const float* w, float eps, float* y, int64_t n) {
  __m512 q0 = _mm512_setzero_ps(), q1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
    q0 = _mm512_fmadd_ps(a, a, q0);
    q1 = _mm512_fmadd_ps(b, b, q1);
  }
  for (; i < n; i += 16) {
    __m512 a = _mm512_maskz_loadu_ps(lanes(n, i), x + i);
    q0 = _mm512_fmadd_ps(a, a, q0);
  }
  const float ms = _mm512_reduce_add_ps(_mm512_add_ps(q0, q1)) / static_cast<float>(n > 0 ? n : 1);
  const __m512 inv = _mm512_set1_ps(1.0f / __builtin_sqrtf(ms + eps));
  for (i = 0; i < n; i += 16) {
    __mmask16 m = lanes(n, i);
    __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i)));
  }
}

IA_AVX512 void swiglu(const float* gate, const float* up, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = lanes(n, i);
    __m512 g = silu_ps(_mm512_maskz_loadu_ps(m, gate + i));
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(g, _mm512_maskz_loadu_ps(m, up + i)));
  }
}

IA_AVX512 float dot(const float* a, const float* b, int64_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  for (; i < n; i += 16) {
    __mmask16 m = lanes(n, i);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

IA_AVX512 void axpy(float a, const float* x, float* y, int64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = lanes(n, i);
    _mm512_mask_storeu_ps(y + i, m,
                          _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

// 16 int8 quants (fewer at the tail, masked) as floats.
IA_AVX512_INLINE __m512 load_i8_ps(const int8_t* q, __mmask16 m) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, q)));
}

IA_AVX512 float dot_i8(const float* a, const int8_t* q, int64_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), load_i8_ps(q + i, 0xffff), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), load_i8_ps(q + i + 16, 0xffff), s1);
  }
  for (; i < n; i += 16) {
    __mmask16 m = lanes(n, i);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), load_i8_ps(q + i, m), s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

IA_AVX512 void axpy_i8(float a, const int8_t* q, float* y, int64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = lanes(n, i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, load_i8_ps(q + i, m), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

IA_AVX512 void dequantize_i8(const int8_t* q, float s, float* y, int64_t n) {
  const __m512 vs = _mm512_set1_ps(s);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = lanes(n, i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(vs, load_i8_ps(q + i, m)));
  }
}

IA_AVX512 void max_into(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = lanes(n, i);
    const __m512 a = _mm512_maskz_loadu_ps(m, x + i), b = _mm512_maskz_loadu_ps(m, y + i);
    const __mmask16 take = _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ) | _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
    _mm512_mask_storeu_ps(y + i, m & take, a);
  }
}

// MR rows of C at once: 4 column vectors x MR rows of accumulators (24 of the 32 registers
// at MR = 6), one broadcast of a per row and k step against 4 loads of b's row shared by all
// rows.
template <int MR>
IA_AVX512_INLINE void sgemm_rows(int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                                 float* c, int64_t ldc) {
  int64_t j = 0;
  for (; j + 64 <= n; j += 64) {
    __m512 acc[MR][4];
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < 4; ++v) acc[r][v] = _mm512_setzero_ps();
    for (int64_t p = 0; p < k; ++p) {
      const float* bp = b + p * ldb + j;
      const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16), b2 = _mm512_loadu_ps(bp + 32),
                   b3 = _mm512_loadu_ps(bp + 48);
      for (int r = 0; r < MR; ++r) {
        const __m512 av = _mm512_set1_ps(a[r * lda + p]);
        acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        acc[r][2] = _mm512_fmadd_ps(av, b2, acc[r][2]);
        acc[r][3] = _mm512_fmadd_ps(av, b3, acc[r][3]);
      }
    }
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < 4; ++v) _mm512_storeu_ps(c + r * ldc + j + 16 * v, acc[r][v]);
  }
  for (; j < n; j += 16) {
    const __mmask16 msk = lanes(n, j);
    __m512 acc[MR];
    for (int r = 0; r < MR; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t p = 0; p < k; ++p) {
      const __m512 bv = _mm512_maskz_loadu_ps(msk, b + p * ldb + j);
      for (int r = 0; r < MR; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r * lda + p]), bv, acc[r]);
    }
    for (int r = 0; r < MR; ++r) _mm512_mask_storeu_ps(c + r * ldc + j, msk, acc[r]);
  }
}

IA_AVX512 void sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                     float* c, int64_t ldc) {
  int64_t i = 0;
  for (; i + 6 <= m; i += 6) sgemm_rows<6>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc);
  switch (m - i) {
    case 5: sgemm_rows<5>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc); break;
    case 4: sgemm_rows<4>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc); break;
    case 3: sgemm_rows<3>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc); break;
    case 2: sgemm_rows<2>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc); break;
    case 1: sgemm_rows<1>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc); break;
    default: break;
  }
}

// 16 bf16 -> 16 f32 (exact: bf16 is the top half of an f32).
IA_AVX512_INLINE __m512 bf16x16(__m256i v) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}

// Decode GEMV: memory bound on the weights, so each weight row is streamed once
// for all M inputs; two independent accumulators per input hide FMA latency.
template <int M>
IA_AVX512_INLINE void gemv_rows(const float* x, int64_t K, int64_t ldx, const uint16_t* w, int64_t ldw,
                                const float* bias, float* y, int64_t ldy, int64_t j0, int64_t j1) {
  for (int64_t j = j0; j < j1; ++j) {
    const uint16_t* wr = w + j * ldw;
    __m512 a0[M], a1[M];
    for (int m = 0; m < M; ++m) a0[m] = a1[m] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
      __m512i raw = _mm512_loadu_si512(wr + k);
      __m512 w0 = bf16x16(_mm512_castsi512_si256(raw)), w1 = bf16x16(_mm512_extracti64x4_epi64(raw, 1));
      for (int m = 0; m < M; ++m) {
        a0[m] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + m * ldx + k), a0[m]);
        a1[m] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + m * ldx + k + 16), a1[m]);
      }
    }
    for (; k < K; k += 16) {
      __mmask16 msk = lanes(K, k);
      __m512 w0 = bf16x16(_mm256_maskz_loadu_epi16(msk, wr + k));
      for (int m = 0; m < M; ++m) a0[m] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(msk, x + m * ldx + k), a0[m]);
    }
    const float b = bias ? bias[j] : 0.0f;
    for (int m = 0; m < M; ++m) y[m * ldy + j] = _mm512_reduce_add_ps(_mm512_add_ps(a0[m], a1[m])) + b;
  }
}

IA_AVX512 void gemv_bf16(const float* x, int64_t M, int64_t K, int64_t ldx, const uint16_t* w, int64_t ldw,
                         const float* bias, float* y, int64_t ldy, int64_t j0, int64_t j1) {
  switch (M) {
    case 1: gemv_rows<1>(x, K, ldx, w, ldw, bias, y, ldy, j0, j1); break;
    case 2: gemv_rows<2>(x, K, ldx, w, ldw, bias, y, ldy, j0, j1); break;
    case 3: gemv_rows<3>(x, K, ldx, w, ldw, bias, y, ldy, j0, j1); break;
    case 4: gemv_rows<4>(x, K, ldx, w, ldw, bias, y, ldy, j0, j1); break;
    default:
      for (int64_t m = 0; m < M; m += 4) {
        const int64_t r = M - m < 4 ? M - m : 4;
        gemv_bf16(x + m * ldx, r, K, ldx, w, ldw, bias, y + m * ldy, ldy, j0, j1);
      }
  }
}

#define IA_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,avx2,f16c")))
#define IA_AVX512BF16_INLINE IA_AVX512BF16 __attribute__((always_inline)) inline

// R weight rows at once against M inputs: R concurrent streams keep more loads in
// flight than one row at a time (a single core's read bandwidth is bound by misses
// in flight), and vdpbf16ps does 32 products per instruction without widening.
template <int M, int R>
IA_AVX512BF16_INLINE void gemv_dp_block(const uint16_t* x, int64_t K, int64_t ldx, const uint16_t* w, int64_t ldw,
                                        const float* bias, float* y, int64_t ldy, int64_t j) {
  __m512 acc[M][R];
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < R; ++r) acc[m][r] = _mm512_setzero_ps();
  const uint16_t* wr[R];
  for (int r = 0; r < R; ++r) wr[r] = w + (j + r) * ldw;
  int64_t k = 0;
  // Prefetch 2 KiB ahead in each row (the hardware prefetchers stop at each 4 KiB page, and a
  // row is often one page); past the row's end, into the same row of the next block, which is
  // what this stream reads next. (Prefetching k + 2 KiB regardless mostly touched rows of the
  // current block, already in L1, and left each block's start to demand misses: 62% -> 73% of
  // the copy roofline at 2 threads.)
  constexpr int64_t kAhead = 1024;
  for (; k + 32 <= K; k += 32) {
    __m512bh wv[R];
    for (int r = 0; r < R; ++r) {
      const uint16_t* pf = k + kAhead < K ? wr[r] + k + kAhead : wr[r] + R * ldw + (k + kAhead - K);
      _mm_prefetch(reinterpret_cast<const char*>(pf), _MM_HINT_T0);
      wv[r] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(wr[r] + k));
    }
    for (int m = 0; m < M; ++m) {
      const __m512bh xv = reinterpret_cast<__m512bh>(_mm512_loadu_si512(x + m * ldx + k));
      for (int r = 0; r < R; ++r) acc[m][r] = _mm512_dpbf16_ps(acc[m][r], xv, wv[r]);
    }
  }
  if (k < K) {  // zero-filled tail: 0 * 0 adds nothing
    const __mmask32 msk = static_cast<__mmask32>((K - k) >= 32 ? 0xffffffffu : ((1u << (K - k)) - 1u));
    __m512bh wv[R];
    for (int r = 0; r < R; ++r) wv[r] = reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(msk, wr[r] + k));
    for (int m = 0; m < M; ++m) {
      const __m512bh xv = reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(msk, x + m * ldx + k));
      for (int r = 0; r < R; ++r) acc[m][r] = _mm512_dpbf16_ps(acc[m][r], xv, wv[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    const float b = bias ? bias[j + r] : 0.0f;
    for (int m = 0; m < M; ++m) y[m * ldy + j + r] = _mm512_reduce_add_ps(acc[m][r]) + b;
  }
}

// Eight rows per block for one input, four for 2-4 inputs, two beyond (32 accumulators at most
// fit the registers). (Tried for 5-8 inputs: three rows per block, and two passes of 4 inputs over
// an L1-resident block; neither was faster, so those shapes look bound by vdpbf16ps throughput.
// For one input, 8 rows (8 streams in flight) beat 4 by ~7% in decode; 2 accumulators per row,
// prefetching 4 KiB ahead, or 2 rows x 2 accumulators did not.)
template <int M>
IA_AVX512BF16_INLINE void gemv_dp_rows(const uint16_t* x, int64_t K, int64_t ldx, const uint16_t* w, int64_t ldw,
                                       const float* bias, float* y, int64_t ldy, int64_t j0, int64_t j1) {
  constexpr int R = M == 1 ? 8 : M <= 4 ? 4 : 2;
  int64_t j = j0;
  for (; j + R <= j1; j += R) gemv_dp_block<M, R>(x, K, ldx, w, ldw, bias, y, ldy, j);
  for (; j < j1; ++j) gemv_dp_block<M, 1>(x, K, ldx, w, ldw, bias, y, ldy, j);
}

IA_AVX512BF16 void gemv_bf16_dp(const uint16_t* x, int64_t M, int64_t K, int64_t ldx, const uint16_t* w, int64_t ldw,
                                const float* bias, float* y, int64_t ldy, int64_t j0, int64_t j1) {
  switch (M) {
    case 1: gemv_dp_rows<1>(x, K, ldx, w, ldw, bias, y, ldy, j0, j1); break;
    case 2: gemv_dp_rows<2>(x, K, ldx, w, ldw, bias, y, ldy, j0, j1); break;
    case 3: gemv_dp_rows<3>(x, K, ldx, w, ldw, bias, y, ldy, j0, j1); break;
    case 4: gemv_dp_rows<4>(x, K, ldx, w, ldw, bias, y, ldy, j0, j1); break;
    case 5: gemv_dp_rows<5>(x, K, ldx, w, ldw, bias, y, ldy, j0, j1); break;
    case 6: gemv_dp_rows<6>(x, K, ldx, w, ldw, bias, y, ldy, j0, j1); break;
    case 7: gemv_dp_rows<7>(x, K, ldx, w, ldw, bias, y, ldy, j0, j1); break;
    case 8: gemv_dp_rows<8>(x, K, ldx, w, ldw, bias, y, ldy, j0, j1); break;
    default:
      for (int64_t m = 0; m < M; m += 8) {
        const int64_t r = M - m < 8 ? M - m : 8;
        gemv_bf16_dp(x + m * ldx, r, K, ldx, w, ldw, bias, y + m * ldy, ldy, j0, j1);
      }
  }
}

// Attention products in bf16 pairs without AMX (same operands as the tile kernels below): 8
// query rows x 32 keys (scores) or 32 dims (values) of accumulators, one 32-bit broadcast of a
// bf16 pair of q (p) per row against 16 pairs of k (v) per vector, vdpbf16ps adding both
// products in f32.
IA_AVX512BF16_INLINE __m512bh bf16_pair(const uint16_t* x) {
  int32_t v;
  std::memcpy(&v, x, sizeof v);
  return reinterpret_cast<__m512bh>(_mm512_set1_epi32(v));
}

// c[r, n0 + v * 16 + l] (r < 8, v < 2) = sum over pairs t < pairs of a[r * lda + 2t .. 2t+1] and
// b[t * ldb + 2 (v * 16 + l) .. + 1].
IA_AVX512BF16_INLINE void dp_block_8x32(const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, int64_t pairs,
                                        float* c, int64_t ldc) {
  __m512 acc[8][2];
  for (int r = 0; r < 8; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t t = 0; t < pairs; ++t) {
    const __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b + t * ldb));
    const __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b + t * ldb + 32));
    for (int r = 0; r < 8; ++r) {
      const __m512bh av = bf16_pair(a + r * lda + 2 * t);
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
    }
  }
  for (int r = 0; r < 8; ++r) {
    _mm512_storeu_ps(c + r * ldc, acc[r][0]);
    _mm512_storeu_ps(c + r * ldc + 16, acc[r][1]);
  }
}

IA_AVX512BF16 void attn_scores_dp(const uint16_t* q, int64_t D, const uint16_t* k_pairs, int64_t ldk, int64_t nk,
                                  float* s, int64_t lds) {
  for (int64_t i = 0; i < 64; i += 8)
    for (int64_t j = 0; j < nk; j += 32) dp_block_8x32(q + i * D, D, k_pairs + 2 * j, ldk, D / 2, s + i * lds + j, lds);
}

IA_AVX512BF16 void attn_values_dp(const uint16_t* p, int64_t nk, const uint16_t* v_pairs, int64_t D, float* o) {
  for (int64_t i = 0; i < 64; i += 8)
    for (int64_t c = 0; c < D; c += 32) dp_block_8x32(p + i * nk, nk, v_pairs + 2 * c, 2 * D, nk / 2, o + i * D + c, D);
}

#define IA_AMX __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,amx-tile,amx-bf16,fma,avx2")))

// Tiles 0 .. n-1 as 16 rows of 64 bytes (16 f32 or 32 bf16 per row), for this thread.
IA_AMX inline void load_tile_config(int n) {
  const TileConfig cfg = full_tiles(n);
  _tile_loadconfig(&cfg);
}

// Tiles: 0-1 C (16 weight rows x 16 inputs, f32), 2-3 A (16 weight rows x 32 k, the weights
// read in place with the row stride), 4 B (16 k-pairs x 16 inputs, x packed once per call).
// Two row blocks per step keep 32 weight rows (streams) in flight; each A row is one cache
// line, and the line 1 KiB ahead in the same row is prefetched (into the next block's row past
// the end), as the one-row kernel does.
template <int Blocks>
IA_AMX inline void amx_rows(const uint16_t* x_pairs, int64_t M, int64_t K, const uint16_t* w, int64_t ldw,
                            const float* bias, float* y, int64_t ldy, int64_t j) {
  constexpr int64_t kAhead = 512;
  const int64_t stride = ldw * static_cast<int64_t>(sizeof(uint16_t));
  const uint16_t* w0 = w + j * ldw;
  _tile_zero(0);
  if (Blocks == 2) _tile_zero(1);
  for (int64_t k = 0; k < K; k += 32) {
    for (int r = 0; r < 16 * Blocks; ++r) {
      const uint16_t* row = w0 + r * ldw;
      const uint16_t* pf = k + kAhead < K ? row + k + kAhead : row + 16 * Blocks * ldw + (k + kAhead - K);
      _mm_prefetch(reinterpret_cast<const char*>(pf), _MM_HINT_T0);
    }
    _tile_loadd(4, x_pairs + k * 16, 64);
    _tile_loadd(2, w0 + k, stride);
    _tile_dpbf16ps(0, 2, 4);
    if (Blocks == 2) {
      _tile_loadd(3, w0 + 16 * ldw + k, stride);
      _tile_dpbf16ps(1, 3, 4);
    }
  }
  alignas(64) float c[2][16][16];
  _tile_stored(0, c[0], 64);
  if (Blocks == 2) _tile_stored(1, c[1], 64);
  for (int blk = 0; blk < Blocks; ++blk)
    for (int r = 0; r < 16; ++r) {
      const int64_t n = j + 16 * blk + r;
      const float b = bias ? bias[n] : 0.0f;
      for (int64_t m = 0; m < M; ++m) y[m * ldy + n] = c[blk][r][m] + b;
    }
}

IA_AMX void gemv_bf16_amx(const uint16_t* x_pairs, int64_t M, int64_t K, const uint16_t* w, int64_t ldw,
                          const float* bias, float* y, int64_t ldy, int64_t j0, int64_t j1) {
  load_tile_config(5);
  int64_t j = j0;
  for (; j + 32 <= j1; j += 32) amx_rows<2>(x_pairs, M, K, w, ldw, bias, y, ldy, j);
  if (j + 16 <= j1) amx_rows<1>(x_pairs, M, K, w, ldw, bias, y, ldy, j);
  _tile_release();  // no tile state for the kernel to save at the next context switch
}

// Attention tiles for a block of 64 query rows: C 0-3 hold its four 16-row groups.
IA_AMX inline void zero_c4() {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
}

// C 0-3 += (A rows 16 g .. 16 g + 15, from a with `ld` elements per row) x B (tile 4).
IA_AMX inline void dp_c4(const uint16_t* a, int64_t ld) {
  const int64_t stride = ld * static_cast<int64_t>(sizeof(uint16_t));
  _tile_loadd(5, a, stride);
  _tile_dpbf16ps(0, 5, 4);
  _tile_loadd(5, a + 16 * ld, stride);
  _tile_dpbf16ps(1, 5, 4);
  _tile_loadd(5, a + 32 * ld, stride);
  _tile_dpbf16ps(2, 5, 4);
  _tile_loadd(5, a + 48 * ld, stride);
  _tile_dpbf16ps(3, 5, 4);
}

// C 0-3 to c (ld floats per row).
IA_AMX inline void store_c4(float* c, int64_t ld) {
  const int64_t stride = ld * static_cast<int64_t>(sizeof(float));
  _tile_stored(0, c, stride);
  _tile_stored(1, c + 16 * ld, stride);
  _tile_stored(2, c + 32 * ld, stride);
  _tile_stored(3, c + 48 * ld, stride);
}

// Prefill attention products for one (head, 64-row query block) on tiles 0-3 (C, one per 16
// query rows), 4 (B) and 5 (A). Scores: B = 16 d-pairs x 16 keys, A = 16 query rows x 32 d.
IA_AMX void attn_scores_amx(const uint16_t* q, int64_t D, const uint16_t* k_pairs, int64_t ldk, int64_t nk, float* s,
                            int64_t lds) {
  load_tile_config(6);
  const int64_t kstride = ldk * static_cast<int64_t>(sizeof(uint16_t));
  for (int64_t j = 0; j < nk; j += 16) {
    zero_c4();
    for (int64_t d = 0; d < D; d += 32) {
      _tile_loadd(4, k_pairs + (d / 2) * ldk + 2 * j, kstride);
      dp_c4(q + d, D);
    }
    store_c4(s + j, lds);
  }
  _tile_release();
}

// Values: B = 16 key-pairs x 16 d, A = 16 query rows x 32 keys of p.
IA_AMX void attn_values_amx(const uint16_t* p, int64_t nk, const uint16_t* v_pairs, int64_t D, float* o) {
  load_tile_config(6);
  const int64_t vstride = 2 * D * static_cast<int64_t>(sizeof(uint16_t));
  for (int64_t c = 0; c < D; c += 16) {
    zero_c4();
    for (int64_t j = 0; j < nk; j += 32) {
      _tile_loadd(4, v_pairs + (j / 2) * 2 * D + 2 * c, vstride);
      dp_c4(p + j, nk);
    }
    store_c4(o + c, D);
  }
  _tile_release();
}

}  // namespace

const Kernels* avx512_kernels() {
  static const Kernels* k = []() -> const Kernels* {
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma")))
      return nullptr;
    static Kernels table{Isa::Avx512,
                         "avx512",
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
                         gemv_bf16,
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
    if (__builtin_cpu_supports("avx512bf16")) {
      table.gemv_bf16_dp = gemv_bf16_dp;
      table.attn_scores_bf16 = attn_scores_dp;
      table.attn_values_bf16 = attn_values_dp;
    }
    // IA_CPU_AMX=0 keeps batched decode on vdpbf16ps and bf16 prefill attention in f32 (for
    // comparing).
    const char* amx_env = std::getenv("IA_CPU_AMX");
    const bool amx_off = amx_env && amx_env[0] == '0';
    if (table.gemv_bf16_dp && !amx_off && amx_bf16_usable()) {
      table.gemv_bf16_amx = gemv_bf16_amx;
      table.attn_scores_bf16 = attn_scores_amx;
      table.attn_values_bf16 = attn_values_amx;
    }
    return &table;
  }();
  return k;
}

#else
const Kernels* avx512_kernels() {
  return nullptr;
}
#endif

}  // namespace ia::cpu
