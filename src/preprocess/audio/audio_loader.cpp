#include "preprocess/audio/audio_loader.h"

namespace ia::audio {

AudioClip load_audio_file(const std::string& path, int sample_rate, const AudioLimits& limits) {
  return resample(decode_audio_file(path, limits), sample_rate);
}

AudioClip load_audio_bytes(std::span<const uint8_t> bytes, const std::string& name, int sample_rate,
                           const AudioLimits& limits) {
  return resample(decode_audio_bytes(bytes, name, limits), sample_rate);
}

}  // namespace ia::audio
