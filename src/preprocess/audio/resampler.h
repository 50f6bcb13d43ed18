#pragma once
// Sample-rate conversion with libsamplerate's band-limited sinc converters.
//
// SRC_SINC_BEST_QUALITY (the default) keeps 97% of the band with ~145 dB of rejection, past what
// float samples resolve. The band matters: Whisper's top mel filters reach 8 kHz, the edge of a
// 16-kHz signal, and Medium (90% of the band) moves their log-mel by up to ~0.8 on noise-like audio
// where Best moves it by ~0.3 (a 16 -> 44.1 -> 16 kHz round trip of the Whisper fixture), the
// other 70 filters by ~0.02 either way. transformers' own loaders resample with ffmpeg (a 97% cutoff)
// or soxr, which no converter reproduces sample for sample. Best is also the slowest, ~1 s of one
// core for 30 s of 44.1 kHz audio: a long clip is converted in pieces on the thread pool, with the
// same samples as one call (resampler.cpp says how).
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
