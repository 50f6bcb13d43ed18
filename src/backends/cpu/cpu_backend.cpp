#include "backends/cpu/cpu_backend.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <list>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#include "backends/cpu/decoder_ops.h"
#include "backends/cpu/dnnl_gemm.h"
#include "backends/cpu/kernels.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace ia::cpu {
namespace {

using dt = dnnl::memory::data_type;

// Weight rows per scheduling chunk of the decode GEMV: whole blocks of the kernel's 8 rows.
constexpr int64_t kGemvRowsPerChunk = 32;

// Rows per parallel chunk so that each chunk touches at least ~16K elements.
int64_t row_grain(int64_t row_len) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(row_len, 1));
}

// Generic element access goes through core's load_scalar / store_scalar.
double load_elem(const void* base, DType t, int64_t i) {
  return load_scalar(base, t, i);
}
void store_elem(void* base, DType t, int64_t i, double v) {
  store_scalar(base, t, i, v);
}

int64_t load_index(const void* base, DType t, int64_t i) {
  switch (t) {
    case DType::I64: return static_cast<const int64_t*>(base)[i];
    case DType::I32: return static_cast<const int32_t*>(base)[i];
    default: return static_cast<int64_t>(load_elem(base, t, i));
  }
}

void check_f32(const Tensor& t, const char* op, const char* what) {
  IA_CHECK(t.dtype() == DType::F32, "cpu {}: {} must be f32, got {}", op, what, t.describe());
}

void check_contig(const Tensor& t, const char* op, const char* what) {
  IA_CHECK(t.is_contiguous(), "cpu {}: {} must be contiguous, got {} strides {}", op, what, t.describe(),
           shape_str(t.strides()));
}

MatDesc mat(dt type, std::initializer_list<int64_t> dims, std::initializer_list<int64_t> strides) {
  MatDesc d;
  d.dt = type;
  d.ndims = static_cast<int>(dims.size());
  std::copy(dims.begin(), dims.end(), d.dims);
  std::copy(strides.begin(), strides.end(), d.strides);
  return d;
}

// Generic strided copy of n-d tensors of one dtype (element size es).
void strided_copy(const char* src, const Shape& shape, const Shape& sst, char* dst, const Shape& dstr, size_t es) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  if (nd == 0) {
    std::memcpy(dst, src, es);
    return;
  }
  const int64_t inner = shape[static_cast<size_t>(nd - 1)];
  const bool inner_contig = sst[static_cast<size_t>(nd - 1)] == 1 && dstr[static_cast<size_t>(nd - 1)] == 1;
  int64_t outer = 1;
  for (int64_t d = 0; d + 1 < nd; ++d) outer *= shape[static_cast<size_t>(d)];
  parallel_for(outer, row_grain(inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t rem = r, so = 0, dof = 0;
      for (int64_t d = nd - 2; d >= 0; --d) {
        int64_t idx = rem % shape[static_cast<size_t>(d)];
        rem /= shape[static_cast<size_t>(d)];
        so += idx * sst[static_cast<size_t>(d)];
        dof += idx * dstr[static_cast<size_t>(d)];
      }
      if (inner_contig) {
        std::memcpy(dst + static_cast<size_t>(dof) * es, src + static_cast<size_t>(so) * es,
                    static_cast<size_t>(inner) * es);
      } else {
        const int64_t ss = sst[static_cast<size_t>(nd - 1)], ds = dstr[static_cast<size_t>(nd - 1)];
        for (int64_t i = 0; i < inner; ++i)
          std::memcpy(dst + static_cast<size_t>(dof + i * ds) * es, src + static_cast<size_t>(so + i * ss) * es, es);
      }
    }
  });
}

std::string isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

// Host memory pool for op outputs. glibc serves large blocks with mmap and
// returns them on free, so every fresh activation would page-fault its way in
// (tens of ms per BERT layer). Freed blocks are kept, by exact capacity, up
// to a bound, and handed out again: the same shapes recur every layer.
class HostPool {
 public:
  static HostPool& get() {
    static HostPool* p = new HostPool();  // leaked: storages may die during exit
    return *p;
  }

  static size_t capacity_for(size_t bytes) {
    if (bytes <= 4096) return std::max<size_t>(64, (bytes + 63) / 64 * 64);
    // Round up to 1/8 steps of the next power of two: <= 12.5% waste.
    size_t p = 4096;
    while (p < bytes) p <<= 1;
    size_t step = p / 8;
    return (bytes + step - 1) / step * step;
  }

  void* take(size_t cap) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = by_cap_.find(cap);
      if (it != by_cap_.end()) {
        void* p = it->second->ptr;
        blocks_.erase(it->second);
        by_cap_.erase(it);
        cached_ -= cap;
        return p;
      }
    }
    const size_t align = cap >= (2u << 20) ? (2u << 20) : 64;
    void* p = std::aligned_alloc(align, (cap + align - 1) / align * align);
    if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    if (align == (2u << 20)) madvise(p, cap, MADV_HUGEPAGE);
#endif
    return p;
  }

  void give(void* p, size_t cap) {
    std::vector<void*> drop;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cap > limit_) {
        drop.push_back(p);
      } else {
        // Evict the least recently returned blocks to make room.
        while (cached_ + cap > limit_ && !blocks_.empty()) {
          Block& old = blocks_.back();
          auto range = by_cap_.equal_range(old.cap);
          for (auto it = range.first; it != range.second; ++it) {
            if (it->second == std::prev(blocks_.end())) {
              by_cap_.erase(it);
              break;
            }
          }
          cached_ -= old.cap;
          drop.push_back(old.ptr);
          blocks_.pop_back();
        }
        blocks_.push_front(Block{cap, p});
        by_cap_.emplace(cap, blocks_.begin());
        cached_ += cap;
      }
    }
    for (void* d : drop) std::free(d);
  }

  void trim() {
    std::lock_guard<std::mutex> lock(mu_);
    for (Block& b : blocks_) std::free(b.ptr);
    blocks_.clear();
    by_cap_.clear();
    cached_ = 0;
  }

 private:
  struct Block {
    size_t cap;
    void* ptr;
  };
  HostPool() {
    if (const char* e = std::getenv("IA_CPU_POOL_MB")) limit_ = static_cast<size_t>(std::atoll(e)) << 20;
  }
  std::mutex mu_;
  std::list<Block> blocks_;  // front = most recently returned
  std::multimap<size_t, std::list<Block>::iterator> by_cap_;
  size_t cached_ = 0;
  size_t limit_ = size_t{1} << 30;  // 1 GiB of idle blocks at most (IA_CPU_POOL_MB)
};

class PooledStorage final : public Storage {
 public:
  explicit PooledStorage(size_t bytes)
      : bytes_(bytes), cap_(HostPool::capacity_for(bytes)), ptr_(HostPool::get().take(cap_)) {}
  ~PooledStorage() override { HostPool::get().give(ptr_, cap_); }
  PooledStorage(const PooledStorage&) = delete;
  PooledStorage& operator=(const PooledStorage&) = delete;
  void* data() override { return ptr_; }
  size_t size_bytes() const override { return bytes_; }
  Device device() const override { return Device::cpu(); }

 private:
  size_t bytes_, cap_;
  void* ptr_;
};

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::cpu(); }
  std::string name() const override {
    return std::string("cpu (") + kernels().name + ", oneDNN " + onednn_isa_name() + ")";
  }

  std::shared_ptr<Storage> allocate(size_t bytes) override { return std::make_shared<PooledStorage>(bytes); }

  void copy(const Tensor& src, Tensor& dst) override {
    IA_CHECK(src.shape() == dst.shape() && src.dtype() == dst.dtype(), "cpu copy: {} -> {} differ", src.describe(),
             dst.describe());
    IA_CHECK(src.device().is_cpu() && dst.device().is_cpu(), "cpu copy: {} -> {} is not host to host", src.describe(),
             dst.describe());
    if (src.numel() == 0) return;
    if (src.is_contiguous() && dst.is_contiguous()) {
      const char* s = static_cast<const char*>(src.raw());
      char* d = static_cast<char*>(dst.raw());
      const int64_t n = static_cast<int64_t>(src.nbytes());
      parallel_for(n, 1 << 20, [&](int64_t b, int64_t e) { std::memcpy(d + b, s + b, static_cast<size_t>(e - b)); });
      return;
    }
    strided_copy(static_cast<const char*>(src.raw()), src.shape(), src.strides(), static_cast<char*>(dst.raw()),
                 dst.strides(), dtype_size(src.dtype()));
  }

  bool supports(OpKind op, DType t) const override {
    switch (op) {
      case OpKind::Linear: return t == DType::F32 || t == DType::BF16;
      case OpKind::Embedding: return t == DType::F32 || t == DType::BF16 || t == DType::F16;
      case OpKind::Cast: return true;
      case OpKind::RmsNorm:  // bf16: an output that feeds a bf16 linear
      case OpKind::SwiGlu: return t == DType::F32 || t == DType::BF16;
      default: return t == DType::F32;
    }
  }

  void embedding(const Tensor& table, const Tensor& ids, Tensor& out) override {
    check_contig(table, "embedding", "table");
    check_contig(ids, "embedding", "ids");
    check_f32(out, "embedding", "out");
    const int64_t V = table.size(0), H = table.size(1), n = ids.numel();
    const DType tt = table.dtype();
    const void* idp = ids.raw();
    const DType it = ids.dtype();
    for (int64_t i = 0; i < n; ++i) {
      int64_t id = load_index(idp, it, i);
      if (id < 0 || id >= V)
        fail(ErrorKind::InvalidArgument, "embedding: id {} at position {} is outside the table of {} rows", id, i, V);
    }
    float* o = out.data<float>();
    const Kernels& k = kernels();
    parallel_for(n, row_grain(H), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t id = load_index(idp, it, r);
        float* dst = o + r * H;
        if (tt == DType::F32) {
          std::memcpy(dst, table.data<float>() + id * H, static_cast<size_t>(H) * sizeof(float));
        } else if (tt == DType::BF16) {
          k.bf16_to_f32(table.data<uint16_t>() + id * H, dst, H);
        } else if (tt == DType::F16) {
          const uint16_t* s = table.data<uint16_t>() + id * H;
          for (int64_t j = 0; j < H; ++j) dst[j] = f16_to_f32(s[j]);
        } else {
          fail(ErrorKind::Unsupported, "cpu embedding: table dtype {}", dtype_name(tt));
        }
      }
    });
  }

  void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) override {
    linear_impl(x, w, bias, nullptr, out);
  }

  void linear_fused(const Tensor& x, const Tensor& w, const Tensor* bias, const LinearEpilogue& epilogue,
                    Tensor& out) override {
    if (epilogue.residual) {
      check_f32(*epilogue.residual, "linear", "residual");
      check_contig(*epilogue.residual, "linear", "residual");
      IA_CHECK(epilogue.residual->shape() == out.shape(), "cpu linear: residual {} does not match out {}",
               epilogue.residual->describe(), out.describe());
    }
    linear_impl(x, w, bias, &epilogue, out);
  }

  // The epilogue rides on oneDNN post-ops in the GEMM paths; the few-row GEMV
  // path and K == 0 apply it afterwards.
  static GemmEpilogue gemm_epilogue(const LinearEpilogue* e) {
    GemmEpilogue g;
    if (!e) return g;
    if (e->has_activation) {
      switch (e->activation) {
        case Activation::GeluErf: g.activation = dnnl::algorithm::eltwise_gelu_erf; break;
        case Activation::GeluTanh: g.activation = dnnl::algorithm::eltwise_gelu_tanh; break;
        case Activation::Tanh: g.activation = dnnl::algorithm::eltwise_tanh; break;
        case Activation::Relu: g.activation = dnnl::algorithm::eltwise_relu; break;
        case Activation::Silu:
          g.activation = dnnl::algorithm::eltwise_swish;
          g.activation_alpha = 1.0f;
          break;
      }
    }
    if (e->residual) g.residual = e->residual->data<float>();
    return g;
  }

  void apply_epilogue_after(const LinearEpilogue* e, Tensor& out) {
    if (!e) return;
    if (e->has_activation) activation(e->activation, out, out);
    if (e->residual) add(out, *e->residual, out);
  }

  void linear_impl(const Tensor& x, const Tensor& w, const Tensor* bias, const LinearEpilogue* epi, Tensor& out) {
    if (x.dtype() == DType::BF16) {
      IA_CHECK(w.dtype() == DType::BF16, "cpu linear: bf16 x needs bf16 weights, got {}", w.describe());
    } else {
      check_f32(x, "linear", "x");
    }
    check_f32(out, "linear", "out");
    IA_CHECK(x.dim() == 2 && w.dim() == 2 && out.dim() == 2, "cpu linear: expects 2-D x, w, out");
    IA_CHECK(x.strides()[1] == 1 && w.strides()[1] == 1, "cpu linear: x and w must be contiguous in the last dim");
    const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
    if (M == 0 || N == 0) return;
    if (bias) check_f32(*bias, "linear", "bias");
    const float* bp = bias ? bias->data<float>() : nullptr;
    const int64_t ldw = w.size(0) > 1 ? w.strides()[0] : K;
    MatDesc dst = mat(dt::f32, {M, N}, {N, 1});
    if (K == 0) {
      float* o = out.data<float>();
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) o[i * N + j] = bp ? bp[j] : 0.0f;
      apply_epilogue_after(epi, out);
      return;
    }
    const GemmEpilogue gepi = gemm_epilogue(epi);
    if (w.dtype() == DType::F32) {
      const int64_t lda = M > 1 ? x.strides()[0] : K;
      dnnl_linear_prepacked(mat(dt::f32, {M, K}, {lda, 1}), x.raw(), mat(dt::f32, {K, N}, {1, ldw}), w.raw(),
                            w.storage(), bp, dst, out.raw(), gepi);
    } else if (w.dtype() == DType::BF16) {
      // x as bf16 rows of stride K: as given when its producer already rounded it (no copy),
      // else rounded here.
      const Kernels& k = kernels();
      const int64_t lda = x.strides()[0];
      const uint16_t* xbp = nullptr;
      if (x.dtype() == DType::BF16 && (M == 1 || lda == K)) {
        xbp = x.data<uint16_t>();
      } else {
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
        xbp = xw;
      }
      if (M >= 2 && M <= 16 && K % 32 == 0 && N >= 16 && k.gemv_bf16_amx) {
        // Batched decode (2-16 rows) on AMX tiles: the weights stream once, as at one row,
        // where vdpbf16ps would make 8 rows compute-bound.
        thread_local std::vector<uint16_t> x_pairs;
        if (x_pairs.size() < static_cast<size_t>(16 * K)) x_pairs.resize(static_cast<size_t>(16 * K));
        pack_bf16_pairs(xbp, M, K, K, x_pairs.data());
        const uint16_t* xpp = x_pairs.data();
        const uint16_t* wp = w.data<uint16_t>();
        float* op = out.data<float>();
        const int64_t n16 = N / 16 * 16;
        parallel_for_balanced(n16, kGemvRowsPerChunk,
                              [&](int64_t j0, int64_t j1) { k.gemv_bf16_amx(xpp, M, K, wp, ldw, bp, op, N, j0, j1); });
        if (n16 < N) k.gemv_bf16_dp(xbp, M, K, K, wp, ldw, bp, op, N, n16, N);  // the last rows, fewer than 16
        apply_epilogue_after(epi, out);
        return;
      }
      if (M <= 8 && k.gemv_bf16_dp) {
        // Decode (a few rows): stream each weight once for all rows, bf16 pairs in hardware.
        const uint16_t* wp = w.data<uint16_t>();
        float* op = out.data<float>();
        // Balanced chunks of 32 rows (whole 8-row blocks): per-thread read bandwidth differs, and a
        // static split waits for the slowest thread (GEMV-only stream of llama-1b's weights, 2-12
        // threads: 69-87% -> 82-99% of copy bandwidth).
        parallel_for_balanced(N, kGemvRowsPerChunk, [&](int64_t j0, int64_t j1) {
          k.gemv_bf16_dp(xbp, M, K, K, wp, ldw, bp, op, N, j0, j1);
        });
        apply_epilogue_after(epi, out);
        return;
      }
      if (M <= 8 && k.gemv_bf16) {
        // Decode (a few rows): a weight-streaming GEMV beats oneDNN's GEMM setup
        // and blocking at M=1. x is rounded to bf16 as the GEMM path does, then
        // widened back to f32 so the products are exact.
        thread_local std::vector<float> xr;
        if (xr.size() < static_cast<size_t>(M * K)) xr.resize(static_cast<size_t>(M * K));
        for (int64_t r = 0; r < M; ++r) k.bf16_to_f32(xbp + r * K, xr.data() + r * K, K);
        const float* xrp = xr.data();
        const uint16_t* wp = w.data<uint16_t>();
        float* op = out.data<float>();
        parallel_for_balanced(N, kGemvRowsPerChunk,
                              [&](int64_t j0, int64_t j1) { k.gemv_bf16(xrp, M, K, K, wp, ldw, bp, op, N, j0, j1); });
        apply_epilogue_after(epi, out);
        return;
      }
      dnnl_linear_prepacked(mat(dt::bf16, {M, K}, {K, 1}), xbp, mat(dt::bf16, {K, N}, {1, ldw}), w.raw(), w.storage(),
                            bp, dst, out.raw(), gepi);
    } else {
      fail(ErrorKind::Unsupported, "cpu linear: weight dtype {} (use f32 or bf16)", dtype_name(w.dtype()));
    }
  }

  void matmul(const Tensor& a, const Tensor& b, bool trans_b, Tensor& out) override {
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
      MatDesc ad = mat(dt::f32, {B, M, K}, {a0, as[1], as[2]});
      MatDesc bd = trans_b ? mat(dt::f32, {B, K, N}, {b0, bs[2], bs[1]}) : mat(dt::f32, {B, K, N}, {b0, bs[1], bs[2]});
      dnnl_matmul(ad, A.raw(), bd, Bt.raw(), nullptr, mat(dt::f32, {B, M, N}, {M * N, N, 1}), out.raw());
    };
    try {
      run(a, b);
    } catch (const dnnl::error&) {
      // Layouts oneDNN rejects (odd strides): run on contiguous copies.
      run(a.contiguous(), b.contiguous());
    }
  }

  void layer_norm(const Tensor& x, const Tensor& weight, const Tensor* bias, float eps, Tensor& out) override {
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

  void activation(Activation act, const Tensor& x, Tensor& out) override {
    check_f32(x, "activation", "x");
    check_contig(x, "activation", "x");
    const int64_t n = x.numel();
    const float* xp = x.data<float>();
    float* o = out.data<float>();
    const Kernels& k = kernels();
    void (*fn)(const float*, float*, int64_t) = nullptr;
    switch (act) {
      case Activation::GeluErf: fn = k.gelu_erf; break;
      case Activation::GeluTanh: fn = k.gelu_tanh; break;
      case Activation::Silu: fn = k.silu; break;
      case Activation::Relu: fn = k.relu; break;
      case Activation::Tanh: break;
    }
    parallel_for(n, 16384, [&](int64_t b, int64_t e) {
      if (fn) {
        fn(xp + b, o + b, e - b);
      } else {
        for (int64_t i = b; i < e; ++i) o[i] = std::tanh(xp[i]);
      }
    });
  }

  void softmax(const Tensor& x, Tensor& out) override {
    check_f32(x, "softmax", "x");
    check_contig(x, "softmax", "x");
    const int64_t n = x.size(-1), rows = n ? x.numel() / n : 0;
    const float* xp = x.data<float>();
    float* o = out.data<float>();
    const Kernels& k = kernels();
    parallel_for(rows, row_grain(n), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) k.softmax(xp + r * n, o + r * n, n);
    });
  }

  void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* key_mask,
                 const AttentionParams& params, Tensor& out) override {
    check_f32(q, "attention", "q");
    check_f32(k, "attention", "k");
    check_f32(v, "attention", "v");
    check_contig(out, "attention", "out");
    IA_CHECK(q.strides()[3] == 1 && k.strides()[3] == 1 && v.strides()[3] == 1,
             "cpu attention: q, k, v must be contiguous in the head dim");
    const int64_t B = q.size(0), Sq = q.size(1), H = q.size(2), D = q.size(3), Sk = k.size(1);
    if (B == 0 || Sq == 0 || H == 0 || D == 0) return;
    float* o = out.data<float>();
    if (Sk == 0) {
      std::memset(o, 0, out.nbytes());
      return;
    }
    // keep[b, j]: 1 where key j of batch b may be attended to.
    std::vector<uint8_t> keep;
    if (key_mask) {
      keep.resize(static_cast<size_t>(B * Sk));
      const void* mp = key_mask->raw();
      const DType mt = key_mask->dtype();
      const Shape& ms = key_mask->strides();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < Sk; ++j)
          keep[static_cast<size_t>(b * Sk + j)] = load_elem(mp, mt, b * ms[0] + j * ms[1]) != 0;
    }
    const Shape &qs = q.strides(), &ks = k.strides(), &vs = v.strides();
    // Work in steps whose score block stays cache-sized (~2 MiB): several
    // batches per step for short sequences; for long ones, a block of heads
    // and, when even one head is too large, a block of query rows.
    constexpr int64_t kScoreBudget = 512 * 1024;  // floats
    const int64_t per_b = H * Sq * Sk;
    int64_t nb = 1, nh = H, nq = Sq;
    if (per_b <= kScoreBudget) {
      nb = std::clamp<int64_t>(kScoreBudget / per_b, 1, B);
    } else {
      nh = std::clamp<int64_t>(kScoreBudget / (Sq * Sk), 1, H);
      if (nh == 1) nq = std::clamp<int64_t>(kScoreBudget / Sk, 1, Sq);
    }
    thread_local std::vector<float> scores;
    const size_t need = static_cast<size_t>(nb * nh * nq * Sk);
    if (scores.size() < need) scores.resize(need);
    float* sp = scores.data();
    const Kernels& kern = kernels();
    const float scale = params.scale;
    for (int64_t b0 = 0; b0 < B; b0 += nb) {
      const int64_t n = std::min(nb, B - b0);
      for (int64_t h0 = 0; h0 < H; h0 += nh) {
        const int64_t hn = std::min(nh, H - h0);
        for (int64_t i0 = 0; i0 < Sq; i0 += nq) {
          const int64_t qn = std::min(nq, Sq - i0);
          const float* qp = q.data<float>() + b0 * qs[0] + i0 * qs[1] + h0 * qs[2];
          const float* kp = k.data<float>() + b0 * ks[0] + h0 * ks[2];
          const float* vp = v.data<float>() + b0 * vs[0] + h0 * vs[2];
          const int64_t sb = hn * qn * Sk, sh = qn * Sk;  // score strides per batch / head
          // scores[b, h, i, j] = q[b, i, h, :] . k[b, j, h, :]
          dnnl_matmul(mat(dt::f32, {n, hn, qn, D}, {qs[0], qs[2], qs[1], 1}), qp,
                      mat(dt::f32, {n, hn, D, Sk}, {ks[0], ks[2], 1, ks[1]}), kp, nullptr,
                      mat(dt::f32, {n, hn, qn, Sk}, {sb, sh, Sk, 1}), sp);
          parallel_for(n * hn * qn, row_grain(Sk), [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
              const int64_t b = r / (hn * qn), i = i0 + r % qn;
              const uint8_t* kb = key_mask ? keep.data() + (b0 + b) * Sk : nullptr;
              const int64_t limit = params.causal ? i + (Sk - Sq) + 1 : Sk;
              kern.attn_softmax(sp + r * Sk, sp + r * Sk, Sk, std::max<int64_t>(limit, 0), kb, scale);
            }
          });
          // out[b, i, h, :] = sum_j p[b, h, i, j] v[b, j, h, :]
          dnnl_matmul(mat(dt::f32, {n, hn, qn, Sk}, {sb, sh, Sk, 1}), sp,
                      mat(dt::f32, {n, hn, Sk, D}, {vs[0], vs[2], vs[1], 1}), vp, nullptr,
                      mat(dt::f32, {n, hn, qn, D}, {Sq * H * D, D, H * D, 1}), o + ((b0 * Sq + i0) * H + h0) * D);
        }
      }
    }
  }

  void add(const Tensor& a, const Tensor& b, Tensor& out) override {
    check_f32(a, "add", "a");
    check_f32(b, "add", "b");
    check_contig(a, "add", "a");
    check_contig(b, "add", "b");
    const int64_t n = a.numel(), m = b.numel();
    if (n == 0) return;
    IA_CHECK(m > 0 && n % m == 0, "cpu add: {} + {}", a.describe(), b.describe());
    const float* ap = a.data<float>();
    const float* bp = b.data<float>();
    float* o = out.data<float>();
    const Kernels& k = kernels();
    if (m == n) {
      parallel_for(n, 16384, [&](int64_t s, int64_t e) { k.add(ap + s, bp + s, o + s, e - s); });
    } else {
      parallel_for(n / m, row_grain(m), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) k.add(ap + r * m, bp, o + r * m, m);
      });
    }
  }

  void pool(PoolMode mode, const Tensor& x, const Tensor& mask, Tensor& out) override {
    check_f32(x, "pool", "x");
    check_contig(x, "pool", "x");
    const int64_t B = x.size(0), S = x.size(1), H = x.size(2);
    const float* xp = x.data<float>();
    float* o = out.data<float>();
    const void* mp = mask.raw();
    const DType mt = mask.dtype();
    const Shape& ms = mask.strides();
    parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
      std::vector<double> acc(static_cast<size_t>(H));
      for (int64_t b = b0; b < b1; ++b) {
        float* ob = o + b * H;
        const float* xb = xp + b * S * H;
        if (mode == PoolMode::Cls) {
          if (S > 0)
            std::memcpy(ob, xb, static_cast<size_t>(H) * sizeof(float));
          else
            std::fill(ob, ob + H, 0.0f);
          continue;
        }
        if (mode == PoolMode::Max) {
          // As sentence-transformers: padding tokens count as -1e9.
          std::fill(acc.begin(), acc.end(), S > 0 ? -1e300 : 0.0);
          for (int64_t s = 0; s < S; ++s) {
            const bool on = load_elem(mp, mt, b * ms[0] + s * ms[1]) != 0;
            for (int64_t h = 0; h < H; ++h)
              acc[static_cast<size_t>(h)] =
                  std::max(acc[static_cast<size_t>(h)], on ? static_cast<double>(xb[s * H + h]) : -1e9);
          }
          for (int64_t h = 0; h < H; ++h) ob[h] = static_cast<float>(acc[static_cast<size_t>(h)]);
          continue;
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        double count = 0;
        for (int64_t s = 0; s < S; ++s) {
          const double w = load_elem(mp, mt, b * ms[0] + s * ms[1]);
          if (w == 0) continue;
          count += w;
          for (int64_t h = 0; h < H; ++h) acc[static_cast<size_t>(h)] += w * xb[s * H + h];
        }
        // sentence-transformers clamps the token count at 1e-9.
        const double denom = mode == PoolMode::Mean ? std::max(count, 1e-9) : std::sqrt(std::max(count, 1e-9));
        for (int64_t h = 0; h < H; ++h) ob[h] = static_cast<float>(acc[static_cast<size_t>(h)] / denom);
      }
    });
  }

  void l2_normalize(const Tensor& x, float eps, Tensor& out) override {
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

  void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) override {
    rms_norm_cpu(x, weight, eps, out);
  }
  void rotary(const Tensor& x, const Tensor& positions, const Tensor& cos, const Tensor& sin, Tensor& out) override {
    rotary_cpu(x, positions, cos, sin, out);
  }
  void swiglu(const Tensor& x, Tensor& out) override { swiglu_cpu(x, out); }
  void kv_cache_write(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& k_cache,
                      Tensor& v_cache) override {
    kv_cache_write_cpu(k, v, slots, k_cache, v_cache);
  }
  void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables,
                       const Tensor& seq_lens, const Tensor& query_start, const PagedAttentionParams& params,
                       Tensor& out) override {
    paged_attention_cpu(q, k_cache, v_cache, block_tables, seq_lens, query_start, params, out);
  }

  void cast(const Tensor& x, Tensor& out) override {
    check_contig(x, "cast", "x");
    const int64_t n = x.numel();
    const DType from = x.dtype(), to = out.dtype();
    if (from == to) {
      std::memcpy(out.raw(), x.raw(), x.nbytes());
      return;
    }
    const Kernels& k = kernels();
    if (from == DType::F32 && to == DType::BF16) {
      parallel_for(n, 16384,
                   [&](int64_t b, int64_t e) { k.f32_to_bf16(x.data<float>() + b, out.data<uint16_t>() + b, e - b); });
      return;
    }
    if (from == DType::BF16 && to == DType::F32) {
      parallel_for(n, 16384,
                   [&](int64_t b, int64_t e) { k.bf16_to_f32(x.data<uint16_t>() + b, out.data<float>() + b, e - b); });
      return;
    }
    const void* src = x.raw();
    void* dst = out.raw();
    if (from == DType::I64 || to == DType::I64) {
      // Integer paths keep values beyond 2^53 exact.
      if (from == DType::I64 && !is_float(to)) {
        for (int64_t i = 0; i < n; ++i) {
          int64_t v = static_cast<const int64_t*>(src)[i];
          if (to == DType::I32)
            static_cast<int32_t*>(dst)[i] = static_cast<int32_t>(v);
          else
            store_elem(dst, to, i, static_cast<double>(v));
        }
        return;
      }
      if (to == DType::I64 && !is_float(from)) {
        for (int64_t i = 0; i < n; ++i) static_cast<int64_t*>(dst)[i] = load_index(src, from, i);
        return;
      }
    }
    parallel_for(n, 16384, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) store_elem(dst, to, i, load_elem(src, from, i));
    });
  }
};

}  // namespace

std::string onednn_isa_name() {
  dnnl_engine();  // raises the max ISA first
  return isa_name(dnnl::get_effective_cpu_isa());
}

void release_cached_memory() {
  HostPool::get().trim();
  dnnl_clear_caches();
}

std::unique_ptr<Backend> make_cpu_backend() {
  return std::make_unique<CpuBackend>();
}

}  // namespace ia::cpu
