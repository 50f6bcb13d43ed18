#include "preprocess/audio/resampler.h"

#include <samplerate.h>

#include <utility>

#include "core/error.h"

namespace ia::audio {

std::vector<float> resample(std::span<const float> samples, int from_rate, int to_rate, ResampleQuality quality) {
  if (from_rate < 1 || to_rate < 1)
    fail(ErrorKind::InvalidArgument, "resample: sample rates must be positive ({} -> {})", from_rate, to_rate);
  if (from_rate == to_rate || samples.empty()) return {samples.begin(), samples.end()};
  const double ratio = static_cast<double>(to_rate) / from_rate;
  if (!src_is_valid_ratio(ratio))
    fail(ErrorKind::InvalidArgument, "resample: {} Hz to {} Hz is a ratio libsamplerate cannot convert", from_rate,
         to_rate);
  const int64_t n = static_cast<int64_t>(samples.size());
  const int64_t want = (n * to_rate + from_rate - 1) / from_rate;  // ceil(n * to / from)
  std::vector<float> out(static_cast<size_t>(want) + 16);
  SRC_DATA data{};
  data.data_in = samples.data();
  data.input_frames = static_cast<long>(n);
  data.data_out = out.data();
  data.output_frames = static_cast<long>(out.size());
  data.src_ratio = ratio;
  const int converter = quality == ResampleQuality::Best     ? SRC_SINC_BEST_QUALITY
                        : quality == ResampleQuality::Medium ? SRC_SINC_MEDIUM_QUALITY
                                                             : SRC_SINC_FASTEST;
  if (int err = src_simple(&data, converter, 1); err != 0)
    fail(ErrorKind::Internal, "resample {} Hz to {} Hz: libsamplerate: {}", from_rate, to_rate, src_strerror(err));
  out.resize(static_cast<size_t>(data.output_frames_gen));
  out.resize(static_cast<size_t>(want), 0.0f);  // a converter a sample short ends in silence
  return out;
}

AudioClip resample(AudioClip clip, int to_rate, ResampleQuality quality) {
  if (clip.sample_rate == to_rate) return clip;
  clip.samples = resample(clip.samples, clip.sample_rate, to_rate, quality);
  clip.sample_rate = to_rate;
  return clip;
}

}  // namespace ia::audio
