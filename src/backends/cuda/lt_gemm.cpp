#include "backends/cuda/lt_gemm.h"

#include <cstdint>

#include "backends/cuda/cuda_check.h"
#include "core/error.h"

namespace ia::cuda {
namespace {

constexpr size_t kMaxPlans = 4096;

// The largest power of two (<= 256) dividing the address: cuBLASLt only offers algorithms
// that accept the alignment the preference states (256 bytes unless told).
uint32_t alignment_of(const void* p) {
  auto a = reinterpret_cast<uintptr_t>(p);
  uint32_t al = 256;
  while (al > 1 && (a % al) != 0) al /= 2;
  return al;
}

cublasLtMatrixLayout_t make_layout(cudaDataType_t t, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                                   int64_t batch_stride) {
  cublasLtMatrixLayout_t l = nullptr;
  check(cublasLtMatrixLayoutCreate(&l, t, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), ld),
        "cublasLtMatrixLayoutCreate");
  if (batch > 1) {
    int32_t count = static_cast<int32_t>(batch);
    check(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)),
          "layout batch count");
    check(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &batch_stride,
                                           sizeof(batch_stride)),
          "layout batch stride");
  }
  return l;
}

}  // namespace

struct LtGemm::Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Plan() {
    for (cublasLtMatrixLayout_t l : {a, b, c, d})
      if (l) cublasLtMatrixLayoutDestroy(l);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};

LtGemm::LtGemm(void* workspace, size_t workspace_bytes) : workspace_(workspace), workspace_bytes_(workspace_bytes) {
  check(cublasLtCreate(&handle_), "cublasLtCreate");
}

LtGemm::~LtGemm() {
  plans_.clear();
  if (handle_) cublasLtDestroy(handle_);
}

LtGemm::Plan& LtGemm::plan_for(const LtProblem& p) {
  auto it = plans_.find(p);
  if (it != plans_.end()) return *it->second;
  // Row counts vary with every prompt length; a bound keeps a long-running server's cache small.
  if (plans_.size() >= kMaxPlans) plans_.clear();
  auto plan = std::make_unique<Plan>();
  check(cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  check(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &p.ta, sizeof(p.ta)), "transa");
  check(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &p.tb, sizeof(p.tb)), "transb");
  if (p.bias) {
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    check(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)), "epilogue");
    cudaDataType_t bias_type = CUDA_R_32F;
    check(
        cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof(bias_type)),
        "bias type");
  }
  const bool ta = p.ta == CUBLAS_OP_T, tb = p.tb == CUBLAS_OP_T;
  plan->a = make_layout(p.a_type, ta ? p.k : p.m, ta ? p.m : p.k, p.lda, p.batch, p.stride_a);
  plan->b = make_layout(p.b_type, tb ? p.n : p.k, tb ? p.k : p.n, p.ldb, p.batch, p.stride_b);
  plan->c = make_layout(p.c_type, p.m, p.n, p.ldc, p.batch, p.stride_c);
  plan->d = make_layout(p.d_type, p.m, p.n, p.ldd, p.batch, p.stride_d);

  cublasLtMatmulPreference_t pref = nullptr;
  check(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
  struct PrefGuard {
    cublasLtMatmulPreference_t p;
    ~PrefGuard() { cublasLtMatmulPreferenceDestroy(p); }
  } guard{pref};
  check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes_,
                                             sizeof(workspace_bytes_)),
        "workspace preference");
  const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, p.align_a},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, p.align_b},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, p.align_c},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, p.align_d}};
  for (const auto& [attr, value] : aligns)
    check(cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value)), "alignment preference");
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  check(
      cublasLtMatmulAlgoGetHeuristic(handle_, plan->desc, plan->a, plan->b, plan->c, plan->d, pref, 1, &result, &found),
      "cublasLtMatmulAlgoGetHeuristic");
  if (found == 0)
    fail(ErrorKind::Internal, "cuBLASLt: no algorithm for a {}x{}x{} GEMM (types {}/{} -> {})", p.m, p.n, p.k,
         static_cast<int>(p.a_type), static_cast<int>(p.b_type), static_cast<int>(p.d_type));
  plan->algo = result.algo;
  return *plans_.emplace(p, std::move(plan)).first->second;
}

void LtGemm::run(const LtProblem& p, const void* a, const void* b, const void* c, void* d, const float* bias,
                 cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(mu_);  // one handle, one workspace, and the bias attribute
  Plan& plan = plan_for(p);
  if (p.bias)
    check(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)), "bias");
  const float alpha = 1.0f, beta = p.accumulate ? 1.0f : 0.0f;
  check(cublasLtMatmul(handle_, plan.desc, &alpha, a, plan.a, b, plan.b, &beta, c, plan.c, d, plan.d, &plan.algo,
                       workspace_, workspace_bytes_, stream),
        "cublasLtMatmul");
}

void LtGemm::linear(const GemmMatrix& x, const GemmMatrix& w, const float* bias, const float* residual, GemmMatrix out,
                    int64_t M, int64_t N, int64_t K, cudaStream_t stream) {
  // Column-major: D (N x M, ld out.ld) = op(A) (N x K) . B (K x M), where A is w row-major
  // [N, K] (a K x N column-major matrix, transposed) and B is x row-major [M, K] (K x M).
  LtProblem p;
  p.ta = CUBLAS_OP_T;
  p.tb = CUBLAS_OP_N;
  p.a_type = w.type;
  p.b_type = x.type;
  p.d_type = out.type;
  p.m = N;
  p.n = M;
  p.k = K;
  p.lda = w.ld;
  p.ldb = x.ld;
  p.ldd = out.ld;
  p.bias = bias != nullptr;
  const void* c = out.data;
  if (residual) {
    IA_CHECK(out.type == CUDA_R_32F, "cuda linear: a residual needs an f32 output");
    p.c_type = CUDA_R_32F;
    p.ldc = N;
    p.accumulate = true;
    c = residual;
  } else {
    p.c_type = out.type;
    p.ldc = out.ld;
  }
  p.align_a = alignment_of(w.data);
  p.align_b = alignment_of(x.data);
  p.align_c = alignment_of(c);
  p.align_d = alignment_of(out.data);
  run(p, w.data, x.data, c, const_cast<void*>(out.data), bias, stream);
}

void LtGemm::matmul(const float* a, const float* b, bool trans_b, float* out, int64_t batch, int64_t M, int64_t N,
                    int64_t K, cudaStream_t stream) {
  // Column-major: out^T (N x M) = op(A) (N x K) . a^T (K x M), where A is b as stored: [N, K]
  // row-major (K x N column-major, transposed) or [K, N] row-major (N x K column-major).
  LtProblem p;
  p.ta = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  p.tb = CUBLAS_OP_N;
  p.m = N;
  p.n = M;
  p.k = K;
  p.lda = trans_b ? K : N;
  p.ldb = K;
  p.ldc = p.ldd = N;
  p.batch = batch;
  p.stride_a = N * K;
  p.stride_b = M * K;
  p.stride_c = p.stride_d = M * N;
  p.align_a = alignment_of(b);
  p.align_b = alignment_of(a);
  p.align_c = p.align_d = alignment_of(out);
  run(p, b, a, out, out, nullptr, stream);
}

}  // namespace ia::cuda
