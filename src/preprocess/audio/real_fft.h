#pragma once
// Discrete Fourier transforms for the spectrograms (Whisper: n_fft 400 = 2^4 * 5^2; CLAP: 1024),
// in double precision like numpy.fft (which transformers' audio_utils.spectrogram calls).
//
// Why an FFT rather than a precomputed DFT matrix: Whisper's 30-s window is 3001 frames of 400
// samples. A DFT matrix costs 201 x 400 complex multiply-adds a frame (~0.5 G for 30 s); this
// mixed-radix FFT (radix 4, 2, 3, 5 butterflies, any other prime by a direct sum) over the n/2
// complex points of the packed real frame costs ~5 k flops a frame, about 100 times less, and its
// rounding error grows with log n instead of n, so it stays within ~1e-15 of numpy's pocketfft.
#include <complex>
#include <cstddef>
#include <utility>
#include <vector>

namespace ia::audio {

// Complex DFT of a fixed length n: out[k] = sum_t in[t] e^{-2 pi i k t / n}, unscaled.
class ComplexFft {
 public:
  explicit ComplexFft(int n);  // 1 <= n <= 2^24, InvalidArgument otherwise
  int size() const { return n_; }
  // `in` and `out` hold size() values each and must not overlap.
  void forward(const std::complex<double>* in, std::complex<double>* out) const;

 private:
  struct Stage {
    int radix;
    int remaining;  // the length of each sub-transform this stage combines
  };
  void transform(std::complex<double>* out, const std::complex<double>* in, size_t stride, size_t stage) const;
  void butterfly(std::complex<double>* out, size_t stride, const Stage& s) const;

  int n_;
  std::vector<Stage> stages_;
  std::vector<std::complex<double>> twiddles_;  // e^{-2 pi i k / n}, k in [0, n)
};

// DFT of n real samples, the n/2 + 1 non-negative frequencies (numpy.fft.rfft). An even n runs as a
// complex transform of n/2 points (even samples as real parts, odd as imaginary) and a split step.
class RealFft {
 public:
  explicit RealFft(int n);  // 1 <= n <= 2^24
  int size() const { return n_; }
  int bins() const { return n_ / 2 + 1; }
  // Scratch forward() needs, in complex values.
  size_t work_size() const { return n_ % 2 == 0 ? static_cast<size_t>(n_) / 2 : 2 * static_cast<size_t>(n_); }
  // in: size() samples; out: bins() values; work: work_size() values (not shared between threads).
  void forward(const double* in, std::complex<double>* out, std::complex<double>* work) const;

 private:
  int n_;
  ComplexFft fft_;                           // n/2 points (n even) or n points (n odd)
  std::vector<std::complex<double>> split_;  // e^{-2 pi i k / n}, k in [0, n/2] (n even)
};

}  // namespace ia::audio
