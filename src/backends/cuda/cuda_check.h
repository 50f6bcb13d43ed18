#pragma once
// CUDA and cuBLASLt status checks that throw ia::Error, so a failing call becomes a message the
// CLI prints and an exit status, never a silent wrong result.
#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "core/error.h"

namespace ia::cuda {

[[noreturn]] inline void fail_cuda(cudaError_t e, const char* what) {
  // Out of memory is the user's (a model too large for the card); everything else is ours.
  fail(e == cudaErrorMemoryAllocation ? ErrorKind::Unavailable : ErrorKind::Internal, "CUDA: {} failed: {} ({})", what,
       cudaGetErrorString(e), static_cast<int>(e));
}

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail_cuda(e, what);
}

// After a kernel launch: a bad configuration shows here, an execution error at the next sync.
inline void check_launch(const char* what) {
  check(cudaGetLastError(), what);
}

inline void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    fail(ErrorKind::Internal, "cuBLASLt: {} failed: {} ({})", what, cublasLtGetStatusString(s), static_cast<int>(s));
}

}  // namespace ia::cuda
