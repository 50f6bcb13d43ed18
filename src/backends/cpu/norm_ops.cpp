// Row normalisations: layer norm, RMS norm, L2 normalisation (over the last dim).
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/cpu_common.h"
#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/kernels.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace ia::cpu {

void layer_norm_cpu(const Tensor& x, const Tensor& weight, const Tensor* bias, float eps, Tensor& out) {
  check_f32(x, "layer_norm", "x");
  check_f32(weight, "layer_norm", "weight");
  check_contig(x, "layer_norm", "x");
  if (bias) check_f32(*bias, "layer_norm", "bias");
  const int64_t H = x.size(-1), rows = H ? x.numel() / H : 0;
  const float* xp = x.data<float>();
  const float* wp = weight.data<float>();
  const float* bp = bias ? bias->data<float>() : nullptr;
  float* o = out.data<float>();
  const Kernels& k = kernels();
  parallel_for(rows, row_grain(H), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) k.layer_norm(xp + r * H, wp, bp, eps, o + r * H, H);
  });
}

void rms_norm_cpu(const Tensor& x, const Tensor& weight, float eps, Tensor& out) {
  IA_CHECK(x.dtype() == DType::F32 && x.is_contiguous() && weight.dtype() == DType::F32, "cpu rms_norm: {} {}",
           x.describe(), weight.describe());
  IA_CHECK(out.dtype() == DType::F32 || out.dtype() == DType::BF16, "cpu rms_norm: out {}", out.describe());
  const int64_t H = x.size(-1), rows = H ? x.numel() / H : 0;
  const float* xp = x.data<float>();
  const float* wp = weight.data<float>();
  const Kernels& k = kernels();
  if (out.dtype() == DType::BF16) {
    // Row by row through an f32 row in cache, then rounded: what linear would do to f32 x.
    uint16_t* o = out.data<uint16_t>();
    parallel_for(rows, row_grain(H), [&](int64_t r0, int64_t r1) {
      thread_local std::vector<float> row;
      if (row.size() < static_cast<size_t>(H)) row.resize(static_cast<size_t>(H));
      for (int64_t r = r0; r < r1; ++r) {
        k.rms_norm(xp + r * H, wp, eps, row.data(), H);
        k.f32_to_bf16(row.data(), o + r * H, H);
      }
    });
    return;
  }
  float* o = out.data<float>();
  parallel_for(rows, row_grain(H), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) k.rms_norm(xp + r * H, wp, eps, o + r * H, H);
  });
}

void l2_normalize_cpu(const Tensor& x, float eps, Tensor& out) {
  check_f32(x, "l2_normalize", "x");
  check_contig(x, "l2_normalize", "x");
  const int64_t n = x.size(-1), rows = n ? x.numel() / n : 0;
  const float* xp = x.data<float>();
  float* o = out.data<float>();
  parallel_for(rows, row_grain(n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = xp + r * n;
      double ss = 0;
      for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const double inv = 1.0 / std::max(std::sqrt(ss), static_cast<double>(eps));
      for (int64_t i = 0; i < n; ++i) o[r * n + i] = static_cast<float>(xr[i] * inv);
    }
  });
}

}  // namespace ia::cpu
