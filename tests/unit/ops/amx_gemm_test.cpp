// The many-row AMX GEMM: the packed weight layout, the loops and the epilogue against an f64
// reference (through the tile emulation on any AVX-512 BF16 CPU, and on the tile unit where
// this machine has AMX), and the packed-weight cache's ownership rules.
#include "backends/cpu/amx_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/amx_permission.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/storage.h"

namespace ia::cpu {
namespace {

std::vector<uint16_t> random_bf16(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = f32_to_bf16(d(rng));
  return v;
}

double ref_act(Activation a, double v) {
  switch (a) {
    case Activation::GeluErf: return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    case Activation::GeluTanh: return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    case Activation::Tanh: return std::tanh(v);
    case Activation::Relu: return v > 0 ? v : 0;
    case Activation::Silu: return v / (1.0 + std::exp(-v));
    case Activation::QuickGelu: return v / (1.0 + std::exp(-1.702 * v));
  }
  return v;
}

TEST(AmxGemm, PackedLayoutIsTheTileProductsB) {
  const int64_t N = 20, K = 64, ldw = 70;
  std::vector<uint16_t> w(static_cast<size_t>(N * ldw));
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<uint16_t>(i + 1);
  AmxPackedWeights p = pack_amx_weights(w.data(), N, K, ldw);
  EXPECT_EQ(p.nblocks, 2);  // 20 columns -> one 32-column panel of two 16-column blocks
  EXPECT_EQ(p.kblocks, 2);
  for (int64_t nb = 0; nb < p.nblocks; ++nb)
    for (int64_t kb = 0; kb < p.kblocks; ++kb)
      for (int64_t r = 0; r < 16; ++r)
        for (int64_t c = 0; c < 16; ++c)
          for (int64_t e = 0; e < 2; ++e) {
            const int64_t n = nb * 16 + c, k = kb * 32 + 2 * r + e;
            const uint16_t want = n < N ? w[static_cast<size_t>(n * ldw + k)] : uint16_t{0};
            ASSERT_EQ(p.data[static_cast<size_t>((nb * p.kblocks + kb) * 512 + r * 32 + 2 * c + e)], want)
                << "n=" << n << " k=" << k;
          }
  EXPECT_THROW(pack_amx_weights(w.data(), N, 48, ldw), Error);
}

using GemmFn = std::function<bool(const AmxInput&, int64_t, const AmxPackedWeights&, const AmxEpilogue&, float*,
                                  uint16_t*, int64_t)>;

// Every shape class: row tails (fewer than 16 and 16-31 rows in the last panel), column tails
// (a half and a partial block), several column chunks, each activation, residual, bf16 out.
// all_activations false: the epilogue cases without activation, bias or residual and with a
// GELU only (the schedules change the loops, not the epilogue).
void check_against_f64(const GemmFn& gemm, const char* what, bool all_activations = true) {
  std::mt19937 rng(7);
  struct S {
    int64_t M, N, K;
  };
  int checked = 0;
  for (S s : {S{17, 16, 32}, S{32, 48, 64}, S{33, 17, 96}, S{100, 100, 64}, S{70, 2100, 256}, S{45, 40, 3072}}) {
    const int64_t ldx = s.K + 8;  // rows with a stride, as a strided x would be rounded into
    std::vector<uint16_t> x = random_bf16(static_cast<size_t>(s.M * ldx), rng),
                          w = random_bf16(static_cast<size_t>(s.N * s.K), rng);
    std::vector<float> xf(x.size());  // the same values as f32 (exact: they are bf16 values)
    for (size_t i = 0; i < x.size(); ++i) xf[i] = bf16_to_f32(x[i]);
    std::vector<float> bias(static_cast<size_t>(s.N)), res(static_cast<size_t>(s.M * s.N));
    std::uniform_real_distribution<float> d(-2.0f, 2.0f);
    for (auto& v : bias) v = d(rng);
    for (auto& v : res) v = d(rng);
    AmxPackedWeights p = pack_amx_weights(w.data(), s.N, s.K, s.K);
    const int last_act = all_activations ? static_cast<int>(Activation::QuickGelu) : 0;
    for (int act = -1; act <= last_act; ++act) {
      for (bool bf16_out : {false, true}) {
        AmxEpilogue e;
        e.bias = act == 0 ? nullptr : bias.data();
        e.has_activation = act >= 0;
        if (act >= 0) e.activation = static_cast<Activation>(act);
        e.residual = act == 1 ? nullptr : res.data();
        const int64_t ldo = s.N;
        std::vector<float> of(static_cast<size_t>(s.M * ldo), std::nanf(""));
        std::vector<uint16_t> ob(static_cast<size_t>(s.M * ldo), 0x7fc1);
        // x as bf16 rows, or (with every other activation) as f32 rows the GEMM rounds itself.
        AmxInput in;
        in.ld = ldx;
        if (act % 2 == 0) {
          in.bf16 = x.data();
        } else {
          in.f32 = xf.data();
        }
        if (!gemm(in, s.M, p, e, bf16_out ? nullptr : of.data(), bf16_out ? ob.data() : nullptr, ldo)) {
          GTEST_SKIP() << what << ": this CPU lacks AVX-512 BF16, which the GEMM's epilogue uses";
        }
        for (int64_t m = 0; m < s.M; ++m)
          for (int64_t n = 0; n < s.N; ++n) {
            double acc = 0, mag = 0;
            for (int64_t k = 0; k < s.K; ++k) {
              const double t = static_cast<double>(bf16_to_f32(x[static_cast<size_t>(m * ldx + k)])) *
                               bf16_to_f32(w[static_cast<size_t>(n * s.K + k)]);
              acc += t;
              mag += std::fabs(t);
            }
            if (e.bias) acc += e.bias[n];
            if (e.has_activation) acc = ref_act(e.activation, acc);
            if (e.residual) acc += e.residual[m * s.N + n];
            const size_t i = static_cast<size_t>(m * ldo + n);
            const double got = bf16_out ? bf16_to_f32(ob[i]) : of[i];
            const double tol = 1e-5 * (mag + 1.0) + (bf16_out ? std::fabs(acc) / 128 : 0.0);
            ASSERT_NEAR(got, acc, tol) << what << " M=" << s.M << " N=" << s.N << " K=" << s.K << " act=" << act
                                       << " bf16_out=" << bf16_out << " at " << m << "," << n;
            ++checked;
          }
      }
    }
  }
  EXPECT_GT(checked, 0);
}

// Every way of walking the product gives the same answer: loads grouped or interleaved with
// the products, weights loaded with or without the streaming hint, K whole or in blocks (one
// that divides K, one that leaves a tail), chunks of one column panel or many.
std::vector<AmxGemmSchedule> schedules() {
  std::vector<AmxGemmSchedule> out;
  auto add = [&](bool interleaved, bool stream, int64_t k_block, int64_t chunk) {
    AmxGemmSchedule s;
    s.interleaved = interleaved;
    s.stream_weights = stream;
    s.k_block = k_block;
    s.chunk_bytes = chunk;
    out.push_back(s);
  };
  for (bool interleaved : {false, true})
    for (bool stream : {false, true}) add(interleaved, stream, 0, 0);
  add(true, true, 64, 1024);
  add(false, true, 96, 0);
  add(true, false, 96, 4096);
  return out;
}

std::string describe(const AmxGemmSchedule& s) {
  return "interleaved=" + std::to_string(s.interleaved) + " stream=" + std::to_string(s.stream_weights) +
         " k_block=" + std::to_string(s.k_block) + " chunk=" + std::to_string(s.chunk_bytes);
}

TEST(AmxGemm, EmulatedTilesMatchF64) {
  check_against_f64([](const AmxInput& x, int64_t M, const AmxPackedWeights& w, const AmxEpilogue& e, float* of,
                       uint16_t* ob, int64_t ldo) { return amx_gemm_bf16_emulated(x, M, w, e, of, ob, ldo); },
                    "emulated tiles");
}

TEST(AmxGemm, EverySchedule) {
  for (const AmxGemmSchedule& s : schedules()) {
    SCOPED_TRACE(describe(s));
    const std::string what = "emulated tiles, " + describe(s);
    check_against_f64([&s](const AmxInput& x, int64_t M, const AmxPackedWeights& w, const AmxEpilogue& e, float* of,
                           uint16_t* ob, int64_t ldo) { return amx_gemm_bf16_emulated(x, M, w, e, of, ob, ldo, s); },
                      what.c_str(), false);
    if (HasFatalFailure() || IsSkipped()) return;
    if (!amx_bf16_usable()) continue;
    const std::string tiles = "AMX tiles, " + describe(s);
    check_against_f64(
        [&s](const AmxInput& x, int64_t M, const AmxPackedWeights& w, const AmxEpilogue& e, float* of, uint16_t* ob,
             int64_t ldo) {
          amx_gemm_bf16(x, M, w, e, of, ob, ldo, s);
          return true;
        },
        tiles.c_str(), false);
    if (HasFatalFailure()) return;
  }
}

TEST(AmxGemm, TileUnitMatchesF64) {
  if (!amx_bf16_usable()) GTEST_SKIP() << "this CPU (or kernel) gives the process no AMX-BF16 tiles";
  check_against_f64(
      [](const AmxInput& x, int64_t M, const AmxPackedWeights& w, const AmxEpilogue& e, float* of, uint16_t* ob,
         int64_t ldo) {
        amx_gemm_bf16(x, M, w, e, of, ob, ldo);
        return true;
      },
      "AMX tiles");
}

TEST(AmxGemm, CacheKeepsOnePackPerOwnerAndRepacksForANewOwner) {
  std::mt19937 rng(3);
  std::vector<uint16_t> w = random_bf16(64 * 32, rng);
  std::shared_ptr<Storage> owner = std::make_shared<HostStorage>(16);
  auto a = cached_amx_weights(w.data(), 64, 32, 32, owner);
  auto b = cached_amx_weights(w.data(), 64, 32, 32, owner);
  EXPECT_EQ(a.get(), b.get());
  // The same address under another owner (freed weights whose memory was reused): packed again.
  w[0] = f32_to_bf16(5.0f);
  std::shared_ptr<Storage> other = std::make_shared<HostStorage>(16);
  auto c = cached_amx_weights(w.data(), 64, 32, 32, other);
  EXPECT_NE(c.get(), a.get());
  EXPECT_EQ(c->data[0], f32_to_bf16(5.0f));
  clear_amx_weight_cache();
}

}  // namespace
}  // namespace ia::cpu
