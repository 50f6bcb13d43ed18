#include "preprocess/audio/real_fft.h"

#include <cmath>
#include <numbers>

#include "core/error.h"

namespace ia::audio {

using cd = std::complex<double>;

namespace {

constexpr int kMaxFftSize = 1 << 24;

// e^{-2 pi i k / n}, the angle reduced in long double so every twiddle is correctly rounded or nearly.
cd unit_root(int64_t k, int64_t n) {
  long double a = -2.0L * std::numbers::pi_v<long double> * static_cast<long double>(k) / static_cast<long double>(n);
  return {static_cast<double>(std::cos(a)), static_cast<double>(std::sin(a))};
}

void check_size(int n) {
  if (n < 1 || n > kMaxFftSize) fail(ErrorKind::InvalidArgument, "FFT size {} outside [1, {}]", n, kMaxFftSize);
}

}  // namespace

ComplexFft::ComplexFft(int n) : n_(n) {
  check_size(n);
  // Radix 4 first (fewest multiplies), then 2, 3, 5 and any other prime.
  int rest = n;
  auto take = [&](int p) {
    while (rest % p == 0 && rest > 1) {
      rest /= p;
      stages_.push_back({p, rest});
    }
  };
  take(4);
  take(2);
  int p = 3;
  while (rest > 1) {
    if (static_cast<int64_t>(p) * p > rest) p = rest;  // what is left is prime
    take(p);
    p += 2;
  }
  if (stages_.empty()) stages_.push_back({1, 1});  // n == 1
  twiddles_.resize(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) twiddles_[static_cast<size_t>(k)] = unit_root(k, n);
}

void ComplexFft::forward(const cd* in, cd* out) const {
  transform(out, in, 1, 0);
}

// Decimation in time: stage s of radix p splits its p*m points (read from `in` every `stride`) into
// p interleaved sequences, transforms each into out[q*m, (q+1)*m), then combines them.
void ComplexFft::transform(cd* out, const cd* in, size_t stride, size_t stage) const {
  const Stage& s = stages_[stage];
  const size_t p = static_cast<size_t>(s.radix), m = static_cast<size_t>(s.remaining);
  if (m == 1) {
    for (size_t q = 0; q < p; ++q) out[q] = in[q * stride];
  } else {
    for (size_t q = 0; q < p; ++q) transform(out + q * m, in + q * stride, stride * p, stage + 1);
  }
  if (p > 1) butterfly(out, stride, s);
}

// out[k + r*m] = sum_q W_{pm}^{qk} out[k + q*m] W_p^{qr}; W_{pm}^j is twiddles_[j * stride]
// (n = stride * p * m).
void ComplexFft::butterfly(cd* out, size_t stride, const Stage& s) const {
  const size_t p = static_cast<size_t>(s.radix), m = static_cast<size_t>(s.remaining);
  const cd* tw = twiddles_.data();
  switch (p) {
    case 2:
      for (size_t k = 0; k < m; ++k) {
        cd a0 = out[k], a1 = out[k + m] * tw[k * stride];
        out[k] = a0 + a1;
        out[k + m] = a0 - a1;
      }
      return;
    case 3: {
      const double h = std::sqrt(3.0) / 2;  // -Im W_3
      for (size_t k = 0; k < m; ++k) {
        cd a0 = out[k], a1 = out[k + m] * tw[k * stride], a2 = out[k + 2 * m] * tw[2 * k * stride];
        cd sum = a1 + a2, diff = a1 - a2;
        cd mid = a0 - 0.5 * sum;
        cd rot = {h * diff.imag(), -h * diff.real()};  // -i h (a1 - a2)
        out[k] = a0 + sum;
        out[k + m] = mid + rot;
        out[k + 2 * m] = mid - rot;
      }
      return;
    }
    case 4:
      for (size_t k = 0; k < m; ++k) {
        cd a0 = out[k], a1 = out[k + m] * tw[k * stride], a2 = out[k + 2 * m] * tw[2 * k * stride],
           a3 = out[k + 3 * m] * tw[3 * k * stride];
        cd s02 = a0 + a2, d02 = a0 - a2, s13 = a1 + a3, d13 = a1 - a3;
        cd rot = {d13.imag(), -d13.real()};  // -i (a1 - a3)
        out[k] = s02 + s13;
        out[k + m] = d02 + rot;
        out[k + 2 * m] = s02 - s13;
        out[k + 3 * m] = d02 - rot;
      }
      return;
    case 5: {
      const cd w1 = unit_root(1, 5), w2 = unit_root(2, 5);  // cos / -sin of 2 pi / 5 and 4 pi / 5
      const double c1 = w1.real(), c2 = w2.real(), s1 = -w1.imag(), s2 = -w2.imag();
      for (size_t k = 0; k < m; ++k) {
        cd a0 = out[k], a1 = out[k + m] * tw[k * stride], a2 = out[k + 2 * m] * tw[2 * k * stride],
           a3 = out[k + 3 * m] * tw[3 * k * stride], a4 = out[k + 4 * m] * tw[4 * k * stride];
        cd s14 = a1 + a4, d14 = a1 - a4, s23 = a2 + a3, d23 = a2 - a3;
        cd r1 = a0 + c1 * s14 + c2 * s23, r2 = a0 + c2 * s14 + c1 * s23;
        cd i1 = s1 * d14 + s2 * d23, i2 = s2 * d14 - s1 * d23;
        cd j1 = {i1.imag(), -i1.real()}, j2 = {i2.imag(), -i2.real()};  // -i times
        out[k] = a0 + s14 + s23;
        out[k + m] = r1 + j1;
        out[k + 4 * m] = r1 - j1;
        out[k + 2 * m] = r2 + j2;
        out[k + 3 * m] = r2 - j2;
      }
      return;
    }
    default: {
      // Any other prime: a direct sum, W_p^j = twiddles_[j * (n / p)].
      const size_t np = static_cast<size_t>(n_) / p;
      std::vector<cd> a(p);
      for (size_t k = 0; k < m; ++k) {
        for (size_t q = 0; q < p; ++q) a[q] = out[k + q * m] * tw[q * k * stride];
        for (size_t r = 0; r < p; ++r) {
          cd acc = a[0];
          for (size_t q = 1; q < p; ++q) acc += a[q] * tw[((q * r) % p) * np];
          out[k + r * m] = acc;
        }
      }
      return;
    }
  }
}

RealFft::RealFft(int n) : n_(n), fft_((check_size(n), n % 2 == 0 ? n / 2 : n)) {
  if (n % 2 == 0) {
    split_.resize(static_cast<size_t>(n / 2) + 1);
    for (int k = 0; k <= n / 2; ++k) split_[static_cast<size_t>(k)] = unit_root(k, n);
  }
}

void RealFft::forward(const double* in, cd* out, cd* work) const {
  if (n_ % 2 != 0) {
    // out has only bins() slots: transform into the second half of work, then copy the first bins.
    cd* z = work;
    cd* full = work + n_;
    for (int t = 0; t < n_; ++t) z[t] = {in[t], 0.0};
    fft_.forward(z, full);
    for (int k = 0; k < bins(); ++k) out[k] = full[k];
    return;
  }
  const int h = n_ / 2;
  cd* z = work;
  for (int t = 0; t < h; ++t) z[t] = {in[2 * t], in[2 * t + 1]};
  // Z = FFT_h(z) into out[0, h) (out has h + 1 slots), then split it: with Zc = conj(Z[(h - k) % h]),
  // X[k] = (Z[k] + Zc) / 2 - i W_n^k (Z[k] - Zc) / 2.
  fft_.forward(z, out);
  out[h] = out[0];  // Z[h] = Z[0], periodic
  for (int k = 0; k <= h / 2; ++k) {
    const int j = h - k;
    cd zk = out[k], zj = out[j];            // out[h] holds Z[0] for k == 0
    auto half = [&](cd a, cd b, int idx) {  // X[idx] from Z[idx] = a and Z[h - idx] = b
      cd bc = std::conj(b);
      cd even = 0.5 * (a + bc), odd = 0.5 * (a - bc);
      cd w = split_[static_cast<size_t>(idx)] * odd;
      return even + cd{w.imag(), -w.real()};  // even - i w
    };
    cd xk = half(zk, zj, k);
    cd xj = half(zj, zk, j);
    out[k] = xk;
    out[j] = xj;
  }
}

}  // namespace ia::audio
