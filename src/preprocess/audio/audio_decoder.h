#pragma once
// Audio files decoded with libsndfile into mono float samples: WAV (PCM 8/16/24/32-bit, float,
// double, A-law, u-law, IMA/MS ADPCM), FLAC, OGG (Vorbis, Opus), MP3 (libsndfile 1.1+ with
// mpg123, as Debian 12 builds it), AIFF, AU and the other containers libsndfile reads. Samples are
// libsndfile's floats (integer PCM divided by 2^(bits-1), as soundfile and librosa read them), the
// channels averaged into one (librosa's to_mono, transformers' pipelines). The sample rate is the
// file's; audio_loader.h resamples to a model's.
//
// Input is untrusted (uploads reach decode_audio_bytes): a clip is refused, with one line naming
// the file, when it is empty, not audio, malformed or truncated in its header, in an encoding
// libsndfile cannot decode, without samples, at an absurd sample rate or channel count, longer
// than the limits, or holding a non-finite sample. Memory is bounded by the limits (the mono output
// is the only buffer that grows), whatever the header claims.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"

namespace ia::audio {

struct AudioClip {
  std::vector<float> samples;  // mono
  int sample_rate = 0;
  int channels = 0;    // of the file, before the down-mix
  std::string format;  // libsndfile's names, e.g. "WAV (Microsoft), Signed 16 bit PCM"

  double seconds() const { return sample_rate > 0 ? static_cast<double>(samples.size()) / sample_rate : 0.0; }
};

struct AudioLimits {
  double max_seconds = 3600.0;                  // longer audio is refused
  int64_t max_samples = int64_t{3600} * 48000;  // decoded frames, whatever the rate (~690 MB of floats)
  int min_sample_rate = 1000;
  int max_sample_rate = 768000;
  int max_channels = 64;
  // The kind of every refusal. Unset, each has its own: InvalidArgument (empty, not audio, no
  // samples, past a limit), Corrupt (malformed or truncated, non-finite samples), Unsupported (an
  // encoding or a container libsndfile does not decode), NotFound (no such path). The server sets
  // InvalidArgument: every bad upload is the client's 400.
  std::optional<ErrorKind> kind;
};

// Decodes the file at `path`; its path names it in errors.
AudioClip decode_audio_file(const std::string& path, const AudioLimits& limits = {});
// Decodes an in-memory file (an upload) through libsndfile's virtual I/O; `name` names it in errors.
AudioClip decode_audio_bytes(std::span<const uint8_t> bytes, const std::string& name, const AudioLimits& limits = {});

}  // namespace ia::audio
