// Copy bandwidth and large-GEMM rate, measured in the running process (see ceilings.h).
#include "benchmarks/ceilings.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "backends/backend.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "ops/ops.h"

namespace ia::benchmarks {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Tensor normal_random(const Shape& shape, float scale, uint32_t seed) {
  Tensor t = Tensor::empty(shape, DType::F32);
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0, scale);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = d(rng);
  return t;
}

}  // namespace

Tensor fast_random(const Shape& shape, float scale, uint64_t seed) {
  Tensor t = Tensor::empty(shape, DType::F32);
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = scale * (static_cast<float>(s >> 40) * (2.0f / 16777216.0f) - 1.0f);
  }
  return t;
}

struct CopyWorkload::Buffers {
  std::vector<char> host_a, host_b;  // the CPU's
  Tensor dev_a, dev_b;               // a GPU's
};

CopyWorkload::CopyWorkload(Device device, size_t bytes, int copies_per_run)
    : device_(device),
      bytes_(bytes),
      copies_(device.is_cpu() ? 1 : std::max(1, copies_per_run)),
      buffers_(std::make_unique<Buffers>()) {
  if (bytes_ == 0) fail(ErrorKind::InvalidArgument, "copy ceiling: no bytes to copy");
  if (device_.is_cpu()) {
    buffers_->host_a.assign(bytes_, 1);
    buffers_->host_b.assign(bytes_, 2);
  } else {
    Backend& be = backend_for(device_);
    const Shape shape{static_cast<int64_t>(bytes_)};
    buffers_->dev_a = Tensor(be.allocate(bytes_), 0, shape, contiguous_strides(shape), DType::U8);
    buffers_->dev_b = Tensor(be.allocate(bytes_), 0, shape, contiguous_strides(shape), DType::U8);
  }
}

CopyWorkload::~CopyWorkload() = default;

void CopyWorkload::run() {
  if (device_.is_cpu()) {
    constexpr int64_t kChunks = 1024;
    const size_t step = bytes_ / kChunks;
    char* dst = buffers_->host_b.data();
    const char* src = buffers_->host_a.data();
    parallel_for(kChunks, 1, [&](int64_t c0, int64_t c1) {
      const size_t end = c1 == kChunks ? bytes_ : static_cast<size_t>(c1) * step;
      std::memcpy(dst + c0 * step, src + c0 * step, end - static_cast<size_t>(c0) * step);
    });
    return;
  }
  Backend& be = backend_for(device_);
  for (int i = 0; i < copies_; ++i) be.copy(buffers_->dev_a, buffers_->dev_b);
  be.synchronize();
}

double CopyWorkload::bytes_per_run() const {
  return 2.0 * static_cast<double>(bytes_) * copies_;
}

GemmWorkload::GemmWorkload(Device device, DType weight_dtype, int64_t m, int64_t n, int64_t k)
    : device_(device), m_(m), n_(n), k_(k) {
  if (m <= 0 || n <= 0 || k <= 0) fail(ErrorKind::InvalidArgument, "GEMM ceiling: shape {}x{}x{}", m, n, k);
  if (device_.is_cpu()) {
    x_ = normal_random({m, k}, 1.0f, 1);
    w_ = normal_random({n, k}, 0.02f, 2).to(weight_dtype);
  } else {
    // x already in the weights' dtype, as a bf16 model's norms hand it over: the GEMM alone.
    x_ = fast_random({m, k}, 1.0f, 1);
    if (weight_dtype != DType::F32) x_ = x_.to(weight_dtype);
    x_ = ops::to_device(x_, device_);
    w_ = ops::to_device(fast_random({n, k}, 0.02f, 2).to(weight_dtype), device_);
  }
}

void GemmWorkload::run() {
  Tensor y = ops::linear(x_, w_, nullptr);
  if (!device_.is_cpu()) ops::synchronize(device_);
}

GemmShape default_gemm_shape(Device device) {
  return device.is_cpu() ? GemmShape{4096, 2048, 2048} : GemmShape{8192, 8192, 8192};
}

double Ceilings::gemm_for(const std::string& dtype) const {
  auto it = gemm_flops.find(dtype);
  return it == gemm_flops.end() ? 0.0 : it->second;
}

double best_rate(const std::function<void()>& work, double units_per_run, double min_seconds) {
  work();  // untimed: page faults, primitive creation, the GEMM heuristic's choice
  double best = 0;
  const double start = now_s();
  for (int runs = 0; runs < 3 || now_s() - start < min_seconds; ++runs) {
    const double t0 = now_s();
    work();
    const double dt = now_s() - t0;
    if (dt > 0) best = std::max(best, units_per_run / dt);
  }
  return best;
}

Ceilings measure_ceilings(Device device, const std::vector<std::string>& dtypes, const CeilingOptions& options) {
  Ceilings c;
  c.device = device.str();
  {
    CopyWorkload copy(device, options.copy_bytes);
    c.copy_bytes_per_s = best_rate([&] { copy.run(); }, copy.bytes_per_run(), options.min_seconds);
  }
  const GemmShape shape = options.gemm.m > 0 ? options.gemm : default_gemm_shape(device);
  for (const std::string& name : dtypes) {
    DType dtype;
    if (!parse_dtype(name, &dtype)) fail(ErrorKind::InvalidArgument, "GEMM ceiling: unknown dtype \"{}\"", name);
    if (c.gemm_flops.count(dtype_name(dtype))) continue;
    GemmWorkload gemm(device, dtype, shape.m, shape.n, shape.k);
    c.gemm_flops[dtype_name(dtype)] = best_rate([&] { gemm.run(); }, gemm.flops_per_run(), options.min_seconds);
  }
  return c;
}

}  // namespace ia::benchmarks
