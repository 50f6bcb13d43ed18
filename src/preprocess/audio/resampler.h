#pragma once
// Sample-rate conversion with libsamplerate's band-limited sinc converters.
//
// SRC_SINC_BEST_QUALITY (the default) keeps 97% of the band with ~145 dB of rejection, past what
// float samples resolve, so the result depends on the audio and not on the converter; transformers'
// own loaders resample with soxr "HQ" or ffmpeg, which no converter reproduces sample for sample
// anyway. It is also the slowest (a few million output samples a second): Medium (~97 dB) is
// several times faster for callers that need it.
#include <span>
#include <vector>

#include "preprocess/audio/audio_decoder.h"

namespace ia::audio {

enum class ResampleQuality { Best, Medium, Fastest };

// Mono `samples` at from_rate converted to to_rate: ceil(n * to_rate / from_rate) samples, aligned
// with the input (sample k at time k / to_rate). A copy when the rates are equal. InvalidArgument
// for rates below 1 or a ratio libsamplerate refuses (beyond 256 either way).
std::vector<float> resample(std::span<const float> samples, int from_rate, int to_rate,
                            ResampleQuality quality = ResampleQuality::Best);

// The clip at to_rate (untouched when already there).
AudioClip resample(AudioClip clip, int to_rate, ResampleQuality quality = ResampleQuality::Best);

}  // namespace ia::audio
