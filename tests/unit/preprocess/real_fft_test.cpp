#include "preprocess/audio/real_fft.h"

#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <numbers>
#include <random>
#include <vector>

#include "unit/formats/formats_test_util.h"

namespace ia::audio {
namespace {

// The DFT by its definition, in long double.
std::vector<std::complex<long double>> dft(const std::vector<std::complex<double>>& x) {
  const size_t n = x.size();
  std::vector<std::complex<long double>> out(n);
  for (size_t k = 0; k < n; ++k) {
    std::complex<long double> acc = 0;
    for (size_t t = 0; t < n; ++t) {
      const long double a = -2.0L * std::numbers::pi_v<long double> * static_cast<long double>((k * t) % n) / n;
      acc += std::complex<long double>(x[t].real(), x[t].imag()) * std::complex<long double>(std::cos(a), std::sin(a));
    }
    out[k] = acc;
  }
  return out;
}

std::vector<std::complex<double>> random_signal(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<std::complex<double>> x(n);
  for (auto& v : x) v = {u(rng), u(rng)};
  return x;
}

// Every radix path (4, 2, 3, 5, other primes, mixes) against the definition, relative to the
// largest output (|X| ~ sqrt(n) here): within a few ulps times log n.
TEST(Fft, ComplexMatchesTheDefinition) {
  for (int n : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 16, 25, 49, 60, 97, 128, 200, 210, 400, 512, 1000, 1024}) {
    SCOPED_TRACE(n);
    auto x = random_signal(static_cast<size_t>(n), static_cast<unsigned>(n));
    ComplexFft fft(n);
    std::vector<std::complex<double>> got(static_cast<size_t>(n));
    fft.forward(x.data(), got.data());
    auto want = dft(x);
    long double worst = 0, scale = 0;
    for (int k = 0; k < n; ++k) {
      const size_t i = static_cast<size_t>(k);
      worst = std::max(worst, std::abs(std::complex<long double>(got[i].real(), got[i].imag()) - want[i]));
      scale = std::max(scale, std::abs(want[i]));
    }
    EXPECT_LT(static_cast<double>(worst / scale), 1e-14);
  }
}

TEST(Fft, RealMatchesTheDefinition) {
  for (int n : {1, 2, 3, 4, 7, 10, 16, 30, 400, 401, 1024}) {
    SCOPED_TRACE(n);
    auto c = random_signal(static_cast<size_t>(n), 7u + static_cast<unsigned>(n));
    std::vector<double> x(static_cast<size_t>(n));
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = c[i].real();
      c[i] = {c[i].real(), 0.0};
    }
    RealFft fft(n);
    ASSERT_EQ(fft.bins(), n / 2 + 1);
    std::vector<std::complex<double>> got(static_cast<size_t>(fft.bins())), work(fft.work_size());
    fft.forward(x.data(), got.data(), work.data());
    auto want = dft(c);
    long double worst = 0, scale = 1e-30L;
    for (int k = 0; k < fft.bins(); ++k) {
      const size_t i = static_cast<size_t>(k);
      worst = std::max(worst, std::abs(std::complex<long double>(got[i].real(), got[i].imag()) - want[i]));
      scale = std::max(scale, std::abs(want[i]));
    }
    EXPECT_LT(static_cast<double>(worst / scale), 1e-14);
  }
}

// A cosine at bin 5 of 400 points: all its energy in bins 5 (n/2 each side, one side kept).
TEST(Fft, RealCosine) {
  RealFft fft(400);
  std::vector<double> x(400);
  for (int t = 0; t < 400; ++t) x[static_cast<size_t>(t)] = std::cos(2 * std::numbers::pi * 5 * t / 400);
  std::vector<std::complex<double>> out(201), work(fft.work_size());
  fft.forward(x.data(), out.data(), work.data());
  for (int k = 0; k < 201; ++k) EXPECT_NEAR(std::abs(out[static_cast<size_t>(k)]), k == 5 ? 200.0 : 0.0, 1e-11) << k;
}

TEST(Fft, RefusesBadSizes) {
  test::expect_error([] { ComplexFft(0); }, ErrorKind::InvalidArgument, {"FFT size 0"});
  test::expect_error([] { RealFft(-4); }, ErrorKind::InvalidArgument, {"FFT size -4"});
}

}  // namespace
}  // namespace ia::audio
