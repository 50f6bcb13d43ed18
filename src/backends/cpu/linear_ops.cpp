// Linear layers and batched matmul: the GEMM path chosen by choose_gemm_path, oneDNN or
// the own decode kernels.
#include <cstring>
#include <vector>

#include "backends/cpu/amx_gemm.h"
#include "backends/cpu/cpu_common.h"
#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/dnnl_gemm.h"
#include "backends/cpu/gemm_path.h"
#include "backends/cpu/kernels.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "core/weight_prepack.h"

namespace ia::cpu {
namespace {

using dt = dnnl::memory::data_type;

// Weight rows per scheduling chunk of the decode GEMV: whole blocks of the kernel's 8 rows.
// Balanced chunks: per-thread read bandwidth differs, and a static split waits for the slowest
// thread (GEMV-only stream of llama-1b's weights, 2-12 threads: 69-87% -> 82-99% of copy
// bandwidth).
constexpr int64_t kGemvRowsPerChunk = 32;

// The epilogue rides on oneDNN post-ops in the GEMM paths; the few-row GEMV
// paths and K == 0 apply it afterwards.
GemmEpilogue gemm_epilogue(const LinearEpilogue* e) {
  GemmEpilogue g;
  if (!e) return g;
  if (e->has_activation) {
    const DnnlEltwise a = dnnl_eltwise(e->activation);
    g.activation = a.algorithm;
    g.activation_alpha = a.alpha;
  }
  if (e->residual) g.residual = e->residual->data<float>();
  return g;
}

void apply_epilogue_after(const LinearEpilogue* e, Tensor& out) {
  if (!e) return;
  if (e->has_activation) activation_cpu(e->activation, out, out);
  if (e->residual) add_cpu(out, *e->residual, out);
}

// x as bf16 rows of stride K: as given when its producer already rounded it (no copy), else
// rounded (or packed) into a per-thread buffer.
const uint16_t* x_as_bf16_rows(const Tensor& x, int64_t M, int64_t K, const Kernels& k) {
  const int64_t lda = x.strides()[0];
  if (x.dtype() == DType::BF16 && (M == 1 || lda == K)) return x.data<uint16_t>();
  thread_local std::vector<uint16_t> xb;
  if (xb.size() < static_cast<size_t>(M * K)) xb.resize(static_cast<size_t>(M * K));
  uint16_t* xw = xb.data();
  if (x.dtype() == DType::BF16) {
    for (int64_t r = 0; r < M; ++r)
      std::memcpy(xw + r * K, x.data<uint16_t>() + r * lda, static_cast<size_t>(K) * sizeof(uint16_t));
  } else {
    const float* xp = x.data<float>();
    parallel_for(M, row_grain(K), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) k.f32_to_bf16(xp + r * lda, xw + r * K, K);
    });
  }
  return xw;
}

}  // namespace

void linear_cpu(const Tensor& x, const Tensor& w, const Tensor* bias, const LinearEpilogue* epi, Tensor& out) {
  if (is_quantized(w.dtype())) {
    linear_quantized_cpu(x, w, bias, epi, out);
    return;
  }
  if (epi && epi->residual) {
    check_f32(*epi->residual, "linear", "residual");
    check_contig(*epi->residual, "linear", "residual");
    IA_CHECK(epi->residual->shape() == out.shape(), "cpu linear: residual {} does not match out {}",
             epi->residual->describe(), out.describe());
  }
  if (x.dtype() == DType::BF16) {
    IA_CHECK(w.dtype() == DType::BF16, "cpu linear: bf16 x needs bf16 weights, got {}", w.describe());
  } else {
    check_f32(x, "linear", "x");
  }
  IA_CHECK(out.dtype() == DType::F32 || (out.dtype() == DType::BF16 && w.dtype() == DType::BF16),
           "cpu linear: out {} (f32, or bf16 with bf16 weights)", out.describe());
  IA_CHECK(x.dim() == 2 && w.dim() == 2 && out.dim() == 2, "cpu linear: expects 2-D x, w, out");
  IA_CHECK(x.strides()[1] == 1 && w.strides()[1] == 1, "cpu linear: x and w must be contiguous in the last dim");
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  if (M == 0 || N == 0) return;
  if (bias) check_f32(*bias, "linear", "bias");
  const float* bp = bias ? bias->data<float>() : nullptr;
  const int64_t ldw = w.size(0) > 1 ? w.strides()[0] : K;
  const Kernels& k = kernels();
  GemmPath path = choose_gemm_path(GemmProblem{M, N, K, w.dtype()}, GemmKernelSet::of(k));
  // Packing pays off only for weights that stay (a model's) and serve many calls (not a one-shot
  // prompt: core/weight_prepack.h); otherwise oneDNN on the weights as they lie.
  if (path == GemmPath::AmxGemm && (!w.storage() || !weight_prepack_enabled())) path = GemmPath::OneDnnBf16;
  if (out.dtype() == DType::BF16 && (K == 0 || (path != GemmPath::OneDnnBf16 && path != GemmPath::AmxGemm))) {
    // Paths that write f32 only (few-row GEMVs): through an f32 buffer, then rounded.
    check_contig(out, "linear", "out");
    thread_local Tensor f32_out;
    if (!f32_out.defined() || f32_out.numel() < M * N) f32_out = Tensor::empty({M * N}, DType::F32);
    Tensor o = f32_out.narrow(0, 0, M * N).view({M, N});
    linear_cpu(x, w, bias, epi, o);
    k.f32_to_bf16(o.data<float>(), out.data<uint16_t>(), M * N);
    return;
  }
  const MatDesc dst = mat_desc(out.dtype() == DType::BF16 ? dt::bf16 : dt::f32, {M, N}, {N, 1});
  if (K == 0) {
    float* o = out.data<float>();
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) o[i * N + j] = bp ? bp[j] : 0.0f;
    apply_epilogue_after(epi, out);
    return;
  }
  if (path == GemmPath::Unsupported)
    fail(ErrorKind::Unsupported, "cpu linear: weight dtype {} (use f32 or bf16)", dtype_name(w.dtype()));
  if (path == GemmPath::OneDnnF32) {
    const int64_t lda = M > 1 ? x.strides()[0] : K;
    dnnl_linear_prepacked(mat_desc(dt::f32, {M, K}, {lda, 1}), x.raw(), mat_desc(dt::f32, {K, N}, {1, ldw}), w.raw(),
                          w.storage(), bp, dst, out.raw(), gemm_epilogue(epi));
    return;
  }
  if (path == GemmPath::AmxGemm) {
    // x as it lies (f32 rows are rounded while the GEMM packs them).
    AmxInput in;
    in.ld = M > 1 ? x.strides()[0] : K;
    if (x.dtype() == DType::BF16) {
      in.bf16 = x.data<uint16_t>();
    } else {
      in.f32 = x.data<float>();
    }
    std::shared_ptr<const AmxPackedWeights> packed = cached_amx_weights(w.data<uint16_t>(), N, K, ldw, w.storage());
    AmxEpilogue e;
    e.bias = bp;
    if (epi) {
      e.has_activation = epi->has_activation;
      e.activation = epi->activation;
      if (epi->residual) e.residual = epi->residual->data<float>();
    }
    check_contig(out, "linear", "out");
    if (out.dtype() == DType::BF16) {
      amx_gemm_bf16(in, M, *packed, e, nullptr, out.data<uint16_t>(), N);
    } else {
      amx_gemm_bf16(in, M, *packed, e, out.data<float>(), nullptr, N);
    }
    return;
  }
  const uint16_t* xbp = x_as_bf16_rows(x, M, K, k);
  const uint16_t* wp = w.data<uint16_t>();
  float* op = out.data<float>();
  switch (path) {
    case GemmPath::AmxDecodeRows: {
      thread_local std::vector<uint16_t> x_pairs;
      if (x_pairs.size() < static_cast<size_t>(16 * K)) x_pairs.resize(static_cast<size_t>(16 * K));
      pack_bf16_pairs(xbp, M, K, K, x_pairs.data());
      const uint16_t* xpp = x_pairs.data();
      const int64_t n16 = N / 16 * 16;
      parallel_for_balanced(n16, kGemvRowsPerChunk,
                            [&](int64_t j0, int64_t j1) { k.gemv_bf16_amx(xpp, M, K, wp, ldw, bp, op, N, j0, j1); });
      if (n16 < N) k.gemv_bf16_dp(xbp, M, K, K, wp, ldw, bp, op, N, n16, N);  // the last rows, fewer than 16
      apply_epilogue_after(epi, out);
      return;
    }
    case GemmPath::GemvBf16Pairs:
      parallel_for_balanced(N, kGemvRowsPerChunk,
                            [&](int64_t j0, int64_t j1) { k.gemv_bf16_dp(xbp, M, K, K, wp, ldw, bp, op, N, j0, j1); });
      apply_epilogue_after(epi, out);
      return;
    case GemmPath::GemvBf16Widened: {
      // Widened back to f32 after rounding, so the f32 products are exact.
      thread_local std::vector<float> xr;
      if (xr.size() < static_cast<size_t>(M * K)) xr.resize(static_cast<size_t>(M * K));
      for (int64_t r = 0; r < M; ++r) k.bf16_to_f32(xbp + r * K, xr.data() + r * K, K);
      const float* xrp = xr.data();
      parallel_for_balanced(N, kGemvRowsPerChunk,
                            [&](int64_t j0, int64_t j1) { k.gemv_bf16(xrp, M, K, K, wp, ldw, bp, op, N, j0, j1); });
      apply_epilogue_after(epi, out);
      return;
    }
    default:
      dnnl_linear_prepacked(mat_desc(dt::bf16, {M, K}, {K, 1}), xbp, mat_desc(dt::bf16, {K, N}, {1, ldw}), w.raw(),
                            w.storage(), bp, dst, out.raw(), gemm_epilogue(epi));
      return;
  }
}

void matmul_cpu(const Tensor& a, const Tensor& b, bool trans_b, Tensor& out) {
  check_f32(a, "matmul", "a");
  check_f32(b, "matmul", "b");
  check_f32(out, "matmul", "out");
  check_contig(out, "matmul", "out");
  const int64_t B = a.size(0), M = a.size(1), K = a.size(2), N = out.size(2);
  if (B == 0 || M == 0 || N == 0) return;
  if (K == 0) {
    std::memset(out.raw(), 0, out.nbytes());
    return;
  }
  auto run = [&](const Tensor& A, const Tensor& Bt) {
    const Shape& as = A.strides();
    const Shape& bs = Bt.strides();
    int64_t a0 = B > 1 ? as[0] : M * K, b0 = B > 1 ? bs[0] : K * N;
    MatDesc ad = mat_desc(dt::f32, {B, M, K}, {a0, as[1], as[2]});
    MatDesc bd =
        trans_b ? mat_desc(dt::f32, {B, K, N}, {b0, bs[2], bs[1]}) : mat_desc(dt::f32, {B, K, N}, {b0, bs[1], bs[2]});
    dnnl_matmul(ad, A.raw(), bd, Bt.raw(), nullptr, mat_desc(dt::f32, {B, M, N}, {M * N, N, 1}), out.raw());
  };
  try {
    run(a, b);
  } catch (const dnnl::error&) {
    // Layouts oneDNN rejects (odd strides): run on contiguous copies.
    run(a.contiguous(), b.contiguous());
  }
}

}  // namespace ia::cpu
