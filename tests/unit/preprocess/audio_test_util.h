#pragma once
// Helpers for the audio front-end tests: the fixture folders, their reference tensors, files
// written with libsndfile at run time, and comparisons.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <numbers>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "formats/json_messages.h"
#include "formats/safetensors.h"
#include "unit/formats/formats_test_util.h"

namespace ia::test {

inline std::string fixture_dir(const std::string& name) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + name;
}

inline Tensor reference_tensor(const std::string& model, const std::string& name) {
  return SafetensorsFile::open(fixture_dir(model) + "/reference.safetensors")->tensor(name).contiguous();
}

inline nlohmann::json reference_json(const std::string& model) {
  return read_json_file(fixture_dir(model) + "/reference.json");
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Writes interleaved float samples (channels per frame) with libsndfile; `format` is SF_FORMAT_*.
// Integer PCM is written as sample * 2^(bits - 1), the scale libsndfile reads it back with (its
// own float writer scales by 2^(bits - 1) - 1), so samples that are multiples of 2^-15 survive a
// 16-bit or wider file exactly.
inline void write_audio(const std::string& path, const std::vector<float>& interleaved, int channels, int rate,
                        int format) {
  SF_INFO info{};
  info.channels = channels;
  info.samplerate = rate;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr) << path << ": " << sf_strerror(nullptr);
  double scale = 0;
  switch (format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_16: scale = 32768.0; break;
    case SF_FORMAT_PCM_24: scale = 8388608.0; break;
    case SF_FORMAT_PCM_32: scale = 2147483648.0; break;
    default: break;
  }
  std::vector<float> data = interleaved;
  if (scale != 0) {
    sf_command(f, SFC_SET_NORM_FLOAT, nullptr, SF_FALSE);
    for (float& v : data) v = static_cast<float>(v * scale);
  }
  if (!data.empty()) {
    const sf_count_t frames = static_cast<sf_count_t>(data.size()) / channels;
    ASSERT_EQ(sf_writef_float(f, data.data(), frames), frames) << sf_strerror(f);
  }
  sf_close(f);
}

// sum_k amp_k sin(2 pi f_k t / rate + phase_k): a band-limited test signal known at any rate.
inline std::vector<float> tones(int64_t n, int rate) {
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / rate;
    out[static_cast<size_t>(i)] = static_cast<float>(0.3 * std::sin(2 * std::numbers::pi * 220 * t) +
                                                     0.2 * std::sin(2 * std::numbers::pi * 660 * t + 1.0) +
                                                     0.1 * std::sin(2 * std::numbers::pi * 3000 * t + 2.0));
  }
  return out;
}

inline double max_abs_diff(const float* a, const float* b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(shape_str(a.shape()), shape_str(b.shape()));
  if (a.numel() != b.numel()) return INFINITY;
  Tensor ca = a.contiguous(), cb = b.contiguous();
  return max_abs_diff(ca.data<float>(), cb.data<float>(), a.numel());
}

inline double rms(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return v.empty() ? 0.0 : std::sqrt(s / static_cast<double>(v.size()));
}

}  // namespace ia::test
