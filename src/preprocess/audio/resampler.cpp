#include "preprocess/audio/resampler.h"

#include <samplerate.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "core/error.h"
#include "core/thread_pool.h"

namespace ia::audio {

namespace {

// Pieces of at least this many input samples are converted in parallel.
constexpr int64_t kMinPieceSamples = int64_t{1} << 16;

int converter_of(ResampleQuality quality) {
  switch (quality) {
    case ResampleQuality::Best: return SRC_SINC_BEST_QUALITY;
    case ResampleQuality::Medium: return SRC_SINC_MEDIUM_QUALITY;
    case ResampleQuality::Fastest: return SRC_SINC_FASTEST;
  }
  return SRC_SINC_BEST_QUALITY;
}

// One src_simple call over `in`: out receives up to out_size samples; returns how many it wrote.
int64_t convert(std::span<const float> in, double ratio, int converter, float* out, int64_t out_size, int from_rate,
                int to_rate) {
  SRC_DATA data{};
  data.data_in = in.data();
  data.input_frames = static_cast<long>(in.size());
  data.data_out = out;
  data.output_frames = static_cast<long>(out_size);
  data.src_ratio = ratio;
  if (int err = src_simple(&data, converter, 1); err != 0)
    fail(ErrorKind::Internal, "resample {} Hz to {} Hz: libsamplerate: {}", from_rate, to_rate, src_strerror(err));
  return data.output_frames_gen;
}

}  // namespace

// Long clips are cut into pieces converted at once on the thread pool (SRC_SINC_BEST_QUALITY is
// ~1 s of one core for 30 s of 44.1 kHz audio). Each piece starts at a multiple of from / gcd
// input samples, where an output sample falls exactly on an input sample, so its output samples
// sit at the same phases as the whole clip's; it is converted with `margin` samples of the clip on
// either side, more than the filter reaches, and only the output between its own bounds is kept:
// the same values as one call over the whole clip (to the rounding of libsamplerate's position
// counter, ~1e-9).
std::vector<float> resample(std::span<const float> samples, int from_rate, int to_rate, ResampleQuality quality) {
  if (from_rate < 1 || to_rate < 1)
    fail(ErrorKind::InvalidArgument, "resample: sample rates must be positive ({} -> {})", from_rate, to_rate);
  if (from_rate == to_rate || samples.empty()) return {samples.begin(), samples.end()};
  const double ratio = static_cast<double>(to_rate) / from_rate;
  if (!src_is_valid_ratio(ratio))
    fail(ErrorKind::InvalidArgument, "resample: {} Hz to {} Hz is a ratio libsamplerate cannot convert", from_rate,
         to_rate);
  const int converter = converter_of(quality);
  const int64_t n = static_cast<int64_t>(samples.size());
  const int64_t want = (n * to_rate + from_rate - 1) / from_rate;  // ceil(n * to / from)
  std::vector<float> out(static_cast<size_t>(want));

  const int64_t g = std::gcd(from_rate, to_rate);
  const int64_t in_period = from_rate / g, out_period = to_rate / g;
  // BEST's filter reaches ~143 input samples at ratio >= 1, 143 / ratio below: 160 / min(ratio, 1)
  // with room, in whole periods.
  const int64_t reach = static_cast<int64_t>(std::ceil(160.0 / std::min(ratio, 1.0))) + 16;
  const int64_t margin = (reach + in_period - 1) / in_period * in_period;
  const int64_t piece = std::max(kMinPieceSamples, margin * 4) / in_period * in_period + in_period;
  const int64_t pieces = (n + piece - 1) / piece;

  // Each piece is converted with its margin of the clip on either side; the last one with `margin`
  // zeros after the clip's end (what libsamplerate assumes there), so that it yields every output
  // sample up to ceil(n * ratio) instead of stopping a sample or two short.
  auto convert_piece = [&](int64_t p) {
    const int64_t begin = p * piece, end = std::min(n, begin + piece);
    const int64_t lo = std::max<int64_t>(0, begin - margin), hi = std::min(n, end + margin);
    std::vector<float> padded;
    std::span<const float> in = samples.subspan(static_cast<size_t>(lo), static_cast<size_t>(hi - lo));
    if (hi == n) {
      padded.assign(in.begin(), in.end());
      padded.resize(padded.size() + static_cast<size_t>(margin), 0.0f);
      in = padded;
    }
    // Output sample k of this call is at input time lo + k / ratio: global sample lo / in_period *
    // out_period + k. Keep the global samples of [begin, end) (the last piece: up to want).
    const int64_t first_global = lo / in_period * out_period;
    const int64_t keep_from = begin / in_period * out_period;
    const int64_t keep_to = end == n ? want : end / in_period * out_period;
    std::vector<float> buf(
        static_cast<size_t>((static_cast<int64_t>(in.size()) * to_rate + from_rate - 1) / from_rate + 16));
    const int64_t got = convert(in, ratio, converter, buf.data(), static_cast<int64_t>(buf.size()), from_rate, to_rate);
    for (int64_t k = keep_from; k < keep_to; ++k) {
      const int64_t local = k - first_global;
      out[static_cast<size_t>(k)] = local < got ? buf[static_cast<size_t>(local)] : 0.0f;
    }
  };
  // The pieces depend on the clip alone, not on the threads: the same samples on any machine.
  if (pieces == 1) {
    convert_piece(0);
  } else {
    parallel_tasks(pieces, convert_piece);
  }
  return out;
}

AudioClip resample(AudioClip clip, int to_rate, ResampleQuality quality) {
  if (clip.sample_rate == to_rate) return clip;
  clip.samples = resample(clip.samples, clip.sample_rate, to_rate, quality);
  clip.sample_rate = to_rate;
  return clip;
}

}  // namespace ia::audio
