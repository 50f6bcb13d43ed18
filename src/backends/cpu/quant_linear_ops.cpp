// Linear layers on packed weights (core/quantization.h): up to kQuantizedKernelMaxRows rows
// (decode) quantize the activations per row in blocks of 32 (quant_kernels.h) and stream the
// weight rows once through the ISA's integer kernel for all of them; more rows (prefill)
// dequantize the weights to bf16 in row chunks and run the bf16 GEMM path.
#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/cpu/cpu_common.h"
#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/quant_kernels.h"
#include "core/error.h"
#include "core/quantization.h"
#include "core/thread_pool.h"

namespace ia::cpu {
namespace {

// Weight rows per scheduling chunk: balanced, as the bf16 GEMV (linear_ops.cpp).
constexpr int64_t kRowsPerChunk = 32;

// Weight rows dequantized to bf16 at a time on the many-row path (a few MiB).
constexpr int64_t kDequantRowsPerChunk = 512;

// Per-call buffers of the calling thread, kept between calls.
struct ActivationBuffers {
  std::vector<int8_t> q;
  std::vector<float> d, ds, group_ds, x_f32;
};

// out[:, j0:j0+n] = x @ dequant(w[j0:j0+n])^T + bias, through the bf16 linear: the f32 result
// of each chunk goes through a buffer into its columns of `out` (f32, [M, N]).
void linear_via_bf16(const Tensor& x, const Tensor& w, int64_t K, const float* bias, float* out) {
  const int64_t M = x.size(0), N = w.size(0);
  const Kernels& k = kernels();
  Tensor wb = Tensor::empty({std::min(N, kDequantRowsPerChunk), K}, DType::BF16);
  Tensor part = Tensor::empty({M, std::min(N, kDequantRowsPerChunk)}, DType::F32);
  Tensor bias_part = Tensor::empty({std::min(N, kDequantRowsPerChunk)}, DType::F32);
  for (int64_t j0 = 0; j0 < N; j0 += kDequantRowsPerChunk) {
    const int64_t n = std::min(kDequantRowsPerChunk, N - j0);
    // A fresh storage per chunk: the GEMM may cache a packed copy keyed by the weights' storage.
    if (j0 > 0) wb = Tensor::empty({n, K}, DType::BF16);
    Tensor w_chunk = wb.narrow(0, 0, n);
    parallel_for(n, 1, [&](int64_t r0, int64_t r1) {
      std::vector<float> row(static_cast<size_t>(K));
      for (int64_t r = r0; r < r1; ++r) {
        dequantize_row(w.data<uint8_t>() + (j0 + r) * w.strides()[0], K, w.dtype(), row.data());
        k.f32_to_bf16(row.data(), w_chunk.data<uint16_t>() + r * K, K);
      }
    });
    Tensor o2(part.storage(), 0, {M, n}, {n, 1}, DType::F32);
    Tensor b2;
    if (bias) {
      std::memcpy(bias_part.data<float>(), bias + j0, static_cast<size_t>(n) * sizeof(float));
      b2 = bias_part.narrow(0, 0, n);
    }
    linear_cpu(x, w_chunk, bias ? &b2 : nullptr, nullptr, o2);
    for (int64_t m = 0; m < M; ++m)
      std::memcpy(out + m * N + j0, o2.data<float>() + m * n, static_cast<size_t>(n) * sizeof(float));
  }
}

}  // namespace

bool quantized_linear_uses_bf16_gemm(int64_t rows) {
  const Kernels& k = kernels();
  return rows > kQuantizedKernelMaxRows && (k.gemv_bf16_dp != nullptr || k.gemv_bf16_amx != nullptr);
}

void linear_quantized_cpu(const Tensor& x, const Tensor& w, const Tensor* bias, const LinearEpilogue* epi,
                          Tensor& out) {
  const DType wt = w.dtype();
  IA_CHECK(is_quantized(wt), "cpu quantized linear: {} is not a packed weight", w.describe());
  IA_CHECK(x.dim() == 2 && w.dim() == 2 && out.dim() == 2, "cpu quantized linear: expects 2-D x, w, out");
  IA_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::BF16, "cpu quantized linear: x {} (f32 or bf16)",
           x.describe());
  IA_CHECK(out.dtype() == DType::F32 || out.dtype() == DType::BF16, "cpu quantized linear: out {}", out.describe());
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  IA_CHECK(quantizable(wt, K) && w.size(1) == quantized_row_bytes(wt, K) && w.strides()[1] == 1,
           "cpu quantized linear: w {} is not {} rows of {} inputs", w.describe(), dtype_name(wt), K);
  IA_CHECK(x.strides()[1] == 1, "cpu quantized linear: x must be contiguous in the last dim");
  if (bias) check_f32(*bias, "linear", "bias");
  if (epi && epi->residual) {
    check_f32(*epi->residual, "linear", "residual");
    check_contig(*epi->residual, "linear", "residual");
  }
  check_contig(out, "linear", "out");
  if (M == 0 || N == 0) return;
  thread_local Tensor f32_out;  // a bf16 output goes through it, then is rounded
  if (out.dtype() == DType::BF16 && (!f32_out.defined() || f32_out.numel() < M * N))
    f32_out = Tensor::empty({M * N}, DType::F32);
  float* y = out.dtype() == DType::BF16 ? f32_out.data<float>() : out.data<float>();
  const float* bp = bias ? bias->data<float>() : nullptr;
  auto finish = [&] {
    Tensor yt = Tensor(out.dtype() == DType::BF16 ? f32_out.storage() : out.storage(),
                       out.dtype() == DType::BF16 ? 0 : out.offset_bytes(), {M, N}, {N, 1}, DType::F32);
    if (epi && epi->has_activation) activation_cpu(epi->activation, yt, yt);
    if (epi && epi->residual) add_cpu(yt, *epi->residual, yt);
    if (out.dtype() == DType::BF16) kernels().f32_to_bf16(y, out.data<uint16_t>(), M * N);
  };
  if (quantized_linear_uses_bf16_gemm(M)) {
    linear_via_bf16(x, w, K, bp, y);
    finish();
    return;
  }

  const QuantKernels& qk = quant_kernels();
  const Kernels& k = kernels();
  const int64_t Kp = quant_padded_k(K), nb = Kp / kActBlock;
  const int64_t G = quant_group_size(wt), groups = G == 0 ? 1 : K / G;
  const int64_t blocks_per_group = G == 0 ? nb : G / kActBlock;
  thread_local ActivationBuffers buf;
  buf.q.resize(static_cast<size_t>(M * Kp));
  buf.d.resize(static_cast<size_t>(M * nb));
  buf.ds.resize(static_cast<size_t>(M * nb));
  buf.group_ds.resize(static_cast<size_t>(M * groups));
  if (x.dtype() == DType::BF16) buf.x_f32.resize(static_cast<size_t>(M * K));
  const int64_t ldx = M > 1 ? x.strides()[0] : K;
  parallel_for(M, row_grain(K), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* row;
      if (x.dtype() == DType::BF16) {
        k.bf16_to_f32(x.data<uint16_t>() + r * ldx, buf.x_f32.data() + r * K, K);
        row = buf.x_f32.data() + r * K;
      } else {
        row = x.data<float>() + r * ldx;
      }
      qk.quantize_row(row, K, buf.q.data() + r * Kp, buf.d.data() + r * nb, buf.ds.data() + r * nb);
      for (int64_t g = 0; g < groups; ++g) {
        float s = 0;
        for (int64_t b = g * blocks_per_group; b < (g + 1) * blocks_per_group; ++b) s += buf.ds[r * nb + b];
        buf.group_ds[r * groups + g] = s;
      }
    }
  });
  QuantizedActivations qa;
  qa.M = M;
  qa.K = K;
  qa.Kp = Kp;
  qa.q = buf.q.data();
  qa.d = buf.d.data();
  qa.ds = buf.ds.data();
  qa.groups = groups;
  qa.group_ds = buf.group_ds.data();

  const uint8_t* wp = w.data<uint8_t>();
  const int64_t ldw = w.strides()[0];
  parallel_for_balanced(N, kRowsPerChunk, [&](int64_t j0, int64_t j1) { qk.gemv(wt, qa, wp, ldw, bp, y, N, j0, j1); });
  finish();
}

}  // namespace ia::cpu
