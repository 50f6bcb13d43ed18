// libFuzzer target for the in-memory audio decoder (what an upload reaches): libsndfile through
// virtual I/O, the down-mix and the limits. Any input must either decode into finite mono samples
// within the limits, at a sample rate within them, or throw ia::Error; any other exception, a
// crash, a hang or a sanitizer report is a bug. A decoded clip is also resampled to 16 kHz, the
// path every upload takes to a speech model.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/error.h"
#include "preprocess/audio/audio_decoder.h"
#include "preprocess/audio/resampler.h"

namespace {

volatile double g_sink = 0;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ia::audio::AudioLimits limits;
  limits.max_seconds = 30.0;
  limits.max_samples = 1 << 20;  // bounds memory and time per input
  try {
    ia::audio::AudioClip clip =
        ia::audio::decode_audio_bytes(std::span<const uint8_t>(data, size), "fuzz-input", limits);
    if (clip.samples.empty() || static_cast<int64_t>(clip.samples.size()) > limits.max_samples) __builtin_trap();
    if (clip.sample_rate < limits.min_sample_rate || clip.sample_rate > limits.max_sample_rate) __builtin_trap();
    if (clip.channels < 1 || clip.channels > limits.max_channels) __builtin_trap();
    double acc = 0;
    for (float v : clip.samples) {
      if (!std::isfinite(v)) __builtin_trap();
      acc += v;
    }
    // Short clips only: resampling is linear in the samples and slow under the sanitizers.
    if (clip.samples.size() <= 16384) {
      for (float v : ia::audio::resample(clip.samples, clip.sample_rate, 16000)) acc += v;
    }
    g_sink = g_sink + acc;
  } catch (const ia::Error&) {
    // Expected for malformed input.
  }
  return 0;
}
