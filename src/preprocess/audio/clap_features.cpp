#include "preprocess/audio/clap_features.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace ia::audio {

namespace {

LogMelSpectrogram make_spectrogram(const ClapFeatureConfig& c, MelNorm norm, MelScale scale) {
  return LogMelSpectrogram(
      static_cast<int>(c.fft_window_size), static_cast<int>(c.hop_length),
      mel_filter_bank(static_cast<int>(c.fft_window_size / 2 + 1), static_cast<int>(c.feature_size), c.frequency_min,
                      c.frequency_max, c.sampling_rate, norm, scale),
      LogMel::Decibel);
}

// torch.nn.functional.interpolate(x[None, None], size=[rows, cols], mode="bilinear",
// align_corners=False) of a [in_rows, cols] matrix, with cols unchanged (so the column weights
// are exactly 1 and 0): source row (r + 0.5) * in_rows / rows - 0.5, clamped at 0, in float as
// torch computes it for float32.
void resize_rows(const float* in, int64_t in_rows, int64_t cols, float* out, int64_t rows) {
  const float scale = static_cast<float>(in_rows) / static_cast<float>(rows);
  for (int64_t r = 0; r < rows; ++r) {
    float src = scale * (static_cast<float>(r) + 0.5f) - 0.5f;
    if (src < 0) src = 0;
    const int64_t r0 = static_cast<int64_t>(src);
    const int64_t r1 = r0 + (r0 < in_rows - 1 ? 1 : 0);
    const float l1 = src - static_cast<float>(r0), l0 = 1.0f - l1;
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = l0 * in[r0 * cols + c] + l1 * in[r1 * cols + c];
  }
}

}  // namespace

ClapFeatureConfig ClapFeatureConfig::from(const FeatureExtractorConfig& c) {
  c.expect_type("ClapFeatureExtractor");
  ClapFeatureConfig k;
  k.feature_size = c.int_in("feature_size", k.feature_size, 1, 1024);
  k.sampling_rate = c.int_in("sampling_rate", k.sampling_rate, 1000, 768000);
  k.hop_length = c.int_in("hop_length", k.hop_length, 1, 1 << 16);
  k.max_length_s = c.int_in("max_length_s", k.max_length_s, 1, 3600);
  k.fft_window_size = c.int_in("fft_window_size", k.fft_window_size, 2, 1 << 16);
  k.frequency_min = c.float_in("frequency_min", k.frequency_min, 0.0, 1e6);
  k.frequency_max = c.float_in("frequency_max", k.frequency_max, 0.0, 1e6);
  if (k.frequency_min > k.frequency_max)
    fail(ErrorKind::Corrupt, "{}: frequency_min {} > frequency_max {}", c.values.path(), k.frequency_min,
         k.frequency_max);
  const std::string truncation = c.values.get_string("truncation", "fusion");
  if (truncation == "rand_trunc") {
    k.truncation = ClapTruncation::RandTrunc;
  } else if (truncation == "fusion") {
    k.truncation = ClapTruncation::Fusion;
  } else {
    fail(ErrorKind::Unsupported, "{}: truncation '{}' is not one of rand_trunc, fusion", c.values.path(), truncation);
  }
  const std::string padding = c.values.get_string("padding", "repeatpad");
  if (padding == "repeatpad") {
    k.padding = ClapPadding::RepeatPad;
  } else if (padding == "repeat") {
    k.padding = ClapPadding::Repeat;
  } else if (padding == "pad") {
    k.padding = ClapPadding::Pad;
  } else {
    fail(ErrorKind::Unsupported, "{}: padding '{}' is not one of repeatpad, repeat, pad", c.values.path(), padding);
  }
  if (k.nb_max_samples() > (int64_t{1} << 31))
    fail(ErrorKind::Corrupt, "{}: max_length_s {} at {} Hz is too long a window", c.values.path(), k.max_length_s,
         k.sampling_rate);
  return k;
}

ClapFeatureConfig ClapFeatureConfig::load(const std::string& model_dir) {
  return from(load_feature_extractor_config(model_dir));
}

ClapFeatureExtractor::ClapFeatureExtractor(const ClapFeatureConfig& config)
    : config_(config),
      slaney_(make_spectrogram(config, MelNorm::Slaney, MelScale::Slaney)),
      htk_(make_spectrogram(config, MelNorm::None, MelScale::Htk)) {}

Tensor ClapFeatureExtractor::mel(const LogMelSpectrogram& spec, std::span<const float> waveform) const {
  const int64_t frames = spec.num_frames(static_cast<int64_t>(waveform.size()));
  Tensor out = Tensor::empty({frames, config_.feature_size}, DType::F32);
  spec.compute(waveform, frames, out.data<float>(), 1, config_.feature_size);
  return out;
}

ClapFeatures ClapFeatureExtractor::compute(std::span<const float> samples) const {
  if (samples.empty()) fail(ErrorKind::InvalidArgument, "CLAP features: the audio has no samples");
  const int64_t n = static_cast<int64_t>(samples.size());
  const int64_t max_length = config_.nb_max_samples();
  const bool fusion = config_.truncation == ClapTruncation::Fusion;
  const int64_t mels = config_.feature_size;
  ClapFeatures result;

  auto stack = [&](const std::vector<const float*>& parts, int64_t frames) {
    Tensor t = Tensor::empty({static_cast<int64_t>(parts.size()), frames, mels}, DType::F32);
    const size_t bytes = static_cast<size_t>(frames * mels) * sizeof(float);
    for (size_t i = 0; i < parts.size(); ++i)
      std::memcpy(t.data<float>() + i * static_cast<size_t>(frames * mels), parts[i], bytes);
    return t;
  };

  if (n > max_length) {
    result.is_longer = true;
    if (!fusion) {
      // Deterministic: the first nb_max_samples (transformers: a random offset).
      Tensor m = mel(slaney_, samples.first(static_cast<size_t>(max_length)));
      result.input_features = m.view({1, m.size(0), mels});
    } else {
      Tensor m = mel(htk_, samples);
      const int64_t total = m.size(0);
      const int64_t chunk = max_length / config_.hop_length + 1;
      const float* p = m.data<float>();
      if (chunk == total) {
        result.input_features = stack({p, p, p, p}, total);
      } else {
        // np.array_split(range(total - chunk + 1), 3): the first (count % 3) parts one longer.
        const int64_t count = total - chunk + 1;
        int64_t size[3], begin[3];
        for (int i = 0; i < 3; ++i) size[i] = count / 3 + (i < count % 3 ? 1 : 0);
        begin[0] = 0;
        begin[1] = size[0];
        begin[2] = size[0] + size[1];
        const int64_t front = begin[0];
        const int64_t middle = size[1] > 0 ? begin[1] + size[1] / 2 : 0;
        const int64_t back = size[2] > 0 ? begin[2] + size[2] - 1 : 0;
        std::vector<float> shrunk(static_cast<size_t>(chunk * mels));
        resize_rows(p, total, mels, shrunk.data(), chunk);
        result.input_features = stack({shrunk.data(), p + front * mels, p + middle * mels, p + back * mels}, chunk);
      }
    }
  } else {
    std::vector<float> waveform(static_cast<size_t>(max_length), 0.0f);
    int64_t filled = n;
    if (n < max_length && config_.padding != ClapPadding::Pad) {
      const int64_t repeats = max_length / n + (config_.padding == ClapPadding::Repeat ? 1 : 0);
      filled = std::min(repeats * n, max_length);
    }
    for (int64_t i = 0; i < filled; ++i) waveform[static_cast<size_t>(i)] = samples[static_cast<size_t>(i % n)];
    if (!fusion) {
      Tensor m = mel(slaney_, waveform);
      result.input_features = m.view({1, m.size(0), mels});
    } else {
      Tensor m = mel(htk_, waveform);
      const float* p = m.data<float>();
      result.input_features = stack({p, p, p, p}, m.size(0));
    }
  }
  if (fusion) result.is_longer = true;  // transformers marks one clip of a batch with none longer
  return result;
}

}  // namespace ia::audio
