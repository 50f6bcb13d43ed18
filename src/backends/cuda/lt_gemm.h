#pragma once
// Row-major GEMMs through cuBLASLt on the stream each call names (the backend's, or the one it
// records a graph on): out[M, N] = x[M, K] @ w[N, K]^T (+ bias[N])
// (+ residual[M, N]) and batched matmuls. cuBLAS is column-major, so each product is computed as
// its transpose: out^T (N x M) = w (N x K) . x^T (K x M), which is the same memory. f32 runs in
// full f32 (CUBLAS_COMPUTE_32F, no TF32); bf16 operands accumulate in f32.
#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

namespace ia::cuda {

struct GemmMatrix {
  const void* data = nullptr;
  cudaDataType_t type = CUDA_R_32F;
  int64_t ld = 0;  // elements between rows (row-major)
};

// One column-major cuBLASLt problem: D (m x n) = op(A) op(B) (+ bias[m]) (+ C), batched.
// Everything that decides the plan, the operands' alignments included (the algorithm the
// heuristic picks depends on them).
struct LtProblem {
  cublasOperation_t ta = CUBLAS_OP_N, tb = CUBLAS_OP_N;
  cudaDataType_t a_type = CUDA_R_32F, b_type = CUDA_R_32F, c_type = CUDA_R_32F, d_type = CUDA_R_32F;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0, ldd = 0;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_c = 0, stride_d = 0;
  bool bias = false;
  bool accumulate = false;  // beta = 1 with C, else beta = 0
  uint32_t align_a = 0, align_b = 0, align_c = 0, align_d = 0;
  auto operator<=>(const LtProblem&) const = default;
};

class LtGemm {
 public:
  LtGemm(void* workspace, size_t workspace_bytes);
  ~LtGemm();
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;

  // out[M, N] (row-major, ld out.ld) = x[M, K] @ w[N, K]^T + bias[N] (f32, may be null) +
  // residual (f32 [M, N] contiguous, may be null; out must then be f32).
  void linear(const GemmMatrix& x, const GemmMatrix& w, const float* bias, const float* residual, GemmMatrix out,
              int64_t M, int64_t N, int64_t K, cudaStream_t stream);
  // out[b] = a[b] @ (trans_b ? b[b]^T : b[b]) for `batch` contiguous f32 matrices: a [M, K],
  // b [N, K] or [K, N], out [M, N].
  void matmul(const float* a, const float* b, bool trans_b, float* out, int64_t batch, int64_t M, int64_t N, int64_t K,
              cudaStream_t stream);

 private:
  struct Plan;
  // The descriptors, layouts and algorithm of a problem, made once: the heuristic query costs
  // more than a decode step's GEMV.
  Plan& plan_for(const LtProblem& p);
  void run(const LtProblem& p, const void* a, const void* b, const void* c, void* d, const float* bias,
           cudaStream_t stream);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_;
  size_t workspace_bytes_;
  std::mutex mu_;
  std::map<LtProblem, std::unique_ptr<Plan>> plans_;
};

}  // namespace ia::cuda
