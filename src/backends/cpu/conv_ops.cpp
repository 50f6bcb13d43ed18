// Convolutional front-end ops on channels-last activations: conv1d (im2col in row chunks, then
// one oneDNN GEMM per group against the weights as the checkpoint stores them) and group norm.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backends/cpu/cpu_common.h"
#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/dnnl_gemm.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace ia::cpu {
namespace {

using dt = dnnl::memory::data_type;

// Floats of im2col buffer per chunk of output rows (16 MiB): bounds the copy a long clip's
// positional convolution would otherwise make (frames x Cin/G x K, ~0.8 GB for 30 s of a large
// model) while keeping each GEMM's M in the hundreds.
constexpr int64_t kColumnBudget = int64_t{4} << 20;

}  // namespace

void conv1d_cpu(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv1dParams& p, Tensor& out) {
  check_f32(x, "conv1d", "x");
  check_f32(w, "conv1d", "w");
  check_f32(out, "conv1d", "out");
  check_contig(x, "conv1d", "x");
  check_contig(w, "conv1d", "w");
  check_contig(out, "conv1d", "out");
  if (bias) check_f32(*bias, "conv1d", "bias");
  const int64_t B = x.size(0), L = x.size(1), Cin = x.size(2);
  const int64_t Cout = w.size(0), K = w.size(2), G = p.groups;
  const int64_t Cg = Cin / G, Og = Cout / G, CK = Cg * K, Lout = out.size(1);
  IA_CHECK(out.size(0) == B && out.size(2) == Cout && Lout == conv1d_output_length(L, K, p),
           "cpu conv1d: out {} does not fit x {} and w {}", out.describe(), x.describe(), w.describe());
  if (B == 0 || Lout == 0 || Cout == 0) return;
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  const float* bp = bias ? bias->data<float>() : nullptr;
  float* op = out.data<float>();
  const int64_t chunk = std::max<int64_t>(1, std::min(Lout, kColumnBudget / std::max<int64_t>(CK, 1)));
  std::vector<float> col(static_cast<size_t>(chunk * CK)), block;
  for (int64_t b = 0; b < B; ++b) {
    const float* xb = xp + b * L * Cin;
    for (int64_t t0 = 0; t0 < Lout; t0 += chunk) {
      const int64_t rows = std::min(chunk, Lout - t0);
      for (int64_t g = 0; g < G; ++g) {
        // col[r, i K + k] = x[(t0 + r) s + k d - p, g Cg + i], zero outside the input: the
        // weights' own [Cin/G, K] order, so each group's [Og, Cg K] block is the GEMM's operand in place.
        parallel_for(rows, row_grain(CK), [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            float* c = col.data() + r * CK;
            const int64_t base = (t0 + r) * p.stride - p.padding;
            for (int64_t k = 0; k < K; ++k) {
              const int64_t src = base + k * p.dilation;
              if (src < 0 || src >= L) {
                for (int64_t i = 0; i < Cg; ++i) c[i * K + k] = 0.0f;
                continue;
              }
              const float* xr = xb + src * Cin + g * Cg;
              for (int64_t i = 0; i < Cg; ++i) c[i * K + k] = xr[i];
            }
          }
        });
        float* dst = op + (b * Lout + t0) * Cout + g * Og;
        const MatDesc src_d = mat_desc(dt::f32, {rows, CK}, {CK, 1}), wei_d = mat_desc(dt::f32, {CK, Og}, {1, CK});
        const float* wg = wp + g * Og * CK;
        const float* bg = bp ? bp + g * Og : nullptr;
        if (G == 1) {
          dnnl_matmul(src_d, col.data(), wei_d, wg, bg, mat_desc(dt::f32, {rows, Og}, {Og, 1}), dst);
          continue;
        }
        // A group's columns of the output rows: written through a contiguous block (oneDNN's
        // kernels for a destination with a row stride wider than its rows are slow or absent).
        block.resize(static_cast<size_t>(rows * Og));
        dnnl_matmul(src_d, col.data(), wei_d, wg, bg, mat_desc(dt::f32, {rows, Og}, {Og, 1}), block.data());
        for (int64_t r = 0; r < rows; ++r)
          std::memcpy(dst + r * Cout, block.data() + r * Og, static_cast<size_t>(Og) * sizeof(float));
      }
    }
  }
}

void group_norm_cpu(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor* bias, float eps, Tensor& out) {
  check_f32(x, "group_norm", "x");
  check_f32(weight, "group_norm", "weight");
  check_contig(x, "group_norm", "x");
  check_contig(out, "group_norm", "out");
  if (bias) check_f32(*bias, "group_norm", "bias");
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2), G = groups, Cg = C / G;
  if (x.numel() == 0) return;
  const float* xp = x.data<float>();
  const float* wp = weight.data<float>();
  const float* bp = bias ? bias->data<float>() : nullptr;
  float* op = out.data<float>();
  // Per-channel sums and sums of squares in f64 over row chunks (consecutive channels of a row
  // are consecutive in memory), folded into each group's mean and variance: f64 keeps
  // E[x^2] - E[x]^2 exact to far below f32 rounding for any realistic offset of the mean.
  // At most 256 chunks: enough for any thread count, and partials of at most 256 x 2C doubles.
  const int64_t rows_per_chunk = std::max<int64_t>({64, row_grain(C), (L + 255) / 256});
  const int64_t chunks = (L + rows_per_chunk - 1) / rows_per_chunk;
  std::vector<double> part(static_cast<size_t>(chunks * 2 * C));
  std::vector<float> mean(static_cast<size_t>(G)), rstd(static_cast<size_t>(G));
  for (int64_t b = 0; b < B; ++b) {
    const float* xb = xp + b * L * C;
    float* ob = op + b * L * C;
    parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t ch = c0; ch < c1; ++ch) {
        double* s = part.data() + ch * 2 * C;
        double* q = s + C;
        std::fill(s, s + 2 * C, 0.0);
        const int64_t r1 = std::min(L, (ch + 1) * rows_per_chunk);
        for (int64_t r = ch * rows_per_chunk; r < r1; ++r) {
          const float* xr = xb + r * C;
          for (int64_t c = 0; c < C; ++c) {
            const double v = xr[c];
            s[c] += v;
            q[c] += v * v;
          }
        }
      }
    });
    const double n = static_cast<double>(L * Cg);
    for (int64_t g = 0; g < G; ++g) {
      double s = 0, q = 0;
      for (int64_t ch = 0; ch < chunks; ++ch)
        for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c) {
          s += part[static_cast<size_t>(ch * 2 * C + c)];
          q += part[static_cast<size_t>(ch * 2 * C + C + c)];
        }
      const double m = s / n, var = std::max(q / n - m * m, 0.0);
      mean[static_cast<size_t>(g)] = static_cast<float>(m);
      rstd[static_cast<size_t>(g)] = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    }
    parallel_for(L, row_grain(C), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const float* xr = xb + r * C;
        float* o = ob + r * C;
        for (int64_t c = 0; c < C; ++c) {
          const size_t g = static_cast<size_t>(c / Cg);
          const float v = (xr[c] - mean[g]) * rstd[g] * wp[c];
          o[c] = bp ? v + bp[c] : v;
        }
      }
    });
  }
}

}  // namespace ia::cpu
