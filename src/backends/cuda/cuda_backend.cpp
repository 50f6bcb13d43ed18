// The CUDA backend: one per GPU, each with its own stream, caching allocator, cuBLASLt handle
// and workspace. Every op enqueues on the stream and returns; the host waits only where it
// must read the device (a copy to the host, an index check). Ops take f32 activations, as the
// CPU backend does; bf16 is a weight and GEMM dtype (backends/backend.h).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/device_memory.h"
#include "backends/cuda/kernels.h"
#include "backends/cuda/lt_gemm.h"
#include "backends/cuda_plugin_abi.h"
#include "core/error.h"
#include "core/tensor.h"

namespace ia::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // cuBLASLt's recommended size for Hopper
// Floats of a conv1d's im2col scratch (64 MiB): output rows are gathered in chunks of this much.
constexpr int64_t kConvColumnBudget = int64_t{16} << 20;

ElemType elem_type(DType t) {
  switch (t) {
    case DType::F64: return ElemType::F64;
    case DType::F32: return ElemType::F32;
    case DType::F16: return ElemType::F16;
    case DType::BF16: return ElemType::BF16;
    case DType::I64: return ElemType::I64;
    case DType::I32: return ElemType::I32;
    case DType::I16: return ElemType::I16;
    case DType::I8: return ElemType::I8;
    case DType::U8: return ElemType::U8;
    case DType::Bool: return ElemType::Bool;
    case DType::Q8:
    case DType::Q4G32:
    case DType::Q4G128:
    case DType::Q4ZG32:
    case DType::Q4ZG128:
    case DType::Q8Kv: return ElemType::U8;  // packed weight / KV bytes: copied as bytes
  }
  fail(ErrorKind::Internal, "cuda: unknown dtype");
}

Act act_of(Activation a) {
  switch (a) {
    case Activation::GeluErf: return Act::GeluErf;
    case Activation::GeluTanh: return Act::GeluTanh;
    case Activation::Tanh: return Act::Tanh;
    case Activation::Relu: return Act::Relu;
    case Activation::Silu: return Act::Silu;
    case Activation::QuickGelu: return Act::QuickGelu;
  }
  fail(ErrorKind::Internal, "cuda: unknown activation");
}

// Makes `device` current for the calling thread while in scope (ops may come from any thread).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) check(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceGuard() {
    int now = 0;
    if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

template <typename T>
const T* cptr(const Tensor& t) {
  return static_cast<const T*>(t.raw());
}
template <typename T>
T* mptr(Tensor& t) {
  return static_cast<T*>(t.raw());
}

HeadsView heads_view(const Tensor& t, int row_dim, int head_dim) {
  HeadsView v;
  v.data = cptr<float>(t);
  v.row_stride = t.strides()[static_cast<size_t>(row_dim)];
  v.head_stride = t.strides()[static_cast<size_t>(head_dim)];
  return v;
}

// The graph recorded from one thread's ops (Backend::begin_recording), and the private memory
// pool whose addresses it replays on.
class CudaGraphWork final : public RecordedWork {
 public:
  CudaGraphWork(cudaGraph_t graph, cudaGraphExec_t exec, cudaStream_t stream, int device,
                std::shared_ptr<DeviceAllocator> allocator, std::shared_ptr<PrivatePool> pool)
      : graph_(graph),
        exec_(exec),
        stream_(stream),
        device_(device),
        allocator_(std::move(allocator)),
        pool_(std::move(pool)) {}
  ~CudaGraphWork() override {
    // Replays already queued keep their memory: the pool's blocks return to the general pool,
    // whose next users queue behind them on the same stream.
    cudaGraphExecDestroy(exec_);
    cudaGraphDestroy(graph_);
    allocator_->retire(pool_);
  }
  CudaGraphWork(const CudaGraphWork&) = delete;
  CudaGraphWork& operator=(const CudaGraphWork&) = delete;
  void replay() override {
    int prev = 0;
    check(cudaGetDevice(&prev), "cudaGetDevice");
    if (prev != device_) check(cudaSetDevice(device_), "cudaSetDevice");
    const cudaError_t e = cudaGraphLaunch(exec_, stream_);
    if (prev != device_) cudaSetDevice(prev);
    check(e, "cudaGraphLaunch");
  }

 private:
  cudaGraph_t graph_;
  cudaGraphExec_t exec_;
  cudaStream_t stream_;
  int device_;
  std::shared_ptr<DeviceAllocator> allocator_;
  std::shared_ptr<PrivatePool> pool_;
};

// The recording this thread has open, if any: its ops go to the recording stream instead of the
// backend's, so other threads' work is neither recorded nor held up.
struct ThreadRecording {
  const void* backend = nullptr;
  cudaStream_t stream = nullptr;
  std::shared_ptr<PrivatePool> pool;
};
thread_local ThreadRecording tls_recording;

// The most rows a bf16 linear hands to the decode GEMV (gemv_kernels.cu) instead of cuBLASLt.
// IA_CUDA_GEMV_ROWS=N changes it (0: never; the A/B of bench.sh); read once.
int64_t gemv_max_rows() {
  static const int64_t rows = [] {
    const char* e = std::getenv("IA_CUDA_GEMV_ROWS");
    if (!e || !*e) return int64_t{2};
    char* end = nullptr;
    const long v = std::strtol(e, &end, 10);
    return (*end == '\0' && v >= 0) ? std::min<int64_t>(v, kGemvMaxRows) : int64_t{2};
  }();
  return rows;
}

class CudaBackend final : public Backend {
 public:
  CudaBackend(int index, const cudaDeviceProp& prop, int runtime_version)
      : index_(index), allocator_(std::make_shared<DeviceAllocator>(index)) {
    DeviceGuard g(index_);
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    // Attention's split-K scratch comes from cudaMallocAsync; by default the pool returns its
    // memory at every synchronisation, and each step would allocate it from the driver again.
    cudaMemPool_t pool = nullptr;
    check(cudaDeviceGetDefaultMemPool(&pool, index_), "cudaDeviceGetDefaultMemPool");
    uint64_t keep = UINT64_MAX;
    check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep), "cudaMemPoolSetAttribute");
    check(cudaMalloc(&workspace_, kWorkspaceBytes), "cudaMalloc (cuBLASLt workspace)");
    check(cudaMalloc(reinterpret_cast<void**>(&flag_), sizeof(int)), "cudaMalloc (flag)");
    check(cudaMemset(flag_, 0, sizeof(int)), "cudaMemset");
    gemm_ = std::make_unique<LtGemm>(workspace_, kWorkspaceBytes);
    name_ = fmt::format("cuda:{} ({}, compute capability {}.{}, {:.0f} GiB, CUDA runtime {}.{})", index, prop.name,
                        prop.major, prop.minor, static_cast<double>(prop.totalGlobalMem) / (1u << 30),
                        runtime_version / 1000, runtime_version % 1000 / 10);
  }
  // Device resources stay with the process: at exit the CUDA runtime may be torn down before
  // this destructor runs, and freeing into it would fail.
  ~CudaBackend() override = default;

  Device device() const override { return Device::cuda(index_); }
  std::string name() const override { return name_; }

  std::shared_ptr<Storage> allocate(size_t bytes) override {
    DeviceGuard g(index_);
    return allocator_->allocate(bytes);
  }

  void copy(const Tensor& src, Tensor& dst) override {
    IA_CHECK(src.shape() == dst.shape() && src.dtype() == dst.dtype(), "cuda copy: {} -> {}", src.describe(),
             dst.describe());
    IA_CHECK(dst.is_contiguous(), "cuda copy: the destination {} must be contiguous", dst.describe());
    if (src.numel() == 0) return;
    DeviceGuard g(index_);
    if (dst.storage() == checked_starts_.lock()) checked_starts_.reset();  // new contents: check again
    if (dst.storage() == checked_ranges_.lock()) checked_ranges_.reset();
    const bool src_here = src.device() == device(), dst_here = dst.device() == device();
    if (src_here && dst_here) {
      to_contiguous(src, dst);
      return;
    }
    if (recording()) fail(ErrorKind::Internal, "cuda: a copy between host and device cannot be recorded into a graph");
    if (!src_here && dst_here) {
      IA_CHECK(src.device().is_cpu(), "cuda copy: from {}", src.device().str());
      Tensor h = src.contiguous();
      check(cudaMemcpyAsync(dst.raw(), h.raw(), h.nbytes(), cudaMemcpyHostToDevice, stream()), "cudaMemcpyAsync H2D");
      // The host buffer may be freed once this returns, and it is pageable: wait.
      synchronize("copy to the device");
      return;
    }
    IA_CHECK(src_here && dst.device().is_cpu(), "cuda copy: {} -> {}", src.describe(), dst.describe());
    Tensor s = contiguous_here(src);
    check(cudaMemcpyAsync(dst.raw(), s.raw(), s.nbytes(), cudaMemcpyDeviceToHost, stream()), "cudaMemcpyAsync D2H");
    synchronize("copy to the host");
  }

  void synchronize() override {
    DeviceGuard g(index_);
    synchronize("synchronize");
  }

  std::optional<DeviceMemoryInfo> memory_info() const override {
    DeviceGuard g(index_);
    size_t free_b = 0, total_b = 0;
    check(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
    return DeviceMemoryInfo{static_cast<int64_t>(free_b + allocator_->cached_bytes()), static_cast<int64_t>(total_b)};
  }

  void release_cached_memory() override {
    DeviceGuard g(index_);
    allocator_->release_cached();
  }

  bool can_record() const override { return true; }

  void begin_recording() override {
    IA_CHECK(!recording(), "cuda: a recording is already open on this thread");
    DeviceGuard g(index_);
    std::unique_lock<std::mutex> lock(record_mu_);  // one recording stream per backend
    if (!record_stream_)
      check(cudaStreamCreateWithFlags(&record_stream_, cudaStreamNonBlocking), "cudaStreamCreate (recording)");
    // Relaxed: the caching allocator may call cudaMalloc while recording (not a stream operation).
    check(cudaStreamBeginCapture(record_stream_, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
    tls_recording = {this, record_stream_, allocator_->begin_private_pool()};
    record_lock_ = std::move(lock);
  }

  std::unique_ptr<RecordedWork> end_recording() override {
    IA_CHECK(recording(), "cuda: no recording is open on this thread");
    DeviceGuard g(index_);
    ThreadRecording rec = std::move(tls_recording);
    tls_recording = {};
    allocator_->end_private_pool();
    std::unique_lock<std::mutex> lock = std::move(record_lock_);
    cudaGraph_t graph = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(rec.stream, &graph);
    if (ended != cudaSuccess || graph == nullptr) {
      cudaGetLastError();
      if (graph) cudaGraphDestroy(graph);
      allocator_->retire(rec.pool);
      fail(ErrorKind::Unsupported, "cuda: the recorded ops do not form a graph ({})", cudaGetErrorString(ended));
    }
    cudaGraphExec_t exec = nullptr;
    const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
    if (made != cudaSuccess) {
      cudaGetLastError();
      cudaGraphDestroy(graph);
      allocator_->retire(rec.pool);
      fail(ErrorKind::Unsupported, "cuda: cudaGraphInstantiate failed ({})", cudaGetErrorString(made));
    }
    return std::make_unique<CudaGraphWork>(graph, exec, stream_, index_, allocator_, std::move(rec.pool));
  }

  bool supports(OpKind op, DType t) const override {
    switch (op) {
      case OpKind::Linear: return t == DType::F32 || t == DType::BF16;
      case OpKind::Embedding: return t == DType::F32 || t == DType::BF16 || t == DType::F16;
      case OpKind::Cast: return true;
      case OpKind::RmsNorm:
      case OpKind::SwiGlu: return t == DType::F32 || t == DType::BF16;
      default: return t == DType::F32;
    }
  }

  void embedding(const Tensor& table, const Tensor& ids, Tensor& out) override {
    if (out.numel() == 0) return;
    DeviceGuard g(index_);
    launch_embedding(table.raw(), elem_type(table.dtype()), table.size(0), table.size(1), ids.raw(),
                     ids.dtype() == DType::I64, ids.numel(), mptr<float>(out), flag_, stream());
    check_launch("embedding");
    // Ids come from user text through the tokenizer; the runtime checks them too, but the op's
    // contract is to refuse an out-of-range id, which needs the device's answer now. A recorded
    // step cannot wait: its flag is read at the copy of its output.
    if (!recording()) raise_if_flagged("embedding", "embedding: a token id is outside the table");
  }

  void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) override {
    linear_fused(x, w, bias, LinearEpilogue{}, out);
  }

  void linear_fused(const Tensor& x, const Tensor& w, const Tensor* bias, const LinearEpilogue& epilogue,
                    Tensor& out) override {
    const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
    if (M == 0 || N == 0) return;
    DeviceGuard g(index_);
    const bool bf16_w = w.dtype() == DType::BF16;
    const bool out_bf16 = out.dtype() == DType::BF16;
    const float* b = bias ? cptr<float>(*bias) : nullptr;
    const float* residual = epilogue.residual ? cptr<float>(*epilogue.residual) : nullptr;
    const Act act = act_of(epilogue.activation);
    const bool x_is_bf16 = x.dtype() == DType::BF16;
    if (bf16_w && gemv_bf16_applies(x.raw(), x_is_bf16, x.strides()[0], w.raw(), w.strides()[0],
                                    epilogue.has_activation, act, M, K, gemv_max_rows())) {
      // A few rows against the whole weight: one pass over it with the epilogue fused.
      launch_gemv_bf16(x.raw(), x_is_bf16, x.strides()[0], cptr<uint16_t>(w), w.strides()[0], b,
                       epilogue.has_activation, act, residual, out.raw(), out_bf16, M, N, K, stream());
      check_launch("linear (gemv)");
      return;
    }
    GemmMatrix xm{x.raw(), CUDA_R_32F, x.strides()[0]};
    Tensor x_bf16;
    if (bf16_w) {
      if (x.dtype() == DType::BF16) {
        xm.type = CUDA_R_16BF;
      } else {
        // The bf16 linear's input, rounded as the CPU rounds it.
        x_bf16 = scratch({M, K}, DType::BF16);
        if (K > 0) {
          launch_round_rows_to_bf16(cptr<float>(x), x.strides()[0], mptr<uint16_t>(x_bf16), M, K, stream());
          check_launch("round to bf16");
        }
        xm = {x_bf16.raw(), CUDA_R_16BF, K};
      }
    }
    const GemmMatrix wm{w.raw(), bf16_w ? CUDA_R_16BF : CUDA_R_32F, w.strides()[0]};
    // The GEMM writes f32 with the bias (and the residual, when nothing comes between); an
    // activation or a bf16 output is one more pass over the result.
    const bool direct = !out_bf16 && !epilogue.has_activation;
    Tensor acc = direct ? out : (out_bf16 ? scratch({M, N}, DType::F32) : out);
    if (K == 0) {
      // No products: the bias alone (cuBLASLt does not take K = 0).
      check(cudaMemsetAsync(acc.raw(), 0, acc.nbytes(), stream()), "cudaMemsetAsync");
      if (b) launch_add(cptr<float>(acc), b, N, mptr<float>(acc), M * N, stream());
      if (direct && residual) launch_add(cptr<float>(acc), residual, M * N, mptr<float>(acc), M * N, stream());
      check_launch("linear (K = 0)");
    } else {
      gemm_->linear(xm, wm, b, direct ? residual : nullptr, GemmMatrix{acc.raw(), CUDA_R_32F, N}, M, N, K, stream());
    }
    if (!direct) {
      launch_linear_epilogue(cptr<float>(acc), epilogue.has_activation, act, residual, out.raw(), out_bf16, M, N,
                             stream());
      check_launch("linear epilogue");
    }
  }

  void matmul(const Tensor& a, const Tensor& b, bool trans_b, Tensor& out) override {
    const int64_t B = a.size(0), M = a.size(1), K = a.size(2);
    const int64_t N = out.size(2);
    if (out.numel() == 0) return;
    DeviceGuard g(index_);
    if (K == 0) {
      check(cudaMemsetAsync(out.raw(), 0, out.nbytes(), stream()), "cudaMemsetAsync");
      return;
    }
    Tensor ac = contiguous_here(a), bc = contiguous_here(b);
    gemm_->matmul(cptr<float>(ac), cptr<float>(bc), trans_b, mptr<float>(out), B, M, N, K, stream());
  }

  void layer_norm(const Tensor& x, const Tensor& weight, const Tensor* bias, float eps, Tensor& out) override {
    if (x.numel() == 0) return;
    DeviceGuard g(index_);
    const int64_t H = x.size(-1);
    launch_layer_norm(cptr<float>(x), cptr<float>(weight), bias ? cptr<float>(*bias) : nullptr, eps, mptr<float>(out),
                      x.numel() / H, H, stream());
    check_launch("layer_norm");
  }

  void activation(Activation act, const Tensor& x, Tensor& out) override {
    if (x.numel() == 0) return;
    DeviceGuard g(index_);
    launch_activation(act_of(act), cptr<float>(x), mptr<float>(out), x.numel(), stream());
    check_launch("activation");
  }

  void softmax(const Tensor& x, Tensor& out) override {
    if (x.numel() == 0) return;
    DeviceGuard g(index_);
    const int64_t C = x.size(-1);
    launch_softmax(cptr<float>(x), mptr<float>(out), x.numel() / C, C, stream());
    check_launch("softmax");
  }

  void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* key_mask,
                 const AttentionParams& params, Tensor& out) override {
    if (out.numel() == 0) return;
    DeviceGuard g(index_);
    const int64_t B = q.size(0), Sq = q.size(1), H = q.size(2), D = q.size(3), Sk = k.size(1);
    // The kernel takes one batch stride for k and v.
    Tensor kc = k, vc = v;
    if (k.strides()[0] != v.strides()[0]) {
      kc = contiguous_here(k);
      vc = contiguous_here(v);
    }
    Tensor mask;
    if (key_mask) mask = as_f32_here(*key_mask);
    launch_attention(heads_view(q, 1, 2), q.strides()[0], heads_view(kc, 1, 2), heads_view(vc, 1, 2), kc.strides()[0],
                     key_mask ? cptr<float>(mask) : nullptr, params.scale, params.causal, mptr<float>(out), B, Sq, Sk,
                     H, D, stream());
    check_launch("attention");
  }

  void add(const Tensor& a, const Tensor& b, Tensor& out) override {
    if (a.numel() == 0) return;
    DeviceGuard g(index_);
    launch_add(cptr<float>(a), cptr<float>(b), std::max<int64_t>(b.numel(), 1), mptr<float>(out), a.numel(), stream());
    check_launch("add");
  }

  void pool(PoolMode mode, const Tensor& x, const Tensor& mask, Tensor& out) override {
    if (out.numel() == 0) return;
    DeviceGuard g(index_);
    const int64_t B = x.size(0), S = x.size(1), H = x.size(2);
    if (S == 0) {
      check(cudaMemsetAsync(out.raw(), 0, out.nbytes(), stream()), "cudaMemsetAsync");
      return;
    }
    Pool p = Pool::Cls;
    switch (mode) {
      case PoolMode::Cls: p = Pool::Cls; break;
      case PoolMode::Mean: p = Pool::Mean; break;
      case PoolMode::Max: p = Pool::Max; break;
      case PoolMode::MeanSqrtLen: p = Pool::MeanSqrtLen; break;
      default: fail(ErrorKind::Unsupported, "cuda pool: mode {} is pooled by the runtime", static_cast<int>(mode));
    }
    Tensor m = as_f32_here(mask);
    launch_pool(p, cptr<float>(x), cptr<float>(m), mptr<float>(out), B, S, H, stream());
    check_launch("pool");
  }

  void l2_normalize(const Tensor& x, float eps, Tensor& out) override {
    if (x.numel() == 0) return;
    DeviceGuard g(index_);
    const int64_t C = x.size(-1);
    launch_l2_normalize(cptr<float>(x), eps, mptr<float>(out), x.numel() / C, C, stream());
    check_launch("l2_normalize");
  }

  void cast(const Tensor& x, Tensor& out) override {
    if (x.numel() == 0) return;
    DeviceGuard g(index_);
    Tensor xc = contiguous_here(x);
    launch_cast(xc.raw(), elem_type(xc.dtype()), out.raw(), elem_type(out.dtype()), xc.numel(), stream());
    check_launch("cast");
  }

  void argmax(const Tensor& x, Tensor& out) override {
    if (out.numel() == 0) return;
    DeviceGuard g(index_);
    launch_argmax(cptr<float>(x), mptr<int32_t>(out), x.size(0), x.size(1), stream());
    check_launch("argmax");
  }

  void top_k(const Tensor& x, int64_t k, Tensor& values, Tensor& ids) override {
    if (values.numel() == 0) return;
    DeviceGuard g(index_);
    launch_top_k(cptr<float>(x), mptr<float>(values), mptr<int32_t>(ids), x.size(0), x.size(1), k, stream());
    check_launch("top_k");
  }

  void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) override {
    if (x.numel() == 0) return;
    DeviceGuard g(index_);
    const int64_t H = x.size(-1);
    launch_rms_norm(cptr<float>(x), cptr<float>(weight), eps, out.raw(), out.dtype() == DType::BF16, x.numel() / H, H,
                    stream());
    check_launch("rms_norm");
  }

  void rotary(const Tensor& x, const Tensor& positions, const Tensor& cos, const Tensor& sin, Tensor& out) override {
    if (x.numel() == 0) return;
    DeviceGuard g(index_);
    const int64_t T = x.size(0), N = x.size(1), D = x.size(2);
    Tensor pos = as_type_here(positions, DType::I64);
    launch_rotary(cptr<float>(x), x.strides()[0], x.strides()[1], cptr<int64_t>(pos), cptr<float>(cos),
                  cptr<float>(sin), cos.size(0), 2 * cos.size(1), mptr<float>(out), T, N, D, flag_, stream());
    check_launch("rotary");
  }

  void gated_activation(Activation act, const Tensor& x, Tensor& out) override {
    if (out.numel() == 0) return;
    DeviceGuard g(index_);
    const int64_t I = x.size(-1) / 2;
    launch_gated_activation(act_of(act), cptr<float>(x), out.raw(), out.dtype() == DType::BF16, out.numel() / I, I,
                            stream());
    check_launch("gated_activation");
  }

  void kv_cache_write(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& k_cache,
                      Tensor& v_cache) override {
    if (k.numel() == 0) return;
    DeviceGuard g(index_);
    Tensor s = as_type_here(slots, DType::I64);
    const int64_t num_slots = k_cache.size(0) * k_cache.size(1);
    launch_kv_cache_write(cptr<float>(k), k.strides()[0], k.strides()[1], cptr<float>(v), v.strides()[0],
                          v.strides()[1], cptr<int64_t>(s), mptr<float>(k_cache), mptr<float>(v_cache), num_slots,
                          k.size(0), k.size(1), k.size(2), flag_, stream());
    check_launch("kv_cache_write");
  }

  void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables,
                       const Tensor& seq_lens, const Tensor& query_start, const PagedAttentionParams& params,
                       Tensor& out) override {
    if (out.numel() == 0) return;
    DeviceGuard g(index_);
    Tensor tables = as_type_here(block_tables, DType::I32);
    Tensor lens = as_type_here(seq_lens, DType::I32);
    Tensor starts = as_type_here(query_start, DType::I32);
    launch_paged_attention(heads_view(q, 0, 1), cptr<float>(k_cache), cptr<float>(v_cache), k_cache.size(1),
                           cptr<int32_t>(tables), tables.size(1), cptr<int32_t>(lens), cptr<int32_t>(starts),
                           lens.size(0), params.scale, params.window, params.bf16_products,
                           bias_ptr(params.position_bias), params.position_bias.max_distance(), mptr<float>(out),
                           q.size(0), q.size(1), k_cache.size(2), q.size(2), stream());
    check_launch("paged_attention");
  }

  void conv1d(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv1dParams& p, Tensor& out) override {
    if (out.numel() == 0) return;
    DeviceGuard g(index_);
    const int64_t B = x.size(0), L = x.size(1), Cin = x.size(2), Cout = w.size(0), K = w.size(2), G = p.groups;
    const int64_t Cg = Cin / G, Og = Cout / G, CK = Cg * K, Lout = out.size(1);
    IA_CHECK(x.is_contiguous() && w.is_contiguous() && Lout == conv1d_output_length(L, K, p),
             "cuda conv1d: x {} w {} out {}", x.describe(), w.describe(), out.describe());
    // im2col in chunks of output rows (a long clip's positional convolution would otherwise
    // need frames x Cin/G x K floats at once), each group one GEMM against its weights in place
    // whose output columns land in the group's slice of the output rows (ld = Cout).
    const int64_t chunk = std::max<int64_t>(1, std::min(Lout, kConvColumnBudget / CK));
    Tensor col = scratch({chunk, CK}, DType::F32);
    const float* xp = cptr<float>(x);
    const float* wp = cptr<float>(w);
    const float* bp = bias ? cptr<float>(*bias) : nullptr;
    float* op = mptr<float>(out);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t0 = 0; t0 < Lout; t0 += chunk) {
        const int64_t rows = std::min(chunk, Lout - t0);
        for (int64_t grp = 0; grp < G; ++grp) {
          launch_im2col_1d(xp + b * L * Cin, L, Cin, Cg, grp, K, p.stride, p.padding, p.dilation, t0, rows,
                           mptr<float>(col), stream());
          check_launch("conv1d im2col");
          gemm_->linear(GemmMatrix{col.raw(), CUDA_R_32F, CK}, GemmMatrix{wp + grp * Og * CK, CUDA_R_32F, CK},
                        bp ? bp + grp * Og : nullptr, nullptr,
                        GemmMatrix{op + (b * Lout + t0) * Cout + grp * Og, CUDA_R_32F, Cout}, rows, Og, CK, stream());
        }
      }
  }

  void conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p, Tensor& out) override {
    if (out.numel() == 0) return;
    DeviceGuard g(index_);
    const int64_t B = x.size(0), H = x.size(1), W = x.size(2), Cin = x.size(3);
    const int64_t Cout = w.size(0), KH = w.size(2), KW = w.size(3), G = p.groups;
    const int64_t Cg = Cin / G, Og = Cout / G, CK = Cg * KH * KW, Hout = out.size(1), Wout = out.size(2);
    const int64_t P = Hout * Wout;
    IA_CHECK(x.is_contiguous() && w.is_contiguous() &&
                 Hout == window_output_size(H, KH, p.stride_h, p.padding_h, p.dilation_h) &&
                 Wout == window_output_size(W, KW, p.stride_w, p.padding_w, p.dilation_w),
             "cuda conv2d: x {} w {} out {}", x.describe(), w.describe(), out.describe());
    const float* xp = cptr<float>(x);
    const float* bp = bias ? cptr<float>(*bias) : nullptr;
    float* op = mptr<float>(out);
    // bf16 products (a bf16 model): x and w rounded to bf16 for the tensor cores, f32 out. Only
    // where a column row is whole 16-byte vectors (CK % 8 == 0): cuBLASLt's bf16 kernels want
    // aligned rows, and the one layer that misses it (a stem of 3 channels) is small.
    const bool bf16 = p.bf16_products && CK % 8 == 0;
    const cudaDataType_t ct = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    Tensor wb;
    const void* wp = cptr<float>(w);
    if (bf16) {
      wb = scratch({Cout, CK}, DType::BF16);
      launch_cast(wp, ElemType::F32, wb.raw(), ElemType::BF16, Cout * CK, stream());
      check_launch("conv2d weights to bf16");
      wp = wb.raw();
    }
    const size_t wsize = bf16 ? 2 : 4;
    auto w_group = [&](int64_t grp) { return static_cast<const char*>(wp) + grp * Og * CK * wsize; };
    if (KH == 1 && KW == 1 && p.stride_h == 1 && p.stride_w == 1 && p.padding_h == 0 && p.padding_w == 0 && G == 1) {
      // A pointwise convolution: the pixels are the GEMM's rows already.
      const void* xin = xp;
      Tensor xb;
      if (bf16) {
        xb = scratch({B * P, Cin}, DType::BF16);
        launch_round_rows_to_bf16(xp, Cin, static_cast<uint16_t*>(xb.raw()), B * P, Cin, stream());
        check_launch("conv2d x to bf16");
        xin = xb.raw();
      }
      gemm_->linear(GemmMatrix{xin, ct, Cin}, GemmMatrix{wp, ct, Cin}, bp, nullptr, GemmMatrix{op, CUDA_R_32F, Cout},
                    B * P, Cout, Cin, stream());
      return;
    }
    // im2col in chunks of output pixels, each group one GEMM against its weights in place whose
    // output columns land in the group's slice of the output rows (ld = Cout), as conv1d.
    const int64_t chunk = std::max<int64_t>(1, std::min(P, kConvColumnBudget / CK));
    Tensor col = scratch({chunk, CK}, bf16 ? DType::BF16 : DType::F32);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t p0 = 0; p0 < P; p0 += chunk) {
        const int64_t rows = std::min(chunk, P - p0);
        for (int64_t grp = 0; grp < G; ++grp) {
          const Im2col2dShape s{H,    W,          Cin,        Cg,          grp,         KH,           KW,
                                Wout, p.stride_h, p.stride_w, p.padding_h, p.padding_w, p.dilation_h, p.dilation_w};
          if (bf16)
            launch_im2col_2d_bf16(xp + b * H * W * Cin, s, p0, rows, static_cast<uint16_t*>(col.raw()), stream());
          else
            launch_im2col_2d(xp + b * H * W * Cin, s, p0, rows, mptr<float>(col), stream());
          check_launch("conv2d im2col");
          gemm_->linear(GemmMatrix{col.raw(), ct, CK}, GemmMatrix{w_group(grp), ct, CK}, bp ? bp + grp * Og : nullptr,
                        nullptr, GemmMatrix{op + (b * P + p0) * Cout + grp * Og, CUDA_R_32F, Cout}, rows, Og, CK,
                        stream());
        }
      }
  }

  void max_pool2d(const Tensor& x, const MaxPool2dParams& p, Tensor& out) override {
    if (out.numel() == 0) return;
    DeviceGuard g(index_);
    IA_CHECK(x.is_contiguous(), "cuda max_pool2d: x {} must be contiguous", x.describe());
    launch_max_pool2d(cptr<float>(x), x.size(0), x.size(1), x.size(2), x.size(3), out.size(1), out.size(2), p.kernel_h,
                      p.kernel_w, p.stride_h, p.stride_w, p.padding_h, p.padding_w, mptr<float>(out), stream());
    check_launch("max_pool2d");
  }

  void group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor* bias, float eps,
                  Tensor& out) override {
    if (x.numel() == 0) return;
    DeviceGuard g(index_);
    const int64_t B = x.size(0), L = x.size(1), C = x.size(2);
    Tensor partials = scratch({B, group_norm_chunks(L), 2 * C}, DType::F64);
    Tensor stats = scratch({B, groups, 2}, DType::F32);
    launch_group_norm(cptr<float>(x), cptr<float>(weight), bias ? cptr<float>(*bias) : nullptr, eps, mptr<float>(out),
                      B, L, C, groups, mptr<double>(partials), mptr<float>(stats), stream());
    check_launch("group_norm");
  }

  void varlen_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& query_start,
                        const VarlenAttentionParams& params, Tensor& out) override {
    if (out.numel() == 0) return;
    DeviceGuard g(index_);
    check_query_starts(query_start, q.size(0));
    launch_varlen_attention(heads_view(q, 0, 1), heads_view(k, 0, 1), heads_view(v, 0, 1), query_start.raw(),
                            query_start.dtype() == DType::I64, query_start.size(0) - 1, params.scale, params.causal,
                            params.window, params.bf16_products, bias_ptr(params.position_bias),
                            params.position_bias.max_distance(), mptr<float>(out), q.size(0), q.size(1), k.size(1),
                            q.size(2), stream());
    check_launch("varlen_attention");
  }

  void cross_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& query_start,
                       const Tensor& kv_ranges, const CrossAttentionParams& params, Tensor& out) override {
    if (out.numel() == 0) return;
    DeviceGuard g(index_);
    check_query_starts(query_start, q.size(0));
    check_kv_ranges(kv_ranges, k.size(0));
    launch_cross_attention(heads_view(q, 0, 1), heads_view(k, 0, 1), heads_view(v, 0, 1), cptr<int32_t>(query_start),
                           cptr<int32_t>(kv_ranges), query_start.size(0) - 1, params.scale, params.bf16_products,
                           mptr<float>(out), q.size(0), q.size(1), k.size(1), q.size(2), stream());
    check_launch("cross_attention");
  }

 private:
  bool recording() const { return tls_recording.backend == this; }
  // Where this thread's ops go: the recording stream while it records, else the backend's.
  cudaStream_t stream() const { return recording() ? tls_recording.stream : stream_; }

  Tensor scratch(const Shape& shape, DType dtype) {
    const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
    return Tensor(allocator_->allocate(bytes), 0, shape, contiguous_strides(shape), dtype);
  }

  // src (on this device, any strides) into dst (contiguous, same shape and dtype).
  void to_contiguous(const Tensor& src, Tensor& dst) {
    if (src.is_contiguous()) {
      check(cudaMemcpyAsync(dst.raw(), src.raw(), src.nbytes(), cudaMemcpyDeviceToDevice, stream()),
            "cudaMemcpyAsync D2D");
      return;
    }
    IA_CHECK(src.dim() <= 6, "cuda: a strided view of {} dims", src.dim());
    StridedView view;
    view.data = src.raw();
    view.dims = static_cast<int>(src.dim());
    for (int64_t d = 0; d < src.dim(); ++d) {
      view.shape[d] = src.size(d);
      view.strides[d] = src.strides()[static_cast<size_t>(d)];
    }
    launch_gather_strided(view, static_cast<int>(dtype_size(src.dtype())), dst.raw(), src.numel(), stream());
    check_launch("gather");
  }

  Tensor contiguous_here(const Tensor& t) {
    if (t.is_contiguous()) return t;
    Tensor c = scratch(t.shape(), t.dtype());
    to_contiguous(t, c);
    return c;
  }

  Tensor as_type_here(const Tensor& t, DType dtype) {
    Tensor c = contiguous_here(t);
    if (c.dtype() == dtype || c.numel() == 0) return c;
    Tensor out = scratch(c.shape(), dtype);
    launch_cast(c.raw(), elem_type(c.dtype()), out.raw(), elem_type(dtype), c.numel(), stream());
    check_launch("cast");
    return out;
  }

  Tensor as_f32_here(const Tensor& t) { return as_type_here(t, DType::F32); }

  static const float* bias_ptr(const PositionBias& b) { return b.bias ? b.bias->data<float>() : nullptr; }

  // query_start must ascend within [0, rows] (InvalidArgument otherwise, as on the CPU). The
  // kernels cannot raise, so the S+1 values are read here; every layer of a step passes the
  // same tensor, so it is read once per step: until copy() writes that storage again.
  void check_query_starts(const Tensor& starts, int64_t rows) {
    std::shared_ptr<Storage> seen = checked_starts_.lock();
    if (seen && seen == starts.storage() && checked_starts_offset_ == starts.offset_bytes() &&
        checked_starts_count_ == starts.numel() && checked_starts_rows_ == rows)
      return;
    Tensor host = Tensor::empty(starts.shape(), starts.dtype());
    copy(starts, host);
    int64_t prev = 0;
    for (int64_t i = 0; i < host.numel(); ++i) {
      const int64_t v = starts.dtype() == DType::I64 ? host.data<int64_t>()[i] : host.data<int32_t>()[i];
      if (v < prev || v > rows)
        fail(ErrorKind::InvalidArgument, "varlen_attention: query_start[{}] = {} (must ascend within [0, {}])", i, v,
             rows);
      prev = v;
    }
    checked_starts_ = starts.storage();
    checked_starts_offset_ = starts.offset_bytes();
    checked_starts_count_ = starts.numel();
    checked_starts_rows_ = rows;
  }

  // cross_attention's kv_ranges [S, 2] i32 must each lie within [0, keys] (InvalidArgument
  // otherwise, as on the CPU); read once per step as query_start is (every layer passes them).
  void check_kv_ranges(const Tensor& ranges, int64_t keys) {
    std::shared_ptr<Storage> seen = checked_ranges_.lock();
    if (seen && seen == ranges.storage() && checked_ranges_offset_ == ranges.offset_bytes() &&
        checked_ranges_count_ == ranges.numel() && checked_ranges_keys_ == keys)
      return;
    Tensor host = Tensor::empty(ranges.shape(), ranges.dtype());
    copy(ranges, host);
    for (int64_t s = 0; s < host.size(0); ++s) {
      const int64_t k0 = host.data<int32_t>()[2 * s], k1 = host.data<int32_t>()[2 * s + 1];
      if (k0 < 0 || k1 < k0 || k1 > keys)
        fail(ErrorKind::InvalidArgument, "cross_attention: kv_ranges[{}] = [{}, {}) is not a range within the {} keys",
             s, k0, k1, keys);
    }
    checked_ranges_ = ranges.storage();
    checked_ranges_offset_ = ranges.offset_bytes();
    checked_ranges_count_ = ranges.numel();
    checked_ranges_keys_ = keys;
  }

  // Waits for the stream; an index an earlier op found out of range is raised here.
  void synchronize(const char* what) {
    if (recording()) fail(ErrorKind::Internal, "cuda: {} cannot wait for the device while recording a graph", what);
    raise_if_flagged(what, "an index (position or KV slot) was out of range in an earlier GPU op");
  }

  // Reads the out-of-range flag behind everything queued, with the one wait the caller needed.
  void raise_if_flagged(const char* what, const char* message) {
    int flag = 0;
    check(cudaMemcpyAsync(&flag, flag_, sizeof(int), cudaMemcpyDeviceToHost, stream()), "read flag");
    check(cudaStreamSynchronize(stream()), what);
    if (flag == 0) return;
    check(cudaMemsetAsync(flag_, 0, sizeof(int), stream()), "cudaMemsetAsync");
    fail(ErrorKind::InvalidArgument, "{}", message);
  }

  int index_;
  std::shared_ptr<DeviceAllocator> allocator_;
  cudaStream_t stream_ = nullptr;
  cudaStream_t record_stream_ = nullptr;
  std::mutex record_mu_;
  std::unique_lock<std::mutex> record_lock_;  // held from begin_recording to end_recording
  void* workspace_ = nullptr;
  int* flag_ = nullptr;
  std::unique_ptr<LtGemm> gemm_;
  std::string name_;
  std::weak_ptr<Storage> checked_starts_;  // the query_start last found valid (check_query_starts)
  size_t checked_starts_offset_ = 0;
  int64_t checked_starts_count_ = 0;
  int64_t checked_starts_rows_ = 0;
  std::weak_ptr<Storage> checked_ranges_;  // the kv_ranges last found valid (check_kv_ranges)
  size_t checked_ranges_offset_ = 0;
  int64_t checked_ranges_count_ = 0;
  int64_t checked_ranges_keys_ = 0;
};

// Kernels are built for Hopper (sm_90a) with compute_90 PTX the driver compiles for newer
// cards; an older card has no code to run.
constexpr int kMinComputeMajor = 9;

int create_backends(std::vector<std::unique_ptr<Backend>>* out, std::string* reason) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    *reason = fmt::format("{} ({})", cudaGetErrorString(e), cudaGetErrorName(e));
    cudaGetLastError();
    return 0;
  }
  if (count == 0) {
    *reason = "the driver reports no CUDA device";
    return 0;
  }
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  int made = 0;
  std::string skipped;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, i), "cudaGetDeviceProperties");
    if (prop.major < kMinComputeMajor) {
      skipped += fmt::format("{}cuda:{} ({}) has compute capability {}.{}; this build runs on {}.0 and newer",
                             skipped.empty() ? "" : "; ", i, prop.name, prop.major, prop.minor, kMinComputeMajor);
      continue;
    }
    out->push_back(std::make_unique<CudaBackend>(i, prop, runtime));
    ++made;
  }
  if (made == 0) *reason = skipped;
  return made;
}

}  // namespace
}  // namespace ia::cuda

extern "C" __attribute__((visibility("default"))) int ia_cuda_plugin_create_backends(
    int abi_version, std::vector<std::unique_ptr<ia::Backend>>* out, std::string* reason) {
  if (abi_version != ia::kCudaPluginAbiVersion) {
    *reason = fmt::format("{} is from another build (interface version {}, the program's {})", ia::kCudaPluginFile,
                          ia::kCudaPluginAbiVersion, abi_version);
    return 0;
  }
  try {
    return ia::cuda::create_backends(out, reason);
  } catch (const std::exception& e) {
    *reason = e.what();
    return 0;
  }
}
