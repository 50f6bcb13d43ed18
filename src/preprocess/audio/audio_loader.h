#pragma once
// What a model's processor takes from a file: decoded (audio_decoder.h), mixed down to mono and
// resampled to the feature extractor's rate (resampler.h) when the file's differs.
//
//   auto fe = WhisperFeatureExtractor::load(dir);
//   AudioClip clip = load_audio_file(path, fe.sampling_rate());
#include <cstdint>
#include <span>
#include <string>

#include "preprocess/audio/audio_decoder.h"
#include "preprocess/audio/resampler.h"

namespace ia::audio {

AudioClip load_audio_file(const std::string& path, int sample_rate, const AudioLimits& limits = {});
AudioClip load_audio_bytes(std::span<const uint8_t> bytes, const std::string& name, int sample_rate,
                           const AudioLimits& limits = {});

}  // namespace ia::audio
