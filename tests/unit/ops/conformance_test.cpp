// The op conformance harness: every op of OpKind, on every registered backend
// (and, on the CPU, every kernel ISA this machine has), over several shapes
// including odd sizes and strided inputs, against plain f64 reference loops.
// Inputs come from a seeded RNG and are never zero; outputs are poisoned with
// NaN before each call so an element a backend forgets to write fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/quant_kernels.h"
#include "core/kv_quantization.h"
#include "core/quantization.h"
#include "ops/ops.h"

namespace ia {
namespace {

using Vec = std::vector<double>;

// ---------------------------------------------------------------- helpers

struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  // Uniform in [lo, hi], never (close to) zero.
  double next(double lo, double hi) {
    std::uniform_real_distribution<double> d(lo, hi);
    for (;;) {
      double v = d(gen);
      if (std::fabs(v) > 1e-3 * (hi - lo)) return v;
    }
  }
  int64_t index(int64_t n) { return std::uniform_int_distribution<int64_t>(0, n - 1)(gen); }
};

Tensor host_f32(const Shape& shape, Rng& rng, double lo = -2, double hi = 2) {
  Tensor t = Tensor::empty(shape, DType::F32);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(rng.next(lo, hi));
  return t;
}

// Host values of any (strided) host tensor as f64, row-major.
Vec values(const Tensor& t) {
  Tensor d = t.to(DType::F64);
  const double* p = d.data<double>();
  return Vec(p, p + d.numel());
}

struct Dev {
  Backend* be;

  // A contiguous copy of a host tensor on the backend's device.
  Tensor up(const Tensor& host) const {
    Tensor h = host.contiguous();
    Tensor d(be->allocate(h.nbytes()), 0, h.shape(), contiguous_strides(h.shape()), h.dtype());
    be->copy(h, d);
    return d;
  }
  // An output buffer filled with NaN (f32) or 0xff bytes (other dtypes).
  Tensor poisoned(const Shape& shape, DType dtype = DType::F32) const {
    Tensor h = Tensor::empty(shape, dtype);
    if (dtype == DType::F32) {
      std::fill(h.data<float>(), h.data<float>() + h.numel(), std::numeric_limits<float>::quiet_NaN());
    } else {
      std::memset(h.raw(), 0xff, h.nbytes());
    }
    return up(h);
  }
  Tensor down(const Tensor& d) const {
    if (d.device().is_cpu()) return d;
    Tensor h = Tensor::empty(d.shape(), d.dtype());
    be->copy(d, h);
    return h;
  }
};

// |got - ref| <= rtol * (|ref| + mag): mag is the size of what was summed
// (sum of |terms| for reductions), so cancellation does not demand the impossible.
void expect_close(const Vec& got, const Vec& ref, const Vec& mag, double rtol, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int bad = 0;
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    double tol = rtol * (std::fabs(ref[i]) + (mag.empty() ? 0.0 : mag[i]));
    double err = std::fabs(got[i] - ref[i]);
    if (!(err <= tol)) {  // NaN fails too
      if (bad < 5)
        ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << ref[i] << " (tol " << tol << ")";
      ++bad;
    }
    if (tol > 0) worst = std::max(worst, err / tol);
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << ref.size() << " elements out of tolerance";
}

void expect_close(const Vec& got, const Vec& ref, double rtol, double atol, const std::string& what) {
  Vec mag(ref.size(), rtol > 0 ? atol / rtol : 0.0);
  expect_close(got, ref, mag, rtol, what);
}

constexpr double kRtol = 1e-5;  // f32 paths against f64

// ------------------------------------------------------------- the fixture

struct Target {
  const char* name;
  Device device;
  int isa;  // -1: not a CPU kernel variant; else cpu::Isa
};

class Conformance : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    const Target& t = GetParam();
    if (!has_backend(t.device)) GTEST_SKIP() << "no backend registered for " << t.device.str();
    if (t.isa >= 0) {
      auto isa = static_cast<cpu::Isa>(t.isa);
      if (!cpu::force_isa(isa)) GTEST_SKIP() << "CPU kernel variant " << t.name << " not supported by this CPU";
    }
    dev_.be = &backend_for(t.device);
    std::cout << "[ backend  ] " << t.name << ": " << dev_.be->name() << "\n";
  }
  void TearDown() override {
    cpu::force_isa(cpu::isa_available(cpu::Isa::Avx512) ? cpu::Isa::Avx512 : cpu::Isa::Generic);
  }
  Backend& be() { return *dev_.be; }
  Dev dev_{nullptr};
};

// ------------------------------------------------------------------ tests

TEST_P(Conformance, Embedding) {
  Rng rng(1);
  for (DType tdt : {DType::F32, DType::BF16, DType::F16}) {
    if (!be().supports(OpKind::Embedding, tdt)) continue;
    for (auto [V, H] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {7, 33}, {129, 7}, {50, 129}}) {
      Tensor table = host_f32({V, H}, rng).to(tdt);
      for (DType idt : {DType::I64, DType::I32}) {
        std::vector<int64_t> idv(2 * 5);
        for (auto& v : idv) v = rng.index(V);
        Tensor ids = Tensor::from_vector(idv, {2, 5}).to(idt);
        Tensor out = dev_.poisoned({2, 5, H});
        be().embedding(dev_.up(table), dev_.up(ids), out);
        Vec tv = values(table), ref;
        for (int64_t id : idv)
          for (int64_t h = 0; h < H; ++h) ref.push_back(tv[static_cast<size_t>(id * H + h)]);
        expect_close(values(dev_.down(out)), ref, 0, 0, fmt::format("embedding {} V={} H={}", dtype_name(tdt), V, H));
      }
    }
  }
}

TEST_P(Conformance, EmbeddingRejectsOutOfRangeIds) {
  Rng rng(2);
  Tensor table = dev_.up(host_f32({5, 3}, rng));
  Tensor ids = dev_.up(Tensor::from_vector(std::vector<int64_t>{1, 5}, {2}));
  Tensor out = dev_.poisoned({2, 3});
  EXPECT_THROW(be().embedding(table, ids, out), Error);
}

// Reference linear: y[m, n] = sum_k x[m, k] w[n, k] + b[n], also returns sum |terms|.
void ref_linear(const Vec& x, const Vec& w, const Vec* b, int64_t M, int64_t K, int64_t N, Vec& y, Vec& mag) {
  y.assign(static_cast<size_t>(M * N), 0);
  mag.assign(static_cast<size_t>(M * N), 0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = b ? (*b)[static_cast<size_t>(n)] : 0, a = b ? std::fabs(s) : 0;
      for (int64_t k = 0; k < K; ++k) {
        double t = x[static_cast<size_t>(m * K + k)] * w[static_cast<size_t>(n * K + k)];
        s += t;
        a += std::fabs(t);
      }
      y[static_cast<size_t>(m * N + n)] = s;
      mag[static_cast<size_t>(m * N + n)] = a;
    }
}

TEST_P(Conformance, Linear) {
  Rng rng(3);
  struct S {
    int64_t M, K, N;
  };
  for (S s : {S{1, 1, 1}, S{7, 33, 129}, S{33, 129, 7}, S{129, 64, 33}, S{40, 384, 96}}) {
    for (DType wdt : {DType::F32, DType::BF16}) {
      if (!be().supports(OpKind::Linear, wdt)) continue;
      for (bool with_bias : {false, true}) {
        for (bool strided : {false, true}) {
          // A strided x: the middle columns of a wider matrix.
          Tensor xfull = host_f32({s.M, s.K + (strided ? 5 : 0)}, rng);
          Tensor w = host_f32({s.N, s.K}, rng, -1, 1).to(wdt);
          Tensor b = host_f32({s.N}, rng);
          Tensor xd = dev_.up(xfull);
          if (strided) xd = xd.narrow(1, 2, s.K);
          Tensor bd = dev_.up(b);
          Tensor out = dev_.poisoned({s.M, s.N});
          be().linear(xd, dev_.up(w), with_bias ? &bd : nullptr, out);
          Vec xv = values(strided ? xfull.narrow(1, 2, s.K) : xfull), wv = values(w), bv = values(b), y, mag;
          std::string what = fmt::format("linear {} M={} K={} N={} bias={} strided={}", dtype_name(wdt), s.M, s.K, s.N,
                                         with_bias, strided);
          Vec got = values(dev_.down(out));
          if (wdt == DType::BF16) {
            // Exact against activations rounded to bf16 (what the kernel multiplies) ...
            Vec xr = xv;
            for (double& v : xr) v = bf16_to_f32(f32_to_bf16(static_cast<float>(v)));
            ref_linear(xr, wv, with_bias ? &bv : nullptr, s.M, s.K, s.N, y, mag);
            expect_close(got, y, mag, kRtol, what + " (vs bf16-rounded x)");
            // ... and within bf16 rounding of the unrounded product.
            ref_linear(xv, wv, with_bias ? &bv : nullptr, s.M, s.K, s.N, y, mag);
            expect_close(got, y, mag, 1e-2, what);
          } else {
            ref_linear(xv, wv, with_bias ? &bv : nullptr, s.M, s.K, s.N, y, mag);
            expect_close(got, y, mag, kRtol, what);
          }
        }
      }
    }
  }
}

// Activations quantized as docs/quantization.md says (blocks of 32, d = max|x| / 127, q =
// nearest of x * (1 / d), ties to even), in the same f32 steps, then widened: what the
// quantized kernels multiply.
Vec quantized_activations(const Vec& x, int64_t M, int64_t K) {
  Vec out(x.size());
  for (int64_t m = 0; m < M; ++m)
    for (int64_t b0 = 0; b0 < K; b0 += 32) {
      const int64_t n = std::min<int64_t>(32, K - b0);
      float amax = 0;
      for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(static_cast<float>(x[m * K + b0 + i])));
      const float d = amax / 127.0f, inv = d != 0 ? 1.0f / d : 0.0f;
      for (int64_t i = 0; i < n; ++i) {
        const float q = std::clamp(std::nearbyint(static_cast<float>(x[m * K + b0 + i]) * inv), -127.0f, 127.0f);
        out[m * K + b0 + i] = static_cast<double>(d) * q;
      }
    }
  return out;
}

// Every quantized weight format on every quantized-kernel ISA of the CPU (generic, AVX2,
// AVX-512 VNNI), against the f64 product of the dequantized weights and the quantized
// activations; a backend without a format must refuse it as Unsupported.
TEST_P(Conformance, QuantizedLinear) {
  struct S {
    int64_t M, K, N;
  };
  // Up to 16 rows run the integer kernels; more (33, 40) the bf16 GEMM on dequantized weights
  // where the CPU has bf16 products.
  const std::vector<S> shapes = {S{1, 64, 1},  S{1, 77, 33},   S{3, 96, 17},   S{8, 256, 40}, S{5, 384, 31},
                                 S{2, 130, 9}, S{16, 128, 19}, S{33, 128, 19}, S{4, 512, 65}, S{40, 77, 1030}};
  const std::vector<DType> formats = {DType::Q8, DType::Q4G32, DType::Q4G128, DType::Q4ZG32, DType::Q4ZG128};
  // The quantized kernels have their own ISA table: the generic CPU target runs the generic
  // and AVX2 ones (AVX2 is on CPUs without AVX-512 too), the AVX-512 target the VNNI ones; one
  // pass off the CPU (the ISA is ignored there).
  std::vector<cpu::QuantIsa> isas = {cpu::QuantIsa::Avx512Vnni};
  if (be().device().is_cpu())
    isas = GetParam().isa == static_cast<int>(cpu::Isa::Generic)
               ? std::vector<cpu::QuantIsa>{cpu::QuantIsa::Generic, cpu::QuantIsa::Avx2}
               : std::vector<cpu::QuantIsa>{cpu::QuantIsa::Avx512Vnni};
  int ran = 0;
  for (cpu::QuantIsa isa : isas) {
    if (be().device().is_cpu()) {
      if (!cpu::force_quant_isa(isa)) continue;
      std::cout << "[ quant    ] " << cpu::quant_kernels().name << "\n";
    }
    Rng rng(41);
    for (DType wdt : formats) {
      if (!be().supports(OpKind::Linear, wdt)) {
        Tensor w = quantize_matrix(host_f32({3, 128}, rng, -1, 1), wdt);  // 128: every format's group
        try {
          ops::linear(dev_.up(host_f32({1, 128}, rng)), dev_.up(w), nullptr);
          ADD_FAILURE() << be().name() << " ran " << dtype_name(wdt) << " without supporting it";
        } catch (const Error& e) {
          EXPECT_EQ(e.kind(), ErrorKind::Unsupported) << e.what();
        }
        continue;
      }
      for (const S& s : shapes) {
        if (!quantizable(wdt, s.K)) continue;
        for (int variant = 0; variant < 4; ++variant) {
          // 0: plain; 1: bias and a strided x; 2: bf16 x and bf16 out; 3: bias, GELU and residual.
          const bool with_bias = variant == 1 || variant == 3, strided = variant == 1, bf16 = variant == 2;
          Tensor wf = host_f32({s.N, s.K}, rng, -1, 1);
          Tensor wq = quantize_matrix(wf, wdt);
          Tensor xfull = host_f32({s.M, s.K + (strided ? 3 : 0)}, rng);
          Tensor xh = strided ? xfull.narrow(1, 1, s.K) : xfull;
          if (bf16) xh = xh.to(DType::BF16);
          Tensor b = host_f32({s.N}, rng), res = host_f32({s.M, s.N}, rng);
          Tensor xd = strided ? dev_.up(xfull).narrow(1, 1, s.K) : dev_.up(xh);
          Tensor bd = dev_.up(b), rd = dev_.up(res);
          Tensor out = dev_.poisoned({s.M, s.N}, bf16 ? DType::BF16 : DType::F32);
          LinearEpilogue epi;
          if (variant == 3) {
            epi.has_activation = true;
            epi.activation = Activation::GeluErf;
            epi.residual = &rd;
          }
          be().linear_fused(xd, dev_.up(wq), with_bias ? &bd : nullptr, epi, out);
          ++ran;
          Vec got = values(dev_.down(out));
          Vec xv = values(xh), bv = values(b), y, mag;
          Vec wv = values(dequantize_matrix(wq, s.K));
          const std::string what =
              fmt::format("quantized linear {} M={} K={} N={} variant={}", dtype_name(wdt), s.M, s.K, s.N, variant);
          // Many rows on a CPU with bf16 products go through the bf16 GEMM on the dequantized
          // weights (quant_kernels.h): then both operands are rounded to bf16 instead.
          const bool via_bf16 = be().device().is_cpu() && cpu::quantized_linear_uses_bf16_gemm(s.M);
          if (via_bf16) {
            for (double& v : wv) v = bf16_to_f32(f32_to_bf16(static_cast<float>(v)));
            Vec xr = xv;
            for (double& v : xr) v = bf16_to_f32(f32_to_bf16(static_cast<float>(v)));
            ref_linear(xr, wv, with_bias ? &bv : nullptr, s.M, s.K, s.N, y, mag);
          } else {
            ref_linear(quantized_activations(xv, s.M, s.K), wv, with_bias ? &bv : nullptr, s.M, s.K, s.N, y, mag);
          }
          if (variant == 3) {
            Vec rv = values(res);
            for (size_t i = 0; i < y.size(); ++i) {
              const double g = 0.5 * y[i] * (1 + std::erf(y[i] / std::sqrt(2.0)));
              mag[i] = mag[i] * std::max(1.0, std::fabs(g / (y[i] != 0 ? y[i] : 1))) + std::fabs(rv[i]);
              y[i] = g + rv[i];
            }
          }
          expect_close(got, y, mag, bf16 ? 8e-3 : 2e-5,
                       what + (via_bf16 ? " (vs bf16-rounded dequantized weights and x)"
                                        : " (vs dequantized weights x quantized activations)"));
          if (variant == 0) {
            // ... and within the formats' stated error of the unquantized product.
            ref_linear(xv, values(wf), nullptr, s.M, s.K, s.N, y, mag);
            expect_close(got, y, mag, wdt == DType::Q8 ? 2e-2 : 0.1, what + " (vs the f32 weights)");
          }
        }
      }
    }
  }
  if (be().device().is_cpu()) {
    cpu::reset_quant_isa();
    EXPECT_GT(ran, 0);
  }
}

TEST(QuantizationLayout, RowsRoundTripAndRefuseBadGroups) {
  Rng rng(5);
  for (DType t : {DType::Q8, DType::Q4G32, DType::Q4G128, DType::Q4ZG32, DType::Q4ZG128}) {
    const int64_t K = quant_group_size(t) == 128 ? 256 : 96;
    Tensor w = host_f32({3, K}, rng, -1, 1);
    Tensor q = quantize_matrix(w, t);
    EXPECT_EQ(q.dtype(), t);
    EXPECT_EQ(q.size(1), quantized_row_bytes(t, K));
    Vec back = values(dequantize_matrix(q, K)), ref = values(w);
    // Each value within a step of its grid (Q8: half of max/127; Q4: the opposite extreme of a
    // symmetric group and the rounded zero point can cost a whole step).
    for (int64_t j = 0; j < 3; ++j) {
      double amax = 0;
      for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(ref[j * K + k]));
      const double step = t == DType::Q8 ? amax / 127 : (quant_has_zero_point(t) ? 2 * amax / 15 : amax / 8);
      for (int64_t k = 0; k < K; ++k)
        EXPECT_LE(std::fabs(back[j * K + k] - ref[j * K + k]), (t == DType::Q8 ? 0.5 : 1.0) * step * 1.01 + 1e-6)
            << dtype_name(t) << " " << k;
    }
  }
  EXPECT_EQ(quantized_row_bytes(DType::Q8, 77), 128 + 4);
  EXPECT_EQ(quantized_row_bytes(DType::Q4G32, 96), 64 + 3 * 2);
  EXPECT_EQ(quantized_row_bytes(DType::Q4ZG128, 256), 128 + 2 * 2 + 2);
  EXPECT_FALSE(quantizable(DType::Q4G32, 48));
  EXPECT_THROW(quantize_matrix(host_f32({2, 48}, rng), DType::Q4G32), Error);
  // The zero points: the largest magnitude of a symmetric group is exact (q = 0), and zero
  // is exact in a zero-point group.
  Tensor w = Tensor::from_vector(std::vector<float>(32, 0.25f), {1, 32});
  w.data<float>()[3] = -1.0f;
  w.data<float>()[4] = 0.0f;
  EXPECT_EQ(values(dequantize_matrix(quantize_matrix(w, DType::Q4G32), 32))[3], -1.0);
  EXPECT_EQ(values(dequantize_matrix(quantize_matrix(w, DType::Q4ZG32), 32))[4], 0.0);
}

TEST_P(Conformance, MatMul) {
  Rng rng(4);
  struct S {
    int64_t B, M, K, N;
  };
  for (S s : {S{1, 1, 1, 1}, S{3, 7, 33, 129}, S{2, 129, 7, 33}, S{1, 33, 129, 7}, S{4, 64, 64, 64}}) {
    for (bool trans_b : {false, true}) {
      for (bool strided : {false, true}) {
        // strided: a is the transpose of a [B, K, M] tensor (unit stride along M).
        Tensor a = strided ? host_f32({s.B, s.K, s.M}, rng) : host_f32({s.B, s.M, s.K}, rng);
        Tensor b = trans_b ? host_f32({s.B, s.N, s.K}, rng) : host_f32({s.B, s.K, s.N}, rng);
        Tensor ad = dev_.up(a);
        Tensor ah = a;
        if (strided) {
          ad = ad.transpose(1, 2);
          ah = a.transpose(1, 2);
        }
        Tensor out = dev_.poisoned({s.B, s.M, s.N});
        be().matmul(ad, dev_.up(b), trans_b, out);
        Vec av = values(ah), bv = values(b), ref(static_cast<size_t>(s.B * s.M * s.N)), mag(ref.size());
        for (int64_t z = 0; z < s.B; ++z)
          for (int64_t m = 0; m < s.M; ++m)
            for (int64_t n = 0; n < s.N; ++n) {
              double acc = 0, am = 0;
              for (int64_t k = 0; k < s.K; ++k) {
                double bb = trans_b ? bv[static_cast<size_t>((z * s.N + n) * s.K + k)]
                                    : bv[static_cast<size_t>((z * s.K + k) * s.N + n)];
                double t = av[static_cast<size_t>((z * s.M + m) * s.K + k)] * bb;
                acc += t;
                am += std::fabs(t);
              }
              ref[static_cast<size_t>((z * s.M + m) * s.N + n)] = acc;
              mag[static_cast<size_t>((z * s.M + m) * s.N + n)] = am;
            }
        expect_close(
            values(dev_.down(out)), ref, mag, kRtol,
            fmt::format("matmul B={} M={} K={} N={} trans_b={} strided={}", s.B, s.M, s.K, s.N, trans_b, strided));
      }
    }
  }
}

TEST_P(Conformance, LayerNorm) {
  Rng rng(5);
  for (int64_t H : {1, 7, 33, 129, 768}) {
    for (int64_t rows : {1, 7, 33}) {
      for (bool with_bias : {false, true}) {
        for (float eps : {1e-12f, 1e-5f}) {
          // An offset mean (3) checks the variance is computed stably.
          Tensor x = host_f32({rows, H}, rng, 1, 5);
          Tensor w = host_f32({H}, rng), b = host_f32({H}, rng);
          Tensor bd = dev_.up(b);
          Tensor out = dev_.poisoned({rows, H});
          be().layer_norm(dev_.up(x), dev_.up(w), with_bias ? &bd : nullptr, eps, out);
          Vec xv = values(x), wv = values(w), bv = values(b), ref, mag;
          for (int64_t r = 0; r < rows; ++r) {
            double mean = 0, var = 0;
            for (int64_t i = 0; i < H; ++i) mean += xv[static_cast<size_t>(r * H + i)];
            mean /= static_cast<double>(H);
            for (int64_t i = 0; i < H; ++i) var += std::pow(xv[static_cast<size_t>(r * H + i)] - mean, 2);
            var /= static_cast<double>(H);
            double rstd = 1 / std::sqrt(var + static_cast<double>(eps));
            for (int64_t i = 0; i < H; ++i) {
              double n = (xv[static_cast<size_t>(r * H + i)] - mean) * rstd * wv[static_cast<size_t>(i)];
              ref.push_back(n + (with_bias ? bv[static_cast<size_t>(i)] : 0));
              mag.push_back(std::fabs(n) + (with_bias ? std::fabs(bv[static_cast<size_t>(i)]) : 0) +
                            1e-2 * std::fabs(wv[static_cast<size_t>(i)]));
            }
          }
          expect_close(values(dev_.down(out)), ref, mag, kRtol,
                       fmt::format("layer_norm rows={} H={} bias={} eps={}", rows, H, with_bias, eps));
        }
      }
    }
  }
}

double ref_act(Activation a, double x) {
  switch (a) {
    case Activation::GeluErf: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Activation::GeluTanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::Tanh: return std::tanh(x);
    case Activation::Relu: return x > 0 ? x : 0;
    case Activation::Silu: return x / (1 + std::exp(-x));
    case Activation::QuickGelu: return x / (1 + std::exp(-1.702 * x));
  }
  return 0;
}

TEST_P(Conformance, Activation) {
  Rng rng(6);
  for (Activation a : {Activation::GeluErf, Activation::GeluTanh, Activation::Tanh, Activation::Relu, Activation::Silu,
                       Activation::QuickGelu}) {
    for (int64_t n : {1, 7, 33, 129, 4099}) {
      Tensor x = host_f32({n}, rng, -9, 9);
      Tensor out = dev_.poisoned({n});
      be().activation(a, dev_.up(x), out);
      Vec xv = values(x), ref;
      for (double v : xv) ref.push_back(ref_act(a, v));
      // Absolute slack of 1e-6 * |x| covers functions with a zero crossing (erf, tanh at 0 are exact anyway).
      Vec mag;
      for (double v : xv) mag.push_back(0.1 * std::fabs(v));
      expect_close(values(dev_.down(out)), ref, mag, kRtol, fmt::format("activation {} n={}", static_cast<int>(a), n));
    }
  }
}

// linear with a fused epilogue: activation(x @ w^T + b) + residual, against f64.
TEST_P(Conformance, LinearFused) {
  Rng rng(13);
  struct S {
    int64_t M, K, N;
  };
  // {3, 64, 129}: the few-row shape a backend may fuse into a GEMV with its epilogue.
  for (S s : {S{1, 33, 17}, S{3, 64, 129}, S{7, 64, 129}, S{129, 96, 40}}) {
    for (DType wdt : {DType::F32, DType::BF16}) {
      if (!be().supports(OpKind::Linear, wdt)) continue;
      for (int act = -1; act <= static_cast<int>(Activation::QuickGelu); ++act) {
        for (bool with_residual : {false, true}) {
          if (act < 0 && !with_residual) continue;
          Tensor x = host_f32({s.M, s.K}, rng);
          Tensor w = host_f32({s.N, s.K}, rng, -1, 1).to(wdt);
          Tensor b = host_f32({s.N}, rng);
          Tensor r = host_f32({s.M, s.N}, rng, -3, 3);
          Tensor bd = dev_.up(b), rd = dev_.up(r);
          LinearEpilogue epi;
          epi.has_activation = act >= 0;
          if (act >= 0) epi.activation = static_cast<Activation>(act);
          epi.residual = with_residual ? &rd : nullptr;
          Tensor out = dev_.poisoned({s.M, s.N});
          be().linear_fused(dev_.up(x), dev_.up(w), &bd, epi, out);
          Vec xv = values(x), wv = values(w), bv = values(b), rv = values(r), y, mag;
          if (wdt == DType::BF16) {
            for (double& v : xv) v = bf16_to_f32(f32_to_bf16(static_cast<float>(v)));
          }
          ref_linear(xv, wv, &bv, s.M, s.K, s.N, y, mag);
          for (size_t i = 0; i < y.size(); ++i) {
            if (act >= 0) y[i] = ref_act(static_cast<Activation>(act), y[i]);
            if (with_residual) {
              y[i] += rv[i];
              mag[i] += std::fabs(rv[i]);
            }
          }
          const std::string what = fmt::format("linear_fused {} M={} K={} N={} act={} residual={}", dtype_name(wdt),
                                               s.M, s.K, s.N, act, with_residual);
          Vec got = values(dev_.down(out));
          expect_close(got, y, mag, kRtol, what);
          if (wdt != DType::BF16 || !be().supports(OpKind::Linear, DType::BF16)) continue;
          // A bf16 output: the f32 result rounded to nearest even (one bf16 step apart at most, where
          // a GEMM library's bf16-output kernel sums in another order).
          Tensor out16 = dev_.poisoned({s.M, s.N}, DType::BF16);
          be().linear_fused(dev_.up(x), dev_.up(w), &bd, epi, out16);
          Vec got16 = values(dev_.down(out16));
          int off = 0;
          for (size_t i = 0; i < got.size(); ++i) {
            const double want = bf16_to_f32(f32_to_bf16(static_cast<float>(got[i])));
            if (got16[i] == want) continue;
            ++off;
            EXPECT_LE(std::fabs(got16[i] - want), std::fabs(want) / 128) << what << " bf16 out, element " << i;
          }
          EXPECT_LE(off, static_cast<int>(got.size()) / 100) << what << ": bf16 out differs from the rounded f32 out";
        }
      }
    }
  }
}

TEST_P(Conformance, Softmax) {
  Rng rng(7);
  for (int64_t n : {1, 7, 33, 129, 1000}) {
    for (int64_t rows : {1, 7}) {
      Tensor x = host_f32({rows, n}, rng, -10, 10);
      Tensor out = dev_.poisoned({rows, n});
      be().softmax(dev_.up(x), out);
      Vec xv = values(x), ref;
      for (int64_t r = 0; r < rows; ++r) {
        double mx = -INFINITY, s = 0;
        for (int64_t i = 0; i < n; ++i) mx = std::max(mx, xv[static_cast<size_t>(r * n + i)]);
        for (int64_t i = 0; i < n; ++i) s += std::exp(xv[static_cast<size_t>(r * n + i)] - mx);
        for (int64_t i = 0; i < n; ++i) ref.push_back(std::exp(xv[static_cast<size_t>(r * n + i)] - mx) / s);
      }
      expect_close(values(dev_.down(out)), ref, kRtol, 1e-9, fmt::format("softmax rows={} n={}", rows, n));
    }
  }
}

// Reference attention over [B, S, H, D] host tensors (any strides).
Vec ref_attention(const Tensor& q, const Tensor& k, const Tensor& v, const std::vector<int64_t>* mask, float scale,
                  bool causal, Vec& mag) {
  const int64_t B = q.size(0), Sq = q.size(1), H = q.size(2), D = q.size(3), Sk = k.size(1);
  Vec qv = values(q), kv = values(k), vv = values(v);
  Vec out(static_cast<size_t>(B * Sq * H * D), 0);
  mag.assign(out.size(), 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Sq; ++i) {
        std::vector<double> s(static_cast<size_t>(Sk));
        std::vector<bool> on(static_cast<size_t>(Sk));
        double mx = -INFINITY;
        for (int64_t j = 0; j < Sk; ++j) {
          on[static_cast<size_t>(j)] =
              (!mask || (*mask)[static_cast<size_t>(b * Sk + j)] != 0) && (!causal || j <= i + (Sk - Sq));
          double d = 0;
          for (int64_t e = 0; e < D; ++e)
            d += qv[static_cast<size_t>(((b * Sq + i) * H + h) * D + e)] *
                 kv[static_cast<size_t>(((b * Sk + j) * H + h) * D + e)];
          s[static_cast<size_t>(j)] = d * scale;
          if (on[static_cast<size_t>(j)]) mx = std::max(mx, d * scale);
        }
        if (mx == -INFINITY) continue;  // no key: zeros
        double sum = 0;
        for (int64_t j = 0; j < Sk; ++j) {
          s[static_cast<size_t>(j)] = on[static_cast<size_t>(j)] ? std::exp(s[static_cast<size_t>(j)] - mx) : 0;
          sum += s[static_cast<size_t>(j)];
        }
        for (int64_t e = 0; e < D; ++e) {
          double acc = 0, am = 0;
          for (int64_t j = 0; j < Sk; ++j) {
            double t = s[static_cast<size_t>(j)] / sum * vv[static_cast<size_t>(((b * Sk + j) * H + h) * D + e)];
            acc += t;
            am += std::fabs(t);
          }
          out[static_cast<size_t>(((b * Sq + i) * H + h) * D + e)] = acc;
          mag[static_cast<size_t>(((b * Sq + i) * H + h) * D + e)] = am;
        }
      }
  return out;
}

TEST_P(Conformance, Attention) {
  Rng rng(8);
  struct S {
    int64_t B, Sq, Sk, H, D;
  };
  for (S s : {S{1, 1, 1, 1, 1}, S{2, 7, 7, 3, 33}, S{3, 33, 33, 2, 64}, S{2, 5, 129, 4, 16}, S{2, 129, 129, 2, 8},
              // Long sequences: the backend may split heads and query rows.
              S{1, 600, 600, 2, 8}, S{1, 1000, 1000, 1, 8}, S{1, 3, 1000, 1, 8}}) {
    for (bool fused : {false, true}) {
      for (int mask_kind : {0, 1}) {
        for (bool causal : {false, true}) {
          Tensor q, k, v, qh, kh, vh;
          if (fused && s.Sq == s.Sk) {
            // q/k/v as views of one fused projection [B, S, 3, H, D].
            Tensor qkv = host_f32({s.B, s.Sq, 3 * s.H * s.D}, rng);
            Tensor d = dev_.up(qkv).view({s.B, s.Sq, 3, s.H, s.D});
            Tensor hh = qkv.view({s.B, s.Sq, 3, s.H, s.D});
            q = d.select(2, 0), k = d.select(2, 1), v = d.select(2, 2);
            qh = hh.select(2, 0), kh = hh.select(2, 1), vh = hh.select(2, 2);
          } else {
            qh = host_f32({s.B, s.Sq, s.H, s.D}, rng);
            kh = host_f32({s.B, s.Sk, s.H, s.D}, rng);
            vh = host_f32({s.B, s.Sk, s.H, s.D}, rng);
            q = dev_.up(qh), k = dev_.up(kh), v = dev_.up(vh);
          }
          std::vector<int64_t> mask(static_cast<size_t>(s.B * s.Sk), 1);
          if (mask_kind == 1) {
            // Right padding of varying length; the last batch keeps a single token.
            for (int64_t b = 0; b < s.B; ++b) {
              int64_t len = b == s.B - 1 ? 1 : std::max<int64_t>(1, s.Sk - b * 3);
              for (int64_t j = len; j < s.Sk; ++j) mask[static_cast<size_t>(b * s.Sk + j)] = 0;
            }
          }
          Tensor md = dev_.up(Tensor::from_vector(mask, {s.B, s.Sk}));
          AttentionParams p;
          p.scale = 1.0f / std::sqrt(static_cast<float>(s.D));
          p.causal = causal;
          Tensor out = dev_.poisoned({s.B, s.Sq, s.H, s.D});
          be().attention(q, k, v, mask_kind ? &md : nullptr, p, out);
          Vec mag;
          Vec ref = ref_attention(qh, kh, vh, mask_kind ? &mask : nullptr, p.scale, causal, mag);
          expect_close(values(dev_.down(out)), ref, mag, kRtol,
                       fmt::format("attention B={} Sq={} Sk={} H={} D={} fused={} mask={} causal={}", s.B, s.Sq, s.Sk,
                                   s.H, s.D, fused, mask_kind, causal));
        }
      }
    }
  }
}

TEST_P(Conformance, AttentionFullyMaskedRowIsZeroNotNaN) {
  Rng rng(9);
  const int64_t B = 2, S = 9, H = 2, D = 16;
  Tensor q = dev_.up(host_f32({B, S, H, D}, rng)), k = dev_.up(host_f32({B, S, H, D}, rng)),
         v = dev_.up(host_f32({B, S, H, D}, rng));
  std::vector<int64_t> mask(static_cast<size_t>(B * S), 1);
  for (int64_t j = 0; j < S; ++j) mask[static_cast<size_t>(S + j)] = 0;  // batch 1: nothing to attend to
  for (DType mdt : {DType::I64, DType::I32}) {
    Tensor md = dev_.up(Tensor::from_vector(mask, {B, S}).to(mdt));
    Tensor out = dev_.poisoned({B, S, H, D});
    be().attention(q, k, v, &md, AttentionParams{0.25f, false}, out);
    Vec got = values(dev_.down(out));
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_TRUE(std::isfinite(got[i])) << "element " << i;
      if (i >= got.size() / 2) {
        ASSERT_EQ(got[i], 0.0) << "element " << i << " of the fully masked batch";
      }
    }
  }
}

TEST_P(Conformance, AttentionMaskSemantics) {
  // Masked keys must not influence the result: changing their k and v values
  // leaves the output unchanged, and equals attention over the unpadded prefix.
  Rng rng(10);
  const int64_t S = 12, H = 2, D = 8, len = 5;
  Tensor q = host_f32({1, S, H, D}, rng), k = host_f32({1, S, H, D}, rng), v = host_f32({1, S, H, D}, rng);
  std::vector<int64_t> mask(S, 0);
  for (int64_t j = 0; j < len; ++j) mask[static_cast<size_t>(j)] = 1;
  Tensor md = dev_.up(Tensor::from_vector(mask, {1, S}));
  AttentionParams p{0.3f, false};
  Tensor out1 = dev_.poisoned({1, S, H, D});
  be().attention(dev_.up(q), dev_.up(k), dev_.up(v), &md, p, out1);
  Tensor k2 = k.clone(), v2 = v.clone();
  for (int64_t j = len; j < S; ++j)
    for (int64_t e = 0; e < H * D; ++e) {
      k2.data<float>()[j * H * D + e] = 1e3f;
      v2.data<float>()[j * H * D + e] = -7e3f;
    }
  Tensor out2 = dev_.poisoned({1, S, H, D});
  be().attention(dev_.up(q), dev_.up(k2), dev_.up(v2), &md, p, out2);
  EXPECT_EQ(values(dev_.down(out1)), values(dev_.down(out2)));
  // Against unpadded keys.
  Tensor out3 = dev_.poisoned({1, S, H, D});
  Tensor kp = dev_.up(k.narrow(1, 0, len)), vp = dev_.up(v.narrow(1, 0, len));
  be().attention(dev_.up(q), kp, vp, nullptr, p, out3);
  expect_close(values(dev_.down(out1)), values(dev_.down(out3)), 1e-6, 1e-7, "masked vs truncated keys");
}

TEST_P(Conformance, Add) {
  Rng rng(11);
  for (Shape as : {Shape{1}, Shape{7}, Shape{3, 33}, Shape{2, 5, 129}}) {
    for (bool broadcast : {false, true}) {
      Shape bs = broadcast ? Shape(as.end() - 1, as.end()) : as;
      Tensor a = host_f32(as, rng), b = host_f32(bs, rng);
      Tensor out = dev_.poisoned(as);
      be().add(dev_.up(a), dev_.up(b), out);
      Vec av = values(a), bv = values(b), ref;
      for (size_t i = 0; i < av.size(); ++i) ref.push_back(av[i] + bv[i % bv.size()]);
      Vec mag;
      for (size_t i = 0; i < av.size(); ++i) mag.push_back(std::fabs(av[i]) + std::fabs(bv[i % bv.size()]));
      expect_close(values(dev_.down(out)), ref, mag, 1e-7, fmt::format("add {} + {}", shape_str(as), shape_str(bs)));
    }
  }
}

TEST_P(Conformance, Pool) {
  Rng rng(12);
  for (PoolMode mode : {PoolMode::Cls, PoolMode::Mean, PoolMode::Max, PoolMode::MeanSqrtLen}) {
    for (auto [B, S, H] : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {3, 7, 33}, {2, 33, 129}}) {
      for (DType mdt : {DType::I64, DType::I32}) {
        Tensor x = host_f32({B, S, H}, rng);
        std::vector<int64_t> mask(static_cast<size_t>(B * S), 1);
        for (int64_t b = 1; b < B; ++b)
          for (int64_t s = std::max<int64_t>(1, S - 2 * b); s < S; ++s) mask[static_cast<size_t>(b * S + s)] = 0;
        Tensor out = dev_.poisoned({B, H});
        be().pool(mode, dev_.up(x), dev_.up(Tensor::from_vector(mask, {B, S}).to(mdt)), out);
        Vec xv = values(x), ref, mag;
        for (int64_t b = 0; b < B; ++b)
          for (int64_t h = 0; h < H; ++h) {
            double acc = mode == PoolMode::Max ? -1e300 : 0, cnt = 0, am = 0;
            for (int64_t s = 0; s < S; ++s) {
              double val = xv[static_cast<size_t>((b * S + s) * H + h)];
              bool on = mask[static_cast<size_t>(b * S + s)] != 0;
              if (mode == PoolMode::Max) {
                acc = std::max(acc, on ? val : -1e9);
              } else if (on) {
                acc += val, cnt += 1, am += std::fabs(val);
              }
            }
            if (mode == PoolMode::Cls) acc = xv[static_cast<size_t>((b * S) * H + h)];
            if (mode == PoolMode::Mean) acc /= std::max(cnt, 1e-9), am /= std::max(cnt, 1e-9);
            if (mode == PoolMode::MeanSqrtLen)
              acc /= std::sqrt(std::max(cnt, 1e-9)), am /= std::sqrt(std::max(cnt, 1e-9));
            ref.push_back(acc);
            mag.push_back(am);
          }
        expect_close(values(dev_.down(out)), ref, mag, kRtol,
                     fmt::format("pool mode={} B={} S={} H={}", static_cast<int>(mode), B, S, H));
      }
    }
  }
}

TEST_P(Conformance, L2Normalize) {
  Rng rng(13);
  for (int64_t n : {1, 7, 33, 129, 768}) {
    for (double scale : {1.0, 1e-14}) {  // 1e-14: the norm falls below eps
      Tensor x = host_f32({3, n}, rng);
      for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(x.data<float>()[i] * scale);
      const float eps = 1e-12f;
      Tensor out = dev_.poisoned({3, n});
      be().l2_normalize(dev_.up(x), eps, out);
      Vec xv = values(x), ref;
      for (int64_t r = 0; r < 3; ++r) {
        double ss = 0;
        for (int64_t i = 0; i < n; ++i) ss += xv[static_cast<size_t>(r * n + i)] * xv[static_cast<size_t>(r * n + i)];
        double d = std::max(std::sqrt(ss), static_cast<double>(eps));
        for (int64_t i = 0; i < n; ++i) ref.push_back(xv[static_cast<size_t>(r * n + i)] / d);
      }
      expect_close(values(dev_.down(out)), ref, kRtol, 0, fmt::format("l2_normalize n={} scale={}", n, scale));
    }
  }
}

TEST_P(Conformance, ArgMax) {
  Rng rng(31);
  for (int64_t rows : {1, 3, 64}) {
    for (int64_t cols : {1, 7, 1000, 32000, 151936}) {
      Tensor x = host_f32({rows, cols}, rng);
      float* p = x.data<float>();
      std::vector<int32_t> want(static_cast<size_t>(rows));
      for (int64_t r = 0; r < rows; ++r) {
        float* row = p + r * cols;
        // A tie for the maximum: the first index wins, as torch.argmax. Row 0 ties at its ends.
        if (r % 2) row[rng.index(cols)] = -1e30f;  // large negatives change nothing
        const int64_t a = r == 0 ? 0 : rng.index(cols), b = r == 0 ? cols - 1 : rng.index(cols);
        row[a] = row[b] = 3.0f + static_cast<float>(r % 5);
        want[static_cast<size_t>(r)] = static_cast<int32_t>(std::min(a, b));
      }
      Tensor out = dev_.poisoned({rows}, DType::I32);
      be().argmax(dev_.up(x), out);
      Tensor got = dev_.down(out);
      for (int64_t r = 0; r < rows; ++r)
        ASSERT_EQ(got.data<int32_t>()[r], want[static_cast<size_t>(r)])
            << "rows " << rows << " cols " << cols << " row " << r;
    }
  }
}

TEST_P(Conformance, TopK) {
  Rng rng(32);
  for (int64_t rows : {1, 5}) {
    for (int64_t cols : {1, 9, 1000, 32000, 151936}) {
      for (int64_t k : {1, 8, 50, 300}) {
        if (k > cols) continue;
        Tensor x = host_f32({rows, cols}, rng);
        // Ties across the cut: a value repeated at several indices, the lower index first.
        for (int64_t r = 0; r < rows; ++r)
          for (int t = 0; t < 6 && cols > 1; ++t) x.data<float>()[r * cols + rng.index(cols)] = 1.5f;
        Tensor values = dev_.poisoned({rows, k}), ids = dev_.poisoned({rows, k}, DType::I32);
        be().top_k(dev_.up(x), k, values, ids);
        Tensor v = dev_.down(values), id = dev_.down(ids);
        for (int64_t r = 0; r < rows; ++r) {
          const float* row = x.data<float>() + r * cols;
          std::vector<int32_t> order(static_cast<size_t>(cols));
          for (int64_t i = 0; i < cols; ++i) order[static_cast<size_t>(i)] = static_cast<int32_t>(i);
          std::stable_sort(order.begin(), order.end(), [row](int32_t a, int32_t b) { return row[a] > row[b]; });
          for (int64_t j = 0; j < k; ++j) {
            ASSERT_EQ(id.data<int32_t>()[r * k + j], order[static_cast<size_t>(j)])
                << "rows " << rows << " cols " << cols << " k " << k << " row " << r << " rank " << j;
            ASSERT_EQ(v.data<float>()[r * k + j], row[order[static_cast<size_t>(j)]]);
          }
        }
      }
    }
  }
}

TEST_P(Conformance, Cast) {
  Rng rng(14);
  struct C {
    DType from, to;
  };
  for (C c :
       {C{DType::F32, DType::BF16}, C{DType::BF16, DType::F32}, C{DType::F32, DType::F16}, C{DType::F16, DType::F32},
        C{DType::I64, DType::I32}, C{DType::I32, DType::I64}, C{DType::I32, DType::F32}, C{DType::F32, DType::F32}}) {
    if (!be().supports(OpKind::Cast, c.from)) continue;
    for (int64_t n : {1, 7, 33, 129, 1000}) {
      Tensor x;
      if (c.from == DType::I64 || c.from == DType::I32) {
        std::vector<int64_t> v(static_cast<size_t>(n));
        for (auto& e : v) e = rng.index(2000000) - 1000000;
        x = Tensor::from_vector(v, {n}).to(c.from);
      } else {
        x = host_f32({n}, rng, -300, 300).to(c.from);
      }
      Tensor out = dev_.poisoned({n}, c.to);
      be().cast(dev_.up(x), out);
      Tensor expect = x.to(c.to);  // core's scalar conversions (round to nearest even)
      Tensor got = dev_.down(out);
      ASSERT_EQ(std::memcmp(got.raw(), expect.raw(), expect.nbytes()), 0)
          << "cast " << dtype_name(c.from) << " -> " << dtype_name(c.to) << " n=" << n;
    }
  }
}

TEST_P(Conformance, Copy) {
  Rng rng(15);
  Tensor x = host_f32({4, 7, 9}, rng);
  Tensor d = dev_.up(x).transpose(0, 2).narrow(1, 1, 5);  // strided source
  Tensor out = dev_.poisoned(d.shape());
  be().copy(d, out);
  expect_close(values(dev_.down(out)), values(x.transpose(0, 2).narrow(1, 1, 5)), 0, 0, "strided copy");
}

TEST_P(Conformance, LinearDecodeRows) {
  // The few-row (decode) shapes a backend may serve with a GEMV instead of a GEMM, and the
  // 2-16 row shapes the CPU runs on AMX tiles when K is a multiple of 32 (rows in blocks of
  // 32 and 16, and a tail of fewer than 16).
  Rng rng(16);
  for (int64_t M : {1, 2, 3, 4, 5, 8, 11, 16}) {
    for (auto [K, N] :
         std::vector<std::pair<int64_t, int64_t>>{{1000, 65}, {64, 300}, {15, 17}, {1024, 100}, {32, 48}}) {
      for (DType wdt : {DType::F32, DType::BF16}) {
        // x as the middle columns of a wider matrix: rows 3 floats apart (no vector loads) or 8
        // (16-byte aligned rows, as a GEMV kernel wants them).
        for (int64_t pad : {3, 8}) {
          const int64_t at = pad == 8 ? 8 : 1;
          Tensor xfull = host_f32({M, K + pad + (pad == 8 ? 8 : 0)}, rng);
          Tensor w = host_f32({N, K}, rng, -1, 1).to(wdt);
          Tensor b = host_f32({N}, rng);
          Tensor xd = dev_.up(xfull).narrow(1, at, K), bd = dev_.up(b);
          Tensor out = dev_.poisoned({M, N});
          be().linear(xd, dev_.up(w), &bd, out);
          Vec xv = values(xfull.narrow(1, at, K)), wv = values(w), bv = values(b), y, mag;
          if (wdt == DType::BF16)
            for (double& v : xv) v = bf16_to_f32(f32_to_bf16(static_cast<float>(v)));
          ref_linear(xv, wv, &bv, M, K, N, y, mag);
          expect_close(
              values(dev_.down(out)), y, mag, kRtol,
              fmt::format("linear decode {} M={} K={} N={} row stride {}", dtype_name(wdt), M, K, N, xfull.size(1)));
        }
      }
    }
  }
}

TEST_P(Conformance, RmsNorm) {
  Rng rng(17);
  for (int64_t H : {1, 7, 33, 129, 768}) {
    for (int64_t rows : {1, 7, 33}) {
      for (float eps : {1e-6f, 1e-5f}) {
        Tensor x = host_f32({rows, H}, rng), w = host_f32({H}, rng);
        Tensor out = dev_.poisoned({rows, H});
        be().rms_norm(dev_.up(x), dev_.up(w), eps, out);
        Vec xv = values(x), wv = values(w), ref, mag;
        for (int64_t r = 0; r < rows; ++r) {
          double ss = 0;
          for (int64_t i = 0; i < H; ++i) ss += xv[static_cast<size_t>(r * H + i)] * xv[static_cast<size_t>(r * H + i)];
          double inv = 1 / std::sqrt(ss / static_cast<double>(H) + eps);
          for (int64_t i = 0; i < H; ++i) {
            ref.push_back(wv[static_cast<size_t>(i)] * xv[static_cast<size_t>(r * H + i)] * inv);
            mag.push_back(std::fabs(ref.back()));
          }
        }
        expect_close(values(dev_.down(out)), ref, mag, kRtol,
                     fmt::format("rms_norm rows={} H={} eps={}", rows, H, eps));
      }
    }
  }
}

TEST_P(Conformance, Rotary) {
  Rng rng(18);
  struct S {
    int64_t T, N, D, R, P;
  };
  for (S s : {S{1, 1, 2, 2, 1}, S{7, 3, 16, 16, 40}, S{5, 4, 64, 32, 9}, S{33, 2, 130, 130, 100}}) {
    for (bool strided : {false, true}) {
      // strided: x is the first N heads of a wider [T, N + 2, D] projection.
      Tensor full = host_f32({s.T, s.N + (strided ? 2 : 0), s.D}, rng);
      Tensor xh = strided ? full.narrow(1, 0, s.N) : full;
      Tensor cs = host_f32({s.P, s.R / 2}, rng, -1, 1), sn = host_f32({s.P, s.R / 2}, rng, -1, 1);
      std::vector<int64_t> pos(static_cast<size_t>(s.T));
      for (auto& p : pos) p = rng.index(s.P);
      Tensor xd = dev_.up(full);
      if (strided) xd = xd.narrow(1, 0, s.N);
      Tensor out = dev_.poisoned({s.T, s.N, s.D});
      be().rotary(xd, dev_.up(Tensor::from_vector(pos, {s.T})), dev_.up(cs), dev_.up(sn), out);
      Vec xv = values(xh), cv = values(cs), sv = values(sn), ref, mag;
      const int64_t h = s.R / 2;
      for (int64_t t = 0; t < s.T; ++t)
        for (int64_t n = 0; n < s.N; ++n)
          for (int64_t i = 0; i < s.D; ++i) {
            const size_t base = static_cast<size_t>((t * s.N + n) * s.D);
            const size_t c = static_cast<size_t>(pos[static_cast<size_t>(t)] * h + (i % std::max<int64_t>(h, 1)));
            double v, m;
            if (i < h) {
              v = xv[base + static_cast<size_t>(i)] * cv[c] - xv[base + static_cast<size_t>(i + h)] * sv[c];
              m = std::fabs(xv[base + static_cast<size_t>(i)] * cv[c]) +
                  std::fabs(xv[base + static_cast<size_t>(i + h)] * sv[c]);
            } else if (i < 2 * h) {
              v = xv[base + static_cast<size_t>(i)] * cv[c] + xv[base + static_cast<size_t>(i - h)] * sv[c];
              m = std::fabs(xv[base + static_cast<size_t>(i)] * cv[c]) +
                  std::fabs(xv[base + static_cast<size_t>(i - h)] * sv[c]);
            } else {
              v = xv[base + static_cast<size_t>(i)], m = 0;
            }
            ref.push_back(v);
            mag.push_back(m);
          }
      expect_close(values(dev_.down(out)), ref, mag, kRtol,
                   fmt::format("rotary T={} N={} D={} R={} strided={}", s.T, s.N, s.D, s.R, strided));
    }
  }
}

// Gated activations act(gate) * up: SwiGLU (LLaMA), GEGLU with gelu_new (T5 v1.1), ReGLU, and erf GELU.
TEST_P(Conformance, GatedActivation) {
  Rng rng(19);
  for (Activation a : {Activation::Silu, Activation::GeluTanh, Activation::Relu, Activation::GeluErf})
    for (int64_t I : {1, 7, 33, 129, 1000}) {
      for (int64_t rows : {1, 5}) {
        Tensor x = host_f32({rows, 2 * I}, rng, -9, 9);
        Tensor out = dev_.poisoned({rows, I});
        be().gated_activation(a, dev_.up(x), out);
        Vec xv = values(x), ref, mag;
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t i = 0; i < I; ++i) {
            double g = xv[static_cast<size_t>(r * 2 * I + i)], u = xv[static_cast<size_t>(r * 2 * I + I + i)];
            ref.push_back(ref_act(a, g) * u);
            mag.push_back(0.1 * std::fabs(g * u));
          }
        expect_close(values(dev_.down(out)), ref, mag, kRtol,
                     fmt::format("gated_activation {} rows={} I={}", static_cast<int>(a), rows, I));
      }
    }
}

// With bf16 weights, rms_norm and swiglu may hand bf16 straight to the next linear. The
// decoder relies on two exact properties: the bf16 output is the f32 output rounded to
// nearest even (what linear does to an f32 x), and linear on that bf16 x equals linear on
// the f32 x, bit for bit (GEMV, AMX and GEMM row counts).
TEST_P(Conformance, Bf16ActivationsForBf16Linears) {
  if (!be().supports(OpKind::RmsNorm, DType::BF16) || !be().supports(OpKind::SwiGlu, DType::BF16) ||
      !be().supports(OpKind::Linear, DType::BF16)) {
    std::cout << "[  SKIPPED ] " << be().name() << " has no bf16 rms_norm/swiglu outputs\n";
    GTEST_SKIP();
  }
  Rng rng(23);
  auto expect_rounded = [&](const Tensor& f32_out, const Tensor& bf16_out, const std::string& what) {
    Tensor f = dev_.down(f32_out), b = dev_.down(bf16_out);
    ASSERT_EQ(b.dtype(), DType::BF16);
    for (int64_t i = 0; i < f.numel(); ++i)
      ASSERT_EQ(b.data<uint16_t>()[i], f32_to_bf16(f.data<float>()[i])) << what << " element " << i;
  };
  for (int64_t rows : {1, 3, 16, 40}) {
    for (int64_t H : {64, 96}) {
      Tensor x = host_f32({rows, H}, rng), w = host_f32({H}, rng);
      Tensor of = dev_.poisoned({rows, H}), ob = dev_.poisoned({rows, H}, DType::BF16);
      be().rms_norm(dev_.up(x), dev_.up(w), 1e-6f, of);
      be().rms_norm(dev_.up(x), dev_.up(w), 1e-6f, ob);
      expect_rounded(of, ob, fmt::format("rms_norm rows={} H={}", rows, H));
      // The linear that follows: same output from the bf16 x as from the f32 x.
      for (int64_t N : {48, 100}) {
        Tensor wl = dev_.up(host_f32({N, H}, rng, -1, 1).to(DType::BF16)), bl = dev_.up(host_f32({N}, rng));
        Tensor yf = dev_.poisoned({rows, N}), yb = dev_.poisoned({rows, N});
        be().linear(of, wl, &bl, yf);
        be().linear(ob, wl, &bl, yb);
        Vec a = values(dev_.down(yf)), b = values(dev_.down(yb));
        for (size_t i = 0; i < a.size(); ++i)
          ASSERT_EQ(a[i], b[i]) << "linear from bf16 x, rows=" << rows << " K=" << H << " N=" << N << " at " << i;
      }
    }
    const int64_t I = 80;
    Tensor g = host_f32({rows, 2 * I}, rng, -9, 9);
    Tensor sf = dev_.poisoned({rows, I}), sb = dev_.poisoned({rows, I}, DType::BF16);
    for (Activation a : {Activation::Silu, Activation::GeluTanh}) {
      be().gated_activation(a, dev_.up(g), sf);
      be().gated_activation(a, dev_.up(g), sb);
      expect_rounded(sf, sb, fmt::format("gated_activation {} rows={} I={}", static_cast<int>(a), rows, I));
    }
  }
}

// Paged attention against a dense f64 loop: several sequences with different
// cached lengths and new-token counts (prefill chunks and single-token decode),
// blocks scattered over the pool in random order, GQA and a sliding window. With an int8 KV
// cache (Q8Kv) the caches are written by the backend's kv_cache_write from f32 values, and the
// reference attends over what the cache holds, dequantized in f64 (s * q).
void paged_attention_cases(Backend& be, const Dev& dev, DType kv_dtype) {
  Rng rng(20);
  struct S {
    int64_t Hq, Hkv, D, bs, window;
  };
  // bf16_products: the backend may run both products with bf16 inputs (the CPU does on AMX when
  // D % 32 == 0); the reference then rounds q, k and v to bf16 too, and the tolerance allows
  // for the probabilities rounded to bf16.
  for (bool bf16 : {false, true})
    for (S cfg : {S{1, 1, 1, 1, 0}, S{4, 2, 16, 4, 0}, S{4, 4, 33, 16, 0}, S{8, 2, 64, 8, 5}, S{6, 1, 8, 3, 0},
                  S{4, 2, 64, 16, 0}, S{4, 1, 128, 16, 40}, S{6, 2, 7, 5, 0}}) {
      // (cached length after the write, new tokens) per sequence.
      // The last three have enough rows for the CPU's GEMM path: a whole prompt of more than one
      // query block, and chunks after cached tokens, the last of several query tiles and many
      // key tiles.
      std::vector<std::pair<int64_t, int64_t>> seqs = {{1, 1},   {9, 9},    {23, 1},   {17, 6},
                                                       {70, 70}, {100, 30}, {300, 200}};
      const int64_t lead = 2, trail = 3;  // rows no sequence owns: zeros
      int64_t T = lead + trail, need = 0, longest = 0;
      for (auto [len, n] : seqs) T += n, need += (len + cfg.bs - 1) / cfg.bs, longest = std::max(longest, len);
      const int64_t nblocks = need + 3, max_blocks = (longest + cfg.bs - 1) / cfg.bs;
      std::vector<int64_t> perm(static_cast<size_t>(nblocks));
      for (int64_t i = 0; i < nblocks; ++i) perm[static_cast<size_t>(i)] = i;
      std::shuffle(perm.begin(), perm.end(), rng.gen);
      Tensor kc = host_f32({nblocks, cfg.bs, cfg.Hkv, cfg.D}, rng),
             vc = host_f32({nblocks, cfg.bs, cfg.Hkv, cfg.D}, rng);
      Tensor q = host_f32({T, cfg.Hq, cfg.D}, rng);
      std::vector<int64_t> tables(seqs.size() * static_cast<size_t>(max_blocks), -1), lens, starts{lead};
      size_t next = 0;
      for (size_t s = 0; s < seqs.size(); ++s) {
        for (int64_t b = 0; b < (seqs[s].first + cfg.bs - 1) / cfg.bs; ++b)
          tables[s * static_cast<size_t>(max_blocks) + static_cast<size_t>(b)] = perm[next++];
        lens.push_back(seqs[s].first);
        starts.push_back(starts.back() + seqs[s].second);
      }
      PagedAttentionParams p;
      p.scale = 1.0f / std::sqrt(static_cast<float>(cfg.D));
      p.window = cfg.window;
      p.bf16_products = bf16;
      Tensor kd = dev.up(kc), vd = dev.up(vc);
      Vec kv = values(kc), vv = values(vc);
      if (kv_dtype == DType::Q8Kv) {
        // Every slot written through the op, then the reference reads back what it wrote.
        const int64_t slots = nblocks * cfg.bs, row = kv_cache_row_elems(kv_dtype, cfg.D);
        std::vector<int64_t> all(static_cast<size_t>(slots));
        for (int64_t i = 0; i < slots; ++i) all[static_cast<size_t>(i)] = i;
        kd = dev.poisoned({nblocks, cfg.bs, cfg.Hkv, row}, kv_dtype);
        vd = dev.poisoned({nblocks, cfg.bs, cfg.Hkv, row}, kv_dtype);
        be.kv_cache_write(dev.up(kc.view({slots, cfg.Hkv, cfg.D})), dev.up(vc.view({slots, cfg.Hkv, cfg.D})),
                          dev.up(Tensor::from_vector(all, {slots})), kd, vd);
        for (auto [cache, dense] : {std::pair{&kd, &kv}, std::pair{&vd, &vv}}) {
          Tensor h = dev.down(*cache);
          std::vector<float> r(static_cast<size_t>(cfg.D));
          for (int64_t i = 0; i < slots * cfg.Hkv; ++i) {
            dequantize_kv_row(h.data<uint8_t>() + i * row, cfg.D, r.data());
            std::copy(r.begin(), r.end(), dense->begin() + i * cfg.D);
          }
        }
      }
      Tensor out = dev.poisoned({T, cfg.Hq, cfg.D});
      be.paged_attention(
          dev.up(q), kd, vd,
          dev.up(Tensor::from_vector(tables, {static_cast<int64_t>(seqs.size()), max_blocks}).to(DType::I32)),
          dev.up(Tensor::from_vector(lens, {static_cast<int64_t>(seqs.size())}).to(DType::I32)),
          dev.up(Tensor::from_vector(starts, {static_cast<int64_t>(seqs.size()) + 1}).to(DType::I32)), p, out);
      Vec qv = values(q), ref(static_cast<size_t>(T * cfg.Hq * cfg.D)), mag(ref.size());
      if (bf16)
        for (Vec* vec : {&qv, &kv, &vv})
          for (double& v : *vec) v = bf16_to_f32(f32_to_bf16(static_cast<float>(v)));
      const int64_t G = cfg.Hq / cfg.Hkv;
      for (size_t s = 0; s < seqs.size(); ++s) {
        const auto [len, n] = seqs[s];
        for (int64_t r = 0; r < n; ++r) {
          const int64_t t = starts[s] + r, pos = len - n + r;
          for (int64_t h = 0; h < cfg.Hq; ++h) {
            const int64_t hk = h / G;
            auto at = [&](const Vec& c, int64_t j, int64_t e) {
              int64_t blk = tables[s * static_cast<size_t>(max_blocks) + static_cast<size_t>(j / cfg.bs)];
              return c[static_cast<size_t>((((blk * cfg.bs) + j % cfg.bs) * cfg.Hkv + hk) * cfg.D + e)];
            };
            const int64_t lo = cfg.window > 0 ? std::max<int64_t>(0, pos - cfg.window + 1) : 0;
            std::vector<double> sc;
            double mx = -INFINITY;
            for (int64_t j = lo; j <= pos; ++j) {
              double d = 0;
              for (int64_t e = 0; e < cfg.D; ++e)
                d += qv[static_cast<size_t>((t * cfg.Hq + h) * cfg.D + e)] * at(kv, j, e);
              sc.push_back(d * p.scale);
              mx = std::max(mx, d * p.scale);
            }
            double sum = 0;
            for (double& x : sc) sum += (x = std::exp(x - mx));
            for (int64_t e = 0; e < cfg.D; ++e) {
              double acc = 0, am = 0;
              for (int64_t j = lo; j <= pos; ++j) {
                double term = sc[static_cast<size_t>(j - lo)] / sum * at(vv, j, e);
                acc += term, am += std::fabs(term);
              }
              ref[static_cast<size_t>((t * cfg.Hq + h) * cfg.D + e)] = acc;
              mag[static_cast<size_t>((t * cfg.Hq + h) * cfg.D + e)] = am;
            }
          }
        }
      }
      expect_close(values(dev.down(out)), ref, mag, bf16 ? 1.0 / 64 : kRtol,
                   fmt::format("paged_attention kv={} Hq={} Hkv={} D={} block={} window={} bf16_products={}",
                               dtype_name(kv_dtype), cfg.Hq, cfg.Hkv, cfg.D, cfg.bs, cfg.window, bf16));
    }
}

TEST_P(Conformance, PagedAttention) {
  paged_attention_cases(be(), dev_, DType::F32);
}

// An int8 KV cache (--kv-cache-dtype int8): attention over the dequantized cache as exactly as
// over an f32 one, where the backend keeps one (the CPU; CUDA says it does not).
TEST_P(Conformance, PagedAttentionInt8Kv) {
  if (!be().supports(OpKind::PagedAttention, DType::Q8Kv)) {
    std::cout << "[  SKIPPED ] " << be().name() << " has no int8 KV cache\n";
    GTEST_SKIP();
  }
  paged_attention_cases(be(), dev_, DType::Q8Kv);
}

// Attention of packed sequences (no cache) against a dense f64 loop: mixed lengths (1, one
// 64-row query block, several blocks, an empty sequence, one long enough for several key tiles
// of every kernel), rows before the first and after the last sequence (zeros), bidirectional,
// causal and causal with a window, GQA, q/k/v as strided views of one fused projection or
// separate tensors, f32 and bf16 products.
TEST_P(Conformance, VarlenAttention) {
  Rng rng(22);
  struct S {
    int64_t Hq, Hkv, D;
  };
  const std::vector<int64_t> lens = {1, 9, 70, 0, 128, 17, 1, 64, 65, 260};
  const int64_t lead = 3, trail = 2;  // rows no sequence owns
  std::vector<int64_t> starts{lead};
  for (int64_t n : lens) starts.push_back(starts.back() + n);
  const int64_t T = starts.back() + trail;
  struct Mode {
    bool causal;
    int64_t window;
  };
  for (S cfg : {S{1, 1, 1}, S{4, 2, 16}, S{3, 3, 33}, S{6, 2, 64}, S{12, 12, 32}, S{2, 1, 128}})
    for (bool fused : {true, false})
      for (Mode mode : {Mode{false, 0}, Mode{true, 0}, Mode{true, 5}})
        for (bool bf16 : {false, true}) {
          const int64_t W = cfg.Hq + 2 * cfg.Hkv;
          Tensor q, k, v, qh, kh, vh;
          if (fused) {
            Tensor qkv = host_f32({T, W, cfg.D}, rng);
            Tensor d = dev_.up(qkv);
            q = d.narrow(1, 0, cfg.Hq), k = d.narrow(1, cfg.Hq, cfg.Hkv), v = d.narrow(1, cfg.Hq + cfg.Hkv, cfg.Hkv);
            qh = qkv.narrow(1, 0, cfg.Hq), kh = qkv.narrow(1, cfg.Hq, cfg.Hkv);
            vh = qkv.narrow(1, cfg.Hq + cfg.Hkv, cfg.Hkv);
          } else {
            qh = host_f32({T, cfg.Hq, cfg.D}, rng), kh = host_f32({T, cfg.Hkv, cfg.D}, rng);
            vh = host_f32({T, cfg.Hkv, cfg.D}, rng);
            q = dev_.up(qh), k = dev_.up(kh), v = dev_.up(vh);
          }
          VarlenAttentionParams p;
          p.scale = 1.0f / std::sqrt(static_cast<float>(cfg.D));
          p.causal = mode.causal;
          p.window = mode.window;
          p.bf16_products = bf16;
          Tensor out = dev_.poisoned({T, cfg.Hq, cfg.D});
          be().varlen_attention(
              q, k, v, dev_.up(Tensor::from_vector(starts, {static_cast<int64_t>(starts.size())}).to(DType::I32)), p,
              out);
          // bf16 products: the reference rounds q, k, v and the probabilities to bf16 as well;
          // the tolerance allows each weight two bf16 roundings apart from the reference's: a
          // flash kernel may round the unnormalised weights and divide by their f32 sum at the
          // end (as PyTorch's flash SDPA does) rather than round the normalised probabilities.
          Vec qv = values(qh), kv = values(kh), vv = values(vh), ref(static_cast<size_t>(T * cfg.Hq * cfg.D)),
              mag(ref.size());
          auto rounded = [&](double x) { return bf16 ? bf16_to_f32(f32_to_bf16(static_cast<float>(x))) : x; };
          for (Vec* vec : {&qv, &kv, &vv})
            for (double& x : *vec) x = rounded(x);
          const int64_t G = cfg.Hq / cfg.Hkv;
          for (size_t s = 0; s < lens.size(); ++s)
            for (int64_t i = 0; i < lens[s]; ++i) {
              const int64_t t = starts[s] + i;
              const int64_t lo = mode.causal && mode.window > 0 ? std::max<int64_t>(0, i - mode.window + 1) : 0;
              const int64_t hi = mode.causal ? i : lens[s] - 1;
              for (int64_t h = 0; h < cfg.Hq; ++h) {
                const int64_t hk = h / G;
                std::vector<double> sc;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = lo; j <= hi; ++j) {
                  double d = 0;
                  for (int64_t e = 0; e < cfg.D; ++e)
                    d += qv[static_cast<size_t>((t * cfg.Hq + h) * cfg.D + e)] *
                         kv[static_cast<size_t>(((starts[s] + j) * cfg.Hkv + hk) * cfg.D + e)];
                  sc.push_back(d * p.scale);
                  mx = std::max(mx, d * p.scale);
                }
                for (double& x : sc) sum += (x = std::exp(x - mx));
                for (double& x : sc) x = rounded(x / sum);
                for (int64_t e = 0; e < cfg.D; ++e) {
                  double acc = 0, am = 0;
                  for (int64_t j = lo; j <= hi; ++j) {
                    double term = sc[static_cast<size_t>(j - lo)] *
                                  vv[static_cast<size_t>(((starts[s] + j) * cfg.Hkv + hk) * cfg.D + e)];
                    acc += term, am += std::fabs(term);
                  }
                  ref[static_cast<size_t>((t * cfg.Hq + h) * cfg.D + e)] = acc;
                  mag[static_cast<size_t>((t * cfg.Hq + h) * cfg.D + e)] = am;
                }
              }
            }
          expect_close(values(dev_.down(out)), ref, mag, bf16 ? 1.0 / 128 : kRtol,
                       fmt::format("varlen_attention Hq={} Hkv={} D={} fused={} causal={} window={} bf16_products={}",
                                   cfg.Hq, cfg.Hkv, cfg.D, fused, mode.causal, mode.window, bf16));
        }
}

// Rows before the first sequence and after the last one belong to none: zeros, not garbage.
// query_start that is not an ascending range within the rows is an InvalidArgument error.
TEST_P(Conformance, VarlenAttentionRowsOutsideSequencesAndBadStarts) {
  Rng rng(23);
  const int64_t T = 10, H = 2, D = 8;
  Tensor q = dev_.up(host_f32({T, H, D}, rng)), k = dev_.up(host_f32({T, H, D}, rng)),
         v = dev_.up(host_f32({T, H, D}, rng));
  auto starts = [&](std::vector<int64_t> s) {
    return dev_.up(Tensor::from_vector(s, {static_cast<int64_t>(s.size())}).to(DType::I32));
  };
  VarlenAttentionParams p;
  p.scale = 0.3f;
  Tensor out = dev_.poisoned({T, H, D});
  be().varlen_attention(q, k, v, starts({2, 5, 7}), p, out);
  Vec got = values(dev_.down(out));
  for (int64_t t : {0, 1, 7, 8, 9})
    for (int64_t e = 0; e < H * D; ++e) ASSERT_EQ(got[static_cast<size_t>(t * H * D + e)], 0.0) << "row " << t;
  for (int64_t t = 2; t < 7; ++t)
    for (int64_t e = 0; e < H * D; ++e) ASSERT_TRUE(std::isfinite(got[static_cast<size_t>(t * H * D + e)]));
  // A single-token sequence attends to itself only: out = v.
  Tensor one = dev_.poisoned({T, H, D});
  be().varlen_attention(q, k, v, starts({3, 4}), p, one);
  Vec o1 = values(dev_.down(one)), vv = values(dev_.down(v));
  for (int64_t e = 0; e < H * D; ++e)
    EXPECT_FLOAT_EQ(o1[static_cast<size_t>(3 * H * D + e)], vv[static_cast<size_t>(3 * H * D + e)]);
  for (auto bad : {std::vector<int64_t>{0, 5, 3}, std::vector<int64_t>{0, 11}, std::vector<int64_t>{-1, 4},
                   std::vector<int64_t>{0, 6, 4, 10}}) {
    Tensor o = dev_.poisoned({T, H, D});
    try {
      be().varlen_attention(q, k, v, starts(bad), p, o);
      ADD_FAILURE() << "query_start " << bad[1] << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << e.what();
    }
  }
}

// A random relative position bias [H, 2W + 1] and its value for key position j of query position p.
struct BiasTable {
  Tensor host;
  int64_t W = 0;
  double at(int64_t h, int64_t j, int64_t p) const {
    const int64_t d = std::clamp<int64_t>(j - p, -W, W);
    return host.data<float>()[h * (2 * W + 1) + d + W];
  }
};

BiasTable bias_table(int64_t H, int64_t W, Rng& rng) {
  return BiasTable{host_f32({H, 2 * W + 1}, rng, -3, 3), W};
}

// Softmax attention of one query row against the keys it sees, in f64: scores[j] (scaled and
// biased) over values v(j, e) -> out[e] and the magnitude of its terms.
void ref_attend(const std::vector<double>& scores, const std::function<double(size_t, int64_t)>& v, int64_t D,
                double* out, double* mag) {
  double mx = -INFINITY, sum = 0;
  for (double x : scores) mx = std::max(mx, x);
  std::vector<double> p(scores.size());
  for (size_t j = 0; j < scores.size(); ++j) sum += (p[j] = std::exp(scores[j] - mx));
  for (int64_t e = 0; e < D; ++e) {
    double acc = 0, am = 0;
    for (size_t j = 0; j < scores.size(); ++j) {
      const double term = p[j] / sum * v(j, e);
      acc += term, am += std::fabs(term);
    }
    out[e] = scores.empty() ? 0.0 : acc;
    mag[e] = am;
  }
}

// T5's relative position bias inside the paged attention: decode rows and prompt chunks (the
// CPU's GEMM tasks), a max distance shorter than the sequences (clamped) and longer, GQA.
TEST_P(Conformance, PagedAttentionPositionBias) {
  Rng rng(24);
  struct S {
    int64_t Hq, Hkv, D, bs, W;
  };
  for (S cfg : {S{4, 4, 8, 4, 3}, S{4, 2, 16, 16, 40}, S{6, 3, 32, 8, 128}}) {
    const std::vector<std::pair<int64_t, int64_t>> seqs = {{1, 1}, {9, 1}, {30, 30}, {70, 20}, {120, 1}};
    int64_t T = 0, need = 0, longest = 0;
    for (auto [len, n] : seqs) T += n, need += (len + cfg.bs - 1) / cfg.bs, longest = std::max(longest, len);
    const int64_t nblocks = need + 2, max_blocks = (longest + cfg.bs - 1) / cfg.bs;
    std::vector<int64_t> perm(static_cast<size_t>(nblocks));
    for (int64_t i = 0; i < nblocks; ++i) perm[static_cast<size_t>(i)] = i;
    std::shuffle(perm.begin(), perm.end(), rng.gen);
    Tensor kc = host_f32({nblocks, cfg.bs, cfg.Hkv, cfg.D}, rng), vc = host_f32({nblocks, cfg.bs, cfg.Hkv, cfg.D}, rng);
    Tensor q = host_f32({T, cfg.Hq, cfg.D}, rng);
    const BiasTable bias = bias_table(cfg.Hq, cfg.W, rng);
    std::vector<int64_t> tables(seqs.size() * static_cast<size_t>(max_blocks), -1), lens, starts{0};
    size_t next = 0;
    for (size_t s = 0; s < seqs.size(); ++s) {
      for (int64_t b = 0; b < (seqs[s].first + cfg.bs - 1) / cfg.bs; ++b)
        tables[s * static_cast<size_t>(max_blocks) + static_cast<size_t>(b)] = perm[next++];
      lens.push_back(seqs[s].first);
      starts.push_back(starts.back() + seqs[s].second);
    }
    Tensor bias_dev = dev_.up(bias.host);
    PagedAttentionParams p;
    p.scale = 0.7f;
    p.position_bias.bias = &bias_dev;
    Tensor out = dev_.poisoned({T, cfg.Hq, cfg.D});
    be().paged_attention(
        dev_.up(q), dev_.up(kc), dev_.up(vc),
        dev_.up(Tensor::from_vector(tables, {static_cast<int64_t>(seqs.size()), max_blocks}).to(DType::I32)),
        dev_.up(Tensor::from_vector(lens, {static_cast<int64_t>(seqs.size())}).to(DType::I32)),
        dev_.up(Tensor::from_vector(starts, {static_cast<int64_t>(seqs.size()) + 1}).to(DType::I32)), p, out);
    Vec qv = values(q), kv = values(kc), vv = values(vc), ref(static_cast<size_t>(T * cfg.Hq * cfg.D)), mag(ref.size());
    const int64_t G = cfg.Hq / cfg.Hkv;
    for (size_t s = 0; s < seqs.size(); ++s) {
      const auto [len, n] = seqs[s];
      for (int64_t r = 0; r < n; ++r) {
        const int64_t t = starts[s] + r, pos = len - n + r;
        for (int64_t h = 0; h < cfg.Hq; ++h) {
          const int64_t hk = h / G;
          auto at = [&](const Vec& c, int64_t j, int64_t e) {
            int64_t blk = tables[s * static_cast<size_t>(max_blocks) + static_cast<size_t>(j / cfg.bs)];
            return c[static_cast<size_t>((((blk * cfg.bs) + j % cfg.bs) * cfg.Hkv + hk) * cfg.D + e)];
          };
          std::vector<double> sc;
          for (int64_t j = 0; j <= pos; ++j) {
            double d = 0;
            for (int64_t e = 0; e < cfg.D; ++e)
              d += qv[static_cast<size_t>((t * cfg.Hq + h) * cfg.D + e)] * at(kv, j, e);
            sc.push_back(d * p.scale + bias.at(h, j, pos));
          }
          const size_t o = static_cast<size_t>((t * cfg.Hq + h) * cfg.D);
          ref_attend(
              sc, [&](size_t j, int64_t e) { return at(vv, static_cast<int64_t>(j), e); }, cfg.D, &ref[o], &mag[o]);
        }
      }
    }
    expect_close(
        values(dev_.down(out)), ref, mag, kRtol,
        fmt::format("paged_attention+bias Hq={} Hkv={} D={} block={} W={}", cfg.Hq, cfg.Hkv, cfg.D, cfg.bs, cfg.W));
  }
}

// The bias in packed attention without a cache: bidirectional (T5's encoder: keys before and
// after the query) and causal, lengths from 1 to several key tiles, W shorter and longer.
TEST_P(Conformance, VarlenAttentionPositionBias) {
  Rng rng(25);
  const std::vector<int64_t> lens = {1, 9, 70, 0, 130};
  const int64_t lead = 2, trail = 1;
  std::vector<int64_t> starts{lead};
  for (int64_t n : lens) starts.push_back(starts.back() + n);
  const int64_t T = starts.back() + trail;
  struct S {
    int64_t Hq, Hkv, D, W;
  };
  for (S cfg : {S{4, 4, 8, 4}, S{4, 2, 32, 64}, S{2, 1, 64, 200}})
    for (bool causal : {false, true}) {
      Tensor qh = host_f32({T, cfg.Hq, cfg.D}, rng), kh = host_f32({T, cfg.Hkv, cfg.D}, rng),
             vh = host_f32({T, cfg.Hkv, cfg.D}, rng);
      const BiasTable bias = bias_table(cfg.Hq, cfg.W, rng);
      Tensor bias_dev = dev_.up(bias.host);
      VarlenAttentionParams p;
      p.scale = 1.0f;
      p.causal = causal;
      p.position_bias.bias = &bias_dev;
      Tensor out = dev_.poisoned({T, cfg.Hq, cfg.D});
      be().varlen_attention(dev_.up(qh), dev_.up(kh), dev_.up(vh),
                            dev_.up(Tensor::from_vector(starts, {static_cast<int64_t>(starts.size())}).to(DType::I32)),
                            p, out);
      Vec qv = values(qh), kv = values(kh), vv = values(vh), ref(static_cast<size_t>(T * cfg.Hq * cfg.D), 0.0),
          mag(ref.size(), 0.0);
      const int64_t G = cfg.Hq / cfg.Hkv;
      for (size_t s = 0; s < lens.size(); ++s)
        for (int64_t i = 0; i < lens[s]; ++i) {
          const int64_t t = starts[s] + i;
          for (int64_t h = 0; h < cfg.Hq; ++h) {
            const int64_t hk = h / G, hi = causal ? i : lens[s] - 1;
            std::vector<double> sc;
            for (int64_t j = 0; j <= hi; ++j) {
              double d = 0;
              for (int64_t e = 0; e < cfg.D; ++e)
                d += qv[static_cast<size_t>((t * cfg.Hq + h) * cfg.D + e)] *
                     kv[static_cast<size_t>(((starts[s] + j) * cfg.Hkv + hk) * cfg.D + e)];
              sc.push_back(d * p.scale + bias.at(h, j, i));
            }
            const size_t o = static_cast<size_t>((t * cfg.Hq + h) * cfg.D);
            ref_attend(
                sc,
                [&](size_t j, int64_t e) {
                  return vv[static_cast<size_t>(((starts[s] + static_cast<int64_t>(j)) * cfg.Hkv + hk) * cfg.D + e)];
                },
                cfg.D, &ref[o], &mag[o]);
          }
        }
      expect_close(
          values(dev_.down(out)), ref, mag, kRtol,
          fmt::format("varlen_attention+bias Hq={} Hkv={} D={} W={} causal={}", cfg.Hq, cfg.Hkv, cfg.D, cfg.W, causal));
    }
}

// Cross-attention: packed decoder rows (one per beam, or a whole decoder prompt) against key
// ranges of an encoder output that overlap and repeat (beams share a prompt's rows), an empty
// range (zeros), rows no sequence owns (zeros), GQA, K/V as views of one fused projection, f32
// and bf16 products; ranges outside the keys are refused.
TEST_P(Conformance, CrossAttention) {
  Rng rng(26);
  struct S {
    int64_t Hq, Hkv, D;
  };
  // (query rows, key range) per sequence.
  const std::vector<std::pair<int64_t, std::pair<int64_t, int64_t>>> seqs = {
      {1, {0, 11}}, {1, {0, 11}}, {3, {11, 12}}, {1, {12, 12}}, {70, {12, 150}}, {2, {0, 150}}, {1, {20, 90}}};
  const int64_t lead = 1, trail = 2, Tk = 150;
  std::vector<int64_t> starts{lead}, ranges;
  for (const auto& [n, r] : seqs) {
    starts.push_back(starts.back() + n);
    ranges.push_back(r.first);
    ranges.push_back(r.second);
  }
  const int64_t T = starts.back() + trail, S_ = static_cast<int64_t>(seqs.size());
  for (S cfg : {S{1, 1, 1}, S{4, 2, 16}, S{3, 3, 33}, S{8, 8, 64}, S{2, 1, 128}})
    for (bool bf16 : {false, true}) {
      Tensor qh = host_f32({T, cfg.Hq, cfg.D}, rng), kvh = host_f32({Tk, 2 * cfg.Hkv, cfg.D}, rng);
      Tensor kvd = dev_.up(kvh);
      Tensor kh = kvh.narrow(1, 0, cfg.Hkv), vh = kvh.narrow(1, cfg.Hkv, cfg.Hkv);
      CrossAttentionParams p;
      p.scale = 1.0f / std::sqrt(static_cast<float>(cfg.D));
      p.bf16_products = bf16;
      Tensor out = dev_.poisoned({T, cfg.Hq, cfg.D});
      be().cross_attention(dev_.up(qh), kvd.narrow(1, 0, cfg.Hkv), kvd.narrow(1, cfg.Hkv, cfg.Hkv),
                           dev_.up(Tensor::from_vector(starts, {S_ + 1}).to(DType::I32)),
                           dev_.up(Tensor::from_vector(ranges, {S_, 2}).to(DType::I32)), p, out);
      auto rounded = [&](double x) { return bf16 ? bf16_to_f32(f32_to_bf16(static_cast<float>(x))) : x; };
      Vec qv = values(qh), kv = values(kh), vv = values(vh), ref(static_cast<size_t>(T * cfg.Hq * cfg.D), 0.0),
          mag(ref.size(), 0.0);
      for (Vec* vec : {&qv, &kv, &vv})
        for (double& x : *vec) x = rounded(x);
      const int64_t G = cfg.Hq / cfg.Hkv;
      for (size_t s = 0; s < seqs.size(); ++s) {
        const auto [k0, k1] = seqs[s].second;
        for (int64_t t = starts[s]; t < starts[s + 1]; ++t)
          for (int64_t h = 0; h < cfg.Hq; ++h) {
            const int64_t hk = h / G;
            std::vector<double> sc;
            for (int64_t j = k0; j < k1; ++j) {
              double d = 0;
              for (int64_t e = 0; e < cfg.D; ++e)
                d += qv[static_cast<size_t>((t * cfg.Hq + h) * cfg.D + e)] *
                     kv[static_cast<size_t>((j * cfg.Hkv + hk) * cfg.D + e)];
              sc.push_back(d * p.scale);
            }
            const size_t o = static_cast<size_t>((t * cfg.Hq + h) * cfg.D);
            ref_attend(
                sc,
                [&](size_t j, int64_t e) {
                  return vv[static_cast<size_t>(((k0 + static_cast<int64_t>(j)) * cfg.Hkv + hk) * cfg.D + e)];
                },
                cfg.D, &ref[o], &mag[o]);
          }
      }
      expect_close(values(dev_.down(out)), ref, mag, bf16 ? 1.0 / 128 : kRtol,
                   fmt::format("cross_attention Hq={} Hkv={} D={} bf16_products={}", cfg.Hq, cfg.Hkv, cfg.D, bf16));
    }
  // A range outside the keys, or reversed, is an InvalidArgument error.
  Tensor q = dev_.up(host_f32({4, 2, 8}, rng)), k = dev_.up(host_f32({6, 2, 8}, rng));
  for (auto bad : {std::vector<int64_t>{0, 7}, std::vector<int64_t>{-1, 3}, std::vector<int64_t>{4, 2}}) {
    Tensor o = dev_.poisoned({4, 2, 8});
    try {
      be().cross_attention(q, k, k, dev_.up(Tensor::from_vector(std::vector<int64_t>{0, 4}, {2}).to(DType::I32)),
                           dev_.up(Tensor::from_vector(bad, {1, 2}).to(DType::I32)), CrossAttentionParams{}, o);
      ADD_FAILURE() << "kv range [" << bad[0] << ", " << bad[1] << ") accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << e.what();
    }
  }
}

TEST_P(Conformance, KvCacheWrite) {
  Rng rng(21);
  const int64_t T = 5, H = 2, D = 7, blocks = 4, bs = 3;
  Tensor kfull = host_f32({T, 3 * H, D}, rng);  // k and v as views of a fused projection
  Tensor kd = dev_.up(kfull);
  std::vector<int64_t> slots = {11, 0, 4, 5, 9};
  Tensor kc = dev_.poisoned({blocks, bs, H, D}), vc = dev_.poisoned({blocks, bs, H, D});
  be().kv_cache_write(kd.narrow(1, H, H), kd.narrow(1, 2 * H, H), dev_.up(Tensor::from_vector(slots, {T})), kc, vc);
  Vec kv = values(dev_.down(kc)), vv = values(dev_.down(vc)), src = values(kfull);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t e = 0; e < H * D; ++e) {
      ASSERT_EQ(kv[static_cast<size_t>(slots[static_cast<size_t>(t)] * H * D + e)],
                src[static_cast<size_t>(t * 3 * H * D + H * D + e)]);
      ASSERT_EQ(vv[static_cast<size_t>(slots[static_cast<size_t>(t)] * H * D + e)],
                src[static_cast<size_t>(t * 3 * H * D + 2 * H * D + e)]);
    }
}

// kv_cache_write into an int8 cache: each (token, head) row quantized exactly as
// quantize_kv_row does (the quants and scale bit for bit), within half a step of the input,
// and slots not written keep their bytes.
TEST_P(Conformance, KvCacheWriteInt8) {
  if (!be().supports(OpKind::PagedAttention, DType::Q8Kv)) {
    std::cout << "[  SKIPPED ] " << be().name() << " has no int8 KV cache\n";
    GTEST_SKIP();
  }
  Rng rng(24);
  for (int64_t D : {1, 7, 64, 129}) {
    const int64_t T = 5, H = 3, blocks = 4, bs = 3, row = kv_cache_row_elems(DType::Q8Kv, D);
    Tensor kfull = host_f32({T, 3 * H, D}, rng, -3, 3);  // k and v as views of a fused projection
    // One row all zeros (scale 0) and one with a single large value (the others round small).
    std::fill(kfull.data<float>() + H * D, kfull.data<float>() + (H + 1) * D, 0.0f);
    kfull.data<float>()[(3 * 3 * H + 2 * H) * D] = 1000.0f;  // token 3, v of head 0
    Tensor kd = dev_.up(kfull);
    std::vector<int64_t> slots = {11, 0, 4, 5, 9};
    Tensor kc = dev_.poisoned({blocks, bs, H, row}, DType::Q8Kv), vc = dev_.poisoned({blocks, bs, H, row}, DType::Q8Kv);
    ops::kv_cache_write(kd.narrow(1, H, H), kd.narrow(1, 2 * H, H), dev_.up(Tensor::from_vector(slots, {T})), kc, vc);
    Tensor kh = dev_.down(kc), vh = dev_.down(vc);
    std::vector<uint8_t> want(static_cast<size_t>(row));
    std::vector<float> back(static_cast<size_t>(D));
    std::set<int64_t> written(slots.begin(), slots.end());
    for (int64_t slot = 0; slot < blocks * bs; ++slot)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t which : {1, 2}) {
          const uint8_t* got = (which == 1 ? kh : vh).data<uint8_t>() + (slot * H + h) * row;
          if (!written.count(slot)) {
            for (int64_t i = 0; i < row; ++i) ASSERT_EQ(got[i], 0xff) << "slot " << slot << " was written";
            continue;
          }
          const int64_t t = std::find(slots.begin(), slots.end(), slot) - slots.begin();
          const float* src = kfull.data<float>() + (t * 3 * H + which * H + h) * D;
          quantize_kv_row(src, D, want.data());
          ASSERT_EQ(std::memcmp(got, want.data(), static_cast<size_t>(row)), 0)
              << "D=" << D << " slot " << slot << " head " << h << (which == 1 ? " k" : " v");
          dequantize_kv_row(got, D, back.data());
          const float s = kv_row_scale(got, D);
          for (int64_t i = 0; i < D; ++i) ASSERT_LE(std::fabs(back[static_cast<size_t>(i)] - src[i]), s / 2 + 1e-6f);
        }
  }
  // A cache whose rows do not fit the head dim is refused by the op layer.
  Tensor k = dev_.up(host_f32({2, 1, 8}, rng));
  Tensor bad = dev_.poisoned({2, 2, 1, 8}, DType::Q8Kv);
  EXPECT_THROW(ops::kv_cache_write(k, k, dev_.up(Tensor::from_vector(std::vector<int64_t>{0, 1}, {2})), bad, bad),
               Error);
}

TEST_P(Conformance, Conv1d) {
  Rng rng(22);
  struct S {
    int64_t B, L, Cin, Cout, K;
    Conv1dParams p;
  };
  const std::vector<S> cases = {
      {1, 1, 1, 1, 1, {1, 0, 1, 1}},
      {1, 50, 1, 7, 10, {5, 0, 1, 1}},      // Wav2Vec2's first feature conv (stride 5, kernel 10)
      {2, 33, 8, 12, 3, {2, 0, 1, 1}},      // its later ones
      {1, 9, 5, 6, 2, {2, 0, 1, 1}},        // kernel 2, stride 2
      {1, 20, 12, 12, 4, {1, 2, 1, 4}},     // positional conv: even kernel, padding K/2, groups
      {1, 17, 6, 9, 5, {1, 2, 1, 3}},       // odd kernel, groups, Cout != Cin
      {2, 30, 80, 16, 3, {1, 1, 1, 1}},     // Whisper's stem: kernel 3, padding 1, stride 1 ...
      {1, 31, 16, 16, 3, {2, 1, 1, 1}},     // ... and stride 2
      {1, 25, 4, 6, 3, {3, 4, 2, 2}},       // dilation, padding beyond the kernel, stride 3
      {1, 3, 2, 3, 5, {1, 2, 1, 1}},        // padding alone makes the kernel fit
      {1, 17000, 256, 4, 4, {1, 2, 1, 1}},  // several im2col chunks on every backend
  };
  for (const S& c : cases) {
    for (bool with_bias : {false, true}) {
      const int64_t G = c.p.groups, Cg = c.Cin / G, Og = c.Cout / G;
      const int64_t Lout = conv1d_output_length(c.L, c.K, c.p);
      Tensor x = host_f32({c.B, c.L, c.Cin}, rng), w = host_f32({c.Cout, Cg, c.K}, rng, -1, 1),
             b = host_f32({c.Cout}, rng);
      Tensor bd = dev_.up(b);
      Tensor out = dev_.poisoned({c.B, Lout, c.Cout});
      be().conv1d(dev_.up(x), dev_.up(w), with_bias ? &bd : nullptr, c.p, out);
      Vec xv = values(x), wv = values(w), bv = values(b), ref, mag;
      for (int64_t bb = 0; bb < c.B; ++bb)
        for (int64_t t = 0; t < Lout; ++t)
          for (int64_t o = 0; o < c.Cout; ++o) {
            const int64_t g = o / Og;
            double sum = with_bias ? bv[static_cast<size_t>(o)] : 0, a = std::fabs(sum);
            for (int64_t i = 0; i < Cg; ++i)
              for (int64_t k = 0; k < c.K; ++k) {
                const int64_t src = t * c.p.stride + k * c.p.dilation - c.p.padding;
                if (src < 0 || src >= c.L) continue;
                const double term = xv[static_cast<size_t>((bb * c.L + src) * c.Cin + g * Cg + i)] *
                                    wv[static_cast<size_t>((o * Cg + i) * c.K + k)];
                sum += term;
                a += std::fabs(term);
              }
            ref.push_back(sum);
            mag.push_back(a);
          }
      expect_close(values(dev_.down(out)), ref, mag, kRtol,
                   fmt::format("conv1d B={} L={} Cin={} Cout={} K={} stride={} pad={} dil={} groups={} bias={}", c.B,
                               c.L, c.Cin, c.Cout, c.K, c.p.stride, c.p.padding, c.p.dilation, G, with_bias));
    }
  }
}

TEST_P(Conformance, Conv1dThroughOps) {
  // The ops layer: a strided x is made contiguous, bf16 biases widened, shapes checked.
  Rng rng(23);
  const Conv1dParams p{2, 1, 1, 2};
  Tensor xfull = host_f32({1, 9, 10}, rng), w = host_f32({6, 4, 3}, rng, -1, 1), b = host_f32({6}, rng);
  Tensor xd = dev_.up(xfull).narrow(2, 1, 8);  // channels 1..8 of 10: not contiguous
  Tensor bd = dev_.up(b.to(DType::BF16));
  Tensor out = dev_.down(ops::conv1d(xd, dev_.up(w), &bd, p));
  Tensor want = dev_.down(ops::conv1d(dev_.up(xfull.narrow(2, 1, 8).contiguous()), dev_.up(w), nullptr, p));
  ASSERT_EQ(out.shape(), (Shape{1, 5, 6}));
  Vec got = values(out), base = values(want), bv = values(b.to(DType::BF16));
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], base[i] + bv[i % 6], 1e-4) << i;
  // Fewer samples than the kernel spans; weights that do not fit the groups.
  EXPECT_THROW(ops::conv1d(dev_.up(host_f32({1, 2, 8}, rng)), dev_.up(w), nullptr, Conv1dParams{1, 0, 1, 2}), Error);
  EXPECT_THROW(ops::conv1d(xd, dev_.up(host_f32({6, 3, 3}, rng)), nullptr, p), Error);
}

TEST_P(Conformance, GroupNorm) {
  Rng rng(24);
  struct S {
    int64_t B, L, C, G;
  };
  for (S c : {S{1, 1, 1, 1}, S{1, 50, 16, 16}, S{2, 33, 12, 4}, S{1, 7, 9, 3}, S{2, 300, 32, 1}, S{1, 5000, 8, 8},
              S{1, 20000, 4, 2}}) {
    for (bool with_bias : {false, true}) {
      // An offset mean (3) checks the variance is computed stably.
      Tensor x = host_f32({c.B, c.L, c.C}, rng, 1, 5);
      Tensor w = host_f32({c.C}, rng), b = host_f32({c.C}, rng);
      Tensor bd = dev_.up(b);
      Tensor out = dev_.poisoned({c.B, c.L, c.C});
      const float eps = 1e-5f;
      be().group_norm(dev_.up(x), c.G, dev_.up(w), with_bias ? &bd : nullptr, eps, out);
      Vec xv = values(x), wv = values(w), bv = values(b);
      Vec ref(xv.size()), mag(xv.size());
      const int64_t Cg = c.C / c.G;
      for (int64_t bb = 0; bb < c.B; ++bb)
        for (int64_t g = 0; g < c.G; ++g) {
          auto at = [&](int64_t t, int64_t ch) { return static_cast<size_t>((bb * c.L + t) * c.C + g * Cg + ch); };
          double mean = 0, var = 0;
          for (int64_t t = 0; t < c.L; ++t)
            for (int64_t ch = 0; ch < Cg; ++ch) mean += xv[at(t, ch)];
          mean /= static_cast<double>(c.L * Cg);
          for (int64_t t = 0; t < c.L; ++t)
            for (int64_t ch = 0; ch < Cg; ++ch) var += std::pow(xv[at(t, ch)] - mean, 2);
          var /= static_cast<double>(c.L * Cg);
          const double rstd = 1 / std::sqrt(var + static_cast<double>(eps));
          for (int64_t t = 0; t < c.L; ++t)
            for (int64_t ch = 0; ch < Cg; ++ch) {
              const size_t cc = static_cast<size_t>(g * Cg + ch);
              const double n = (xv[at(t, ch)] - mean) * rstd * wv[cc];
              ref[at(t, ch)] = n + (with_bias ? bv[cc] : 0);
              mag[at(t, ch)] = std::fabs(n) + (with_bias ? std::fabs(bv[cc]) : 0) + 1e-2 * std::fabs(wv[cc]);
            }
        }
      expect_close(values(dev_.down(out)), ref, mag, kRtol,
                   fmt::format("group_norm B={} L={} C={} G={} bias={}", c.B, c.L, c.C, c.G, with_bias));
    }
  }
}

TEST_P(Conformance, Conv2d) {
  Rng rng(26);
  struct S {
    int64_t B, H, W, Cin, Cout, KH, KW;
    Conv2dParams p;
  };
  const std::vector<S> cases = {
      {1, 1, 1, 1, 1, 1, 1, {}},
      {1, 13, 11, 3, 8, 7, 7, {2, 2, 3, 3, 1, 1, 1}},    // a ResNet stem: 7x7 stride 2 padding 3
      {2, 9, 10, 6, 5, 3, 3, {1, 1, 1, 1, 1, 1, 1}},     // a basic block's 3x3
      {1, 9, 7, 6, 10, 3, 3, {2, 2, 1, 1, 1, 1, 1}},     // its downsampling 3x3
      {2, 7, 9, 12, 16, 1, 1, {1, 1, 0, 0, 1, 1, 1}},    // pointwise: the GEMM on the pixels
      {1, 8, 9, 12, 16, 1, 1, {2, 2, 0, 0, 1, 1, 1}},    // a strided shortcut 1x1
      {1, 10, 9, 8, 12, 3, 3, {1, 1, 2, 2, 2, 2, 4}},    // dilation (DETR's dc5) and groups
      {1, 12, 7, 4, 6, 3, 2, {3, 1, 2, 0, 1, 2, 2}},     // unequal sides, strides and paddings
      {1, 2, 2, 2, 3, 3, 3, {1, 1, 1, 1, 1, 1, 1}},      // padding alone makes the kernel fit
      {1, 300, 300, 3, 4, 3, 3, {1, 1, 1, 1, 1, 1, 1}},  // several im2col chunks on the CPU
  };
  for (const S& c : cases) {
    for (int variant = 0; variant < 3; ++variant) {
      // bias off / on in f32, then bias on with bf16 products: the reference takes bf16-rounded x
      // and w, and the bound (2^-7 of the magnitude) also admits a backend that stays in f32.
      const bool with_bias = variant > 0, bf16 = variant == 2;
      Conv2dParams p = c.p;
      p.bf16_products = bf16;
      const int64_t G = p.groups, Cg = c.Cin / G, Og = c.Cout / G;
      const int64_t Hout = window_output_size(c.H, c.KH, p.stride_h, p.padding_h, p.dilation_h);
      const int64_t Wout = window_output_size(c.W, c.KW, p.stride_w, p.padding_w, p.dilation_w);
      Tensor x = host_f32({c.B, c.H, c.W, c.Cin}, rng), w = host_f32({c.Cout, Cg, c.KH, c.KW}, rng, -1, 1),
             b = host_f32({c.Cout}, rng);
      Tensor bd = dev_.up(b);
      Tensor out = dev_.poisoned({c.B, Hout, Wout, c.Cout});
      be().conv2d(dev_.up(x), dev_.up(w), with_bias ? &bd : nullptr, p, out);
      Vec xv = values(bf16 ? x.to(DType::BF16) : x), wv = values(bf16 ? w.to(DType::BF16) : w), bv = values(b), ref,
          mag;
      for (int64_t bb = 0; bb < c.B; ++bb)
        for (int64_t oy = 0; oy < Hout; ++oy)
          for (int64_t ox = 0; ox < Wout; ++ox)
            for (int64_t o = 0; o < c.Cout; ++o) {
              const int64_t g = o / Og;
              double sum = with_bias ? bv[static_cast<size_t>(o)] : 0, a = std::fabs(sum);
              for (int64_t i = 0; i < Cg; ++i)
                for (int64_t ky = 0; ky < c.KH; ++ky)
                  for (int64_t kx = 0; kx < c.KW; ++kx) {
                    const int64_t iy = oy * p.stride_h + ky * p.dilation_h - p.padding_h;
                    const int64_t ix = ox * p.stride_w + kx * p.dilation_w - p.padding_w;
                    if (iy < 0 || iy >= c.H || ix < 0 || ix >= c.W) continue;
                    const double term = xv[static_cast<size_t>(((bb * c.H + iy) * c.W + ix) * c.Cin + g * Cg + i)] *
                                        wv[static_cast<size_t>(((o * Cg + i) * c.KH + ky) * c.KW + kx)];
                    sum += term;
                    a += std::fabs(term);
                  }
              ref.push_back(sum);
              mag.push_back(a);
            }
      expect_close(values(dev_.down(out)), ref, mag, bf16 ? 1.0 / 128 : kRtol,
                   fmt::format("conv2d B={} {}x{} Cin={} Cout={} K={}x{} stride={}x{} pad={}x{} dil={}x{} groups={} "
                               "bias={} bf16_products={}",
                               c.B, c.H, c.W, c.Cin, c.Cout, c.KH, c.KW, p.stride_h, p.stride_w, p.padding_h,
                               p.padding_w, p.dilation_h, p.dilation_w, G, with_bias, bf16));
    }
  }
}

TEST_P(Conformance, Conv2dFused) {
  // activation(conv + bias + residual): a ResNet block's last convolution and its others.
  Rng rng(28);
  struct S {
    int64_t H, W, Cin, Cout, K;
    Conv2dParams p;
  };
  const std::vector<S> cases = {{9, 10, 6, 5, 3, {1, 1, 1, 1, 1, 1, 1}}, {7, 9, 12, 16, 1, {}}};
  for (const S& c : cases)
    for (bool with_residual : {false, true})
      for (Activation act : {Activation::Relu, Activation::GeluErf}) {
        const int64_t Hout = window_output_size(c.H, c.K, c.p.stride_h, c.p.padding_h, 1);
        const int64_t Wout = window_output_size(c.W, c.K, c.p.stride_w, c.p.padding_w, 1);
        Tensor x = host_f32({1, c.H, c.W, c.Cin}, rng), w = host_f32({c.Cout, c.Cin, c.K, c.K}, rng, -1, 1),
               b = host_f32({c.Cout}, rng), r = host_f32({1, Hout, Wout, c.Cout}, rng);
        Tensor bd = dev_.up(b), rd = dev_.up(r);
        ConvEpilogue e;
        e.residual = with_residual ? &rd : nullptr;
        e.has_activation = true;
        e.activation = act;
        Tensor out = dev_.poisoned({1, Hout, Wout, c.Cout});
        be().conv2d_fused(dev_.up(x), dev_.up(w), &bd, c.p, e, out);
        Vec xv = values(x), wv = values(w), bv = values(b), rv = values(r), ref, mag;
        for (int64_t oy = 0; oy < Hout; ++oy)
          for (int64_t ox = 0; ox < Wout; ++ox)
            for (int64_t o = 0; o < c.Cout; ++o) {
              double sum = bv[static_cast<size_t>(o)], a = std::fabs(sum);
              for (int64_t i = 0; i < c.Cin; ++i)
                for (int64_t ky = 0; ky < c.K; ++ky)
                  for (int64_t kx = 0; kx < c.K; ++kx) {
                    const int64_t iy = oy + ky - c.p.padding_h, ix = ox + kx - c.p.padding_w;
                    if (iy < 0 || iy >= c.H || ix < 0 || ix >= c.W) continue;
                    const double t = xv[static_cast<size_t>((iy * c.W + ix) * c.Cin + i)] *
                                     wv[static_cast<size_t>(((o * c.Cin + i) * c.K + ky) * c.K + kx)];
                    sum += t;
                    a += std::fabs(t);
                  }
              if (with_residual) {
                const double rr = rv[static_cast<size_t>((oy * Wout + ox) * c.Cout + o)];
                sum += rr;
                a += std::fabs(rr);
              }
              ref.push_back(act == Activation::Relu ? std::max(sum, 0.0)
                                                    : 0.5 * sum * (1 + std::erf(sum / std::sqrt(2.0))));
              mag.push_back(a);
            }
        expect_close(values(dev_.down(out)), ref, mag, kRtol,
                     fmt::format("conv2d_fused K={} residual={} act={}", c.K, with_residual, static_cast<int>(act)));
      }
}

TEST_P(Conformance, Conv2dThroughOps) {
  // The ops layer: a strided x is made contiguous, a bf16 bias widened, shapes checked.
  Rng rng(27);
  const Conv2dParams p{2, 2, 1, 1, 1, 1, 1};
  Tensor xfull = host_f32({1, 5, 6, 10}, rng), w = host_f32({4, 8, 3, 3}, rng, -1, 1), b = host_f32({4}, rng);
  Tensor xd = dev_.up(xfull).narrow(3, 1, 8);  // channels 1..8 of 10: not contiguous
  Tensor bd = dev_.up(b.to(DType::BF16));
  Tensor out = dev_.down(ops::conv2d(xd, dev_.up(w), &bd, p));
  Tensor want = dev_.down(ops::conv2d(dev_.up(xfull.narrow(3, 1, 8).contiguous()), dev_.up(w), nullptr, p));
  ASSERT_EQ(out.shape(), (Shape{1, 3, 3, 4}));
  Vec got = values(out), base = values(want), bv = values(b.to(DType::BF16));
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], base[i] + bv[i % 4], 1e-4) << i;
  // An image smaller than the kernel; weights that do not fit the input channels.
  EXPECT_THROW(ops::conv2d(dev_.up(host_f32({1, 2, 2, 8}, rng)), dev_.up(w), nullptr, Conv2dParams{}), Error);
  EXPECT_THROW(ops::conv2d(xd, dev_.up(host_f32({4, 6, 3, 3}, rng)), nullptr, p), Error);
}

TEST_P(Conformance, MaxPool2d) {
  Rng rng(28);
  struct S {
    int64_t B, H, W, C;
    MaxPool2dParams p;
  };
  const std::vector<S> cases = {
      {1, 1, 1, 1, {1, 1, 1, 1, 0, 0}},   {2, 16, 21, 8, {3, 3, 2, 2, 1, 1}},  // the ResNet stem's pool
      {1, 7, 7, 33, {3, 3, 2, 2, 1, 1}},   // odd sides: the last window hangs over the edge
      {1, 9, 8, 5, {2, 3, 2, 1, 1, 0}},    // unequal kernels, strides and paddings
      {1, 4, 4, 300, {2, 2, 2, 2, 0, 0}},  // many channels
  };
  for (const S& c : cases) {
    const MaxPool2dParams& p = c.p;
    const int64_t Hout = window_output_size(c.H, p.kernel_h, p.stride_h, p.padding_h, 1);
    const int64_t Wout = window_output_size(c.W, p.kernel_w, p.stride_w, p.padding_w, 1);
    // All negative inputs: padding counted as zero instead of -inf would win.
    Tensor x = host_f32({c.B, c.H, c.W, c.C}, rng, -3, -0.5);
    Tensor out = dev_.poisoned({c.B, Hout, Wout, c.C});
    be().max_pool2d(dev_.up(x), p, out);
    Vec xv = values(x), ref;
    for (int64_t bb = 0; bb < c.B; ++bb)
      for (int64_t oy = 0; oy < Hout; ++oy)
        for (int64_t ox = 0; ox < Wout; ++ox)
          for (int64_t ch = 0; ch < c.C; ++ch) {
            double m = -std::numeric_limits<double>::infinity();
            for (int64_t ky = 0; ky < p.kernel_h; ++ky)
              for (int64_t kx = 0; kx < p.kernel_w; ++kx) {
                const int64_t iy = oy * p.stride_h + ky - p.padding_h, ix = ox * p.stride_w + kx - p.padding_w;
                if (iy < 0 || iy >= c.H || ix < 0 || ix >= c.W) continue;
                m = std::max(m, xv[static_cast<size_t>(((bb * c.H + iy) * c.W + ix) * c.C + ch)]);
              }
            ref.push_back(m);
          }
    expect_close(values(dev_.down(out)), ref, 0, 0,
                 fmt::format("max_pool2d B={} {}x{} C={} kernel={}x{} stride={}x{} pad={}x{}", c.B, c.H, c.W, c.C,
                             p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.padding_h, p.padding_w));
  }
  // torch propagates NaN: a NaN in a window wins over every number, in every channel lane
  // (channels 0 and 17: the first and a second vector of 16).
  {
    Tensor x = host_f32({1, 4, 4, 20}, rng, -3, 3);
    x.data<float>()[(1 * 4 + 1) * 20 + 0] = std::numeric_limits<float>::quiet_NaN();
    x.data<float>()[(2 * 4 + 2) * 20 + 17] = std::numeric_limits<float>::quiet_NaN();
    Tensor out = dev_.poisoned({1, 2, 2, 20});
    be().max_pool2d(dev_.up(x), MaxPool2dParams{2, 2, 2, 2, 0, 0}, out);
    const Vec got = values(dev_.down(out));
    for (int64_t i = 0; i < 4 * 20; ++i) {
      const bool nan_expected = i == 0 * 20 + 0 || i == 3 * 20 + 17;
      EXPECT_EQ(std::isnan(got[static_cast<size_t>(i)]), nan_expected) << "max_pool2d NaN, output " << i;
    }
  }
  // Through ops: a padding over half the kernel is refused (torch refuses it too).
  EXPECT_THROW(ops::max_pool2d(dev_.up(host_f32({1, 4, 4, 2}, rng)), MaxPool2dParams{2, 2, 1, 1, 2, 2}), Error);
  Tensor via_ops = dev_.down(ops::max_pool2d(dev_.up(host_f32({1, 5, 5, 3}, rng)), MaxPool2dParams{3, 3, 2, 2, 1, 1}));
  EXPECT_EQ(via_ops.shape(), (Shape{1, 3, 3, 3}));
}

TEST_P(Conformance, ConcatRows) {
  Rng rng(25);
  Tensor a = host_f32({3, 4}, rng), b = host_f32({0, 4}, rng), c = host_f32({5, 8}, rng);
  Tensor cd = dev_.up(c).narrow(1, 2, 4);  // a strided part
  Tensor out = dev_.down(ops::concat_rows({dev_.up(a), dev_.up(b), cd}));
  ASSERT_EQ(out.shape(), (Shape{8, 4}));
  Vec got = values(out), av = values(a), cv = values(c.narrow(1, 2, 4));
  for (size_t i = 0; i < av.size(); ++i) EXPECT_EQ(got[i], av[i]);
  for (size_t i = 0; i < cv.size(); ++i) EXPECT_EQ(got[av.size() + i], cv[i]);
  EXPECT_THROW(ops::concat_rows({dev_.up(a), dev_.up(c)}), Error);
}

INSTANTIATE_TEST_SUITE_P(Backends, Conformance,
                         ::testing::Values(Target{"cpu_avx512", Device::cpu(), static_cast<int>(cpu::Isa::Avx512)},
                                           Target{"cpu_generic", Device::cpu(), static_cast<int>(cpu::Isa::Generic)},
                                           Target{"cuda0", Device::cuda(0), -1}),
                         [](const ::testing::TestParamInfo<Target>& info) { return std::string(info.param.name); });

TEST(ConformanceCoverage, EveryOpKindIsSupportedByEveryBackend) {
  // A backend that does not support an op for f32 must be found out here, not in a model.
  for (Backend* b : registered_backends()) {
    std::cout << "[ backend  ] registered: " << b->device().str() << " = " << b->name() << "\n";
    for (OpKind op : {OpKind::Embedding,      OpKind::Linear,      OpKind::MatMul,         OpKind::LayerNorm,
                      OpKind::Activation,     OpKind::Softmax,     OpKind::Attention,      OpKind::Add,
                      OpKind::Pool,           OpKind::L2Normalize, OpKind::Cast,           OpKind::RmsNorm,
                      OpKind::Rotary,         OpKind::SwiGlu,      OpKind::PagedAttention, OpKind::VarlenAttention,
                      OpKind::ArgMax,         OpKind::TopK,        OpKind::Conv1d,         OpKind::GroupNorm,
                      OpKind::CrossAttention, OpKind::Conv2d,      OpKind::MaxPool2d})
      EXPECT_TRUE(b->supports(op, DType::F32)) << b->name() << " lacks " << op_kind_name(op);
  }
  EXPECT_TRUE(has_backend(Device::cpu()));
}

}  // namespace
}  // namespace ia
