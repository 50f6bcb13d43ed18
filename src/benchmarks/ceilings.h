#pragma once
// The machine's own ceilings, measured in the process that runs the benchmark so that every
// figure can be given as a fraction of what this hardware reaches right now: copy bandwidth (a
// buffer far larger than the caches copied in parallel over the threads the models use; on a GPU
// a device-to-device copy) and the FLOP/s of one large GEMM through the same linear op the models
// call, per weight dtype. The Google Benchmark programs under bench/ time the same workloads
// (CopyWorkload, GemmWorkload) in their own loops.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace ia::benchmarks {

// Uniform values in [-scale, scale) from an LCG: fast enough for GPU-sized operands (a normal
// distribution over 2^26 values takes seconds), and not constant (a GEMM on zeros draws less
// power and would overstate the rate).
Tensor fast_random(const Shape& shape, float scale, uint64_t seed);

// A copy of `bytes` between two buffers on `device`. On the CPU the copy is split into chunks
// over the thread pool; on a GPU it is `copies_per_run` device-to-device copies, so that the wait
// ending a run is a negligible part of it.
class CopyWorkload {
 public:
  CopyWorkload(Device device, size_t bytes, int copies_per_run = 4);
  ~CopyWorkload();
  CopyWorkload(const CopyWorkload&) = delete;
  CopyWorkload& operator=(const CopyWorkload&) = delete;
  // One copy (or copies_per_run on a GPU), finished on return.
  void run();
  // Bytes read plus bytes written by one run(), as STREAM counts a copy.
  double bytes_per_run() const;

 private:
  struct Buffers;
  Device device_;
  size_t bytes_;
  int copies_;
  std::unique_ptr<Buffers> buffers_;
};

// One [m, k] x [n, k]^T product through ops::linear with `weight_dtype` weights (bf16 activations
// on a GPU, as the models hand them to their linears; f32 on the CPU, converted by the op).
class GemmWorkload {
 public:
  GemmWorkload(Device device, DType weight_dtype, int64_t m, int64_t n, int64_t k);
  // One product, finished on return (the first call creates the primitive: call once untimed).
  void run();
  double flops_per_run() const {
    return 2.0 * static_cast<double>(m_) * static_cast<double>(n_) * static_cast<double>(k_);
  }

 private:
  Device device_;
  int64_t m_, n_, k_;
  Tensor x_, w_;
};

// What a CPU saturates on (4096 x 2048 x 2048) and what an H100 needs (8192^3; the CPU's takes it
// ~50 us, the launch overhead would dominate).
struct GemmShape {
  int64_t m = 0, n = 0, k = 0;
};
GemmShape default_gemm_shape(Device device);

struct CeilingOptions {
  size_t copy_bytes = size_t{256} << 20;  // per buffer; far beyond any last-level cache
  GemmShape gemm;                         // 0: default_gemm_shape(device)
  double min_seconds = 0.3;               // each ceiling runs at least this long (and at least 3 times)
};

struct Ceilings {
  std::string device;                        // "cpu", "cuda:0"
  double copy_bytes_per_s = 0;               // best run
  std::map<std::string, double> gemm_flops;  // by weight dtype name ("f32", "bf16"), best run
  // The ceiling for a dtype, 0 when it was not measured.
  double gemm_for(const std::string& dtype) const;
};

// Runs `work` once untimed, then until min_seconds have passed (at least 3 times); the best
// rate in units per second, `units_per_run` / fastest run.
double best_rate(const std::function<void()>& work, double units_per_run, double min_seconds);

// Copy bandwidth and the GEMM rate of every dtype in `dtypes` ("f32", "bf16") on `device`.
Ceilings measure_ceilings(Device device, const std::vector<std::string>& dtypes, const CeilingOptions& options = {});

}  // namespace ia::benchmarks
