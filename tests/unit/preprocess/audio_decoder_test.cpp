#include "preprocess/audio/audio_decoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "preprocess/audio/audio_loader.h"
#include "unit/preprocess/audio_test_util.h"

namespace ia::audio {
namespace {

using test::expect_error;
using test::fixture_dir;
using test::read_bytes;
using test::TempDir;
using test::write_audio;
using test::write_bytes;

const std::string kWhisperWav = fixture_dir("whisper") + "/audio.wav";

// The fixture's samples as the generator wrote them: 16-bit PCM, read back as int / 32768.
std::vector<float> fixture_samples() {
  AudioClip c = decode_audio_file(kWhisperWav);
  return c.samples;
}

TEST(AudioDecoder, Pcm16FixtureAsGenerated) {
  AudioClip c = decode_audio_file(kWhisperWav);
  EXPECT_EQ(c.sample_rate, 16000);
  EXPECT_EQ(c.channels, 1);
  ASSERT_EQ(c.samples.size(), 40000u);
  EXPECT_EQ(c.format, "WAV (Microsoft), Signed 16 bit PCM");
  EXPECT_NEAR(c.seconds(), 2.5, 1e-12);
  // Sample 0 of the raw file: int16 little-endian after the 44-byte header, divided by 32768.
  std::vector<uint8_t> raw = read_bytes(kWhisperWav);
  for (size_t i : {size_t{0}, size_t{1}, size_t{12345}, size_t{39999}}) {
    const int16_t v = static_cast<int16_t>(raw[44 + 2 * i] | raw[45 + 2 * i] << 8);
    EXPECT_EQ(c.samples[i], static_cast<float>(v) / 32768.0f) << i;
  }
  // From memory (an upload): the same samples.
  AudioClip m = decode_audio_bytes(raw, "upload.wav");
  EXPECT_EQ(m.samples, c.samples);
  EXPECT_EQ(m.sample_rate, 16000);
}

// The fixture's samples re-encoded losslessly: every encoding decodes to the same floats.
TEST(AudioDecoder, LosslessEncodingsGiveTheSameSamples) {
  const std::vector<float> x = fixture_samples();
  TempDir dir;
  struct Case {
    const char* file;
    int format;
  } cases[] = {
      {"pcm24.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24},   {"pcm32.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_32},
      {"float.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT},    {"double.wav", SF_FORMAT_WAV | SF_FORMAT_DOUBLE},
      {"pcm16.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16}, {"pcm24.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_24},
      {"pcm16.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    write_audio(dir.file(c.file), x, 1, 16000, c.format);
    AudioClip got = decode_audio_file(dir.file(c.file));
    EXPECT_EQ(got.sample_rate, 16000);
    EXPECT_EQ(got.samples, x);
    EXPECT_EQ(decode_audio_bytes(read_bytes(dir.file(c.file)), c.file).samples, x);
  }
}

// Stereo and 4 channels: the mean of the channels (librosa's to_mono).
TEST(AudioDecoder, DownMixIsTheChannelMean) {
  const std::vector<float> x = fixture_samples();
  TempDir dir;
  std::vector<float> stereo(x.size() * 2);
  for (size_t i = 0; i < x.size(); ++i) {
    const float d = (i % 7 == 0 ? 0.25f : -0.125f);  // L = x + d, R = x - d: exact in 16 bits
    stereo[2 * i] = x[i] + d;
    stereo[2 * i + 1] = x[i] - d;
  }
  write_audio(dir.file("stereo.wav"), stereo, 2, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  AudioClip s = decode_audio_file(dir.file("stereo.wav"));
  EXPECT_EQ(s.channels, 2);
  EXPECT_EQ(s.samples, x);

  std::vector<float> quad(x.size() * 4);
  for (size_t i = 0; i < x.size(); ++i) {
    quad[4 * i] = 0.5f;
    quad[4 * i + 1] = -0.25f;
    quad[4 * i + 2] = x[i];
    quad[4 * i + 3] = 0.0f;
  }
  write_audio(dir.file("quad.flac"), quad, 4, 16000, SF_FORMAT_FLAC | SF_FORMAT_PCM_24);
  AudioClip q = decode_audio_file(dir.file("quad.flac"));
  EXPECT_EQ(q.channels, 4);
  ASSERT_EQ(q.samples.size(), x.size());
  for (size_t i = 0; i < x.size(); i += 997) EXPECT_FLOAT_EQ(q.samples[i], static_cast<float>((0.25 + x[i]) / 4)) << i;
}

// Lossy codecs: the decoded signal within 10% RMS of the source (an SNR above 20 dB; a wrong decode,
// silence, noise or another rate, is far outside), and in time with it: the best of the lags within
// +-2500 samples is 0, libsndfile having removed the codec's delay (MP3's from its LAME header,
// Opus's pre-skip), as timestamps need.
void expect_close_after_lossy(const std::vector<float>& want, const std::vector<float>& got, const char* what) {
  ASSERT_GT(got.size(), want.size() / 2) << what;
  double best = INFINITY;
  int best_lag = 0;
  for (int lag = -2500; lag <= 2500; ++lag) {
    double err = 0, ref = 0;
    for (size_t i = 3000; i + 3000 < want.size(); ++i) {
      const int64_t j = static_cast<int64_t>(i) + lag;
      const double g = j >= 0 && j < static_cast<int64_t>(got.size()) ? got[static_cast<size_t>(j)] : 0.0;
      err += (g - want[i]) * (g - want[i]);
      ref += static_cast<double>(want[i]) * want[i];
    }
    if (err / ref < best) {
      best = err / ref;
      best_lag = lag;
    }
  }
  std::printf("  %s: relative RMS error %.3g at a lag of %d samples\n", what, std::sqrt(best), best_lag);
  EXPECT_LT(std::sqrt(best), 0.1) << what;
  EXPECT_EQ(best_lag, 0) << what;
}

TEST(AudioDecoder, OggVorbisOpusAndMp3) {
  // Tones under a slow swell, so no lag but the codec's own lines the signal up (the tones alone
  // repeat every 800 samples).
  std::vector<float> x = test::tones(48000, 16000);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] *= static_cast<float>(0.6 + 0.4 * std::sin(2 * M_PI * 0.7 * static_cast<double>(i) / 16000));
  TempDir dir;
  struct Case {
    const char* file;
    int format;
  } cases[] = {
      {"tones.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS},
      {"tones.opus", SF_FORMAT_OGG | SF_FORMAT_OPUS},
      {"tones.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    write_audio(dir.file(c.file), x, 1, 16000, c.format);
    AudioClip got = decode_audio_bytes(read_bytes(dir.file(c.file)), c.file);
    EXPECT_EQ(got.sample_rate, 16000);
    expect_close_after_lossy(x, got.samples, c.file);
  }
}

// The fixture at 44.1 kHz, stereo, 24-bit FLAC, loaded for a 16 kHz model: back to the fixture's
// samples. The round trip through two band-limited resamplings loses the band above ~7.7 kHz of
// the fixture's white noise (its 0.05 RMS noise has ~3% of its power there: ~0.009 RMS), so the
// bound is 0.02 RMS against a 0.26 RMS signal, and 0.15 for any one sample (five times that RMS).
TEST(AudioDecoder, OtherRateAndChannelsLoadAtTheModelRate) {
  const std::vector<float> x = fixture_samples();
  const std::vector<float> up = resample(x, 16000, 44100);
  ASSERT_EQ(up.size(), 110250u);
  std::vector<float> stereo(up.size() * 2);
  for (size_t i = 0; i < up.size(); ++i) stereo[2 * i] = stereo[2 * i + 1] = up[i];
  TempDir dir;
  write_audio(dir.file("fixture44k.flac"), stereo, 2, 44100, SF_FORMAT_FLAC | SF_FORMAT_PCM_24);
  AudioClip clip = load_audio_file(dir.file("fixture44k.flac"), 16000);
  EXPECT_EQ(clip.sample_rate, 16000);
  EXPECT_EQ(clip.channels, 2);
  ASSERT_EQ(clip.samples.size(), x.size());
  double err = 0, worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double d = static_cast<double>(clip.samples[i]) - x[i];
    err += d * d;
    worst = std::max(worst, std::fabs(d));
  }
  const double rms_err = std::sqrt(err / static_cast<double>(x.size()));
  std::printf("  44.1 kHz stereo FLAC -> 16 kHz: RMS error %.3g, max %.3g (signal RMS %.3g)\n", rms_err, worst,
              test::rms(x));
  EXPECT_LT(rms_err, 0.02);
  EXPECT_LT(worst, 0.15);
  // Loaded at its own rate nothing is resampled.
  EXPECT_EQ(load_audio_file(dir.file("fixture44k.flac"), 44100).samples.size(), up.size());
}

// --- bad input: each a clear one-line error of its kind, naming the file.

TEST(AudioDecoder, MissingEmptyAndNotAudio) {
  TempDir dir;
  expect_error([&] { decode_audio_file(dir.file("absent.wav")); }, ErrorKind::NotFound,
               {dir.file("absent.wav"), "no such file"});
  expect_error([&] { decode_audio_file(dir.path()); }, ErrorKind::InvalidArgument, {"is a directory"});
  write_bytes(dir.file("empty.wav"), "");
  expect_error([&] { decode_audio_file(dir.file("empty.wav")); }, ErrorKind::InvalidArgument,
               {dir.file("empty.wav"), "empty file"});
  expect_error([&] { decode_audio_bytes({}, "upload"); }, ErrorKind::InvalidArgument, {"upload: empty file"});
  write_bytes(dir.file("notes.txt"), "These are some notes, not a sound.\n");
  expect_error([&] { decode_audio_file(dir.file("notes.txt")); }, ErrorKind::InvalidArgument,
               {dir.file("notes.txt"), "not an audio file"});
  std::string png = "\x89PNG\r\n\x1a\n" + std::string(200, '\0');
  expect_error(
      [&] {
        decode_audio_bytes({reinterpret_cast<const uint8_t*>(png.data()), png.size()}, "image.png");
      },
      ErrorKind::InvalidArgument, {"image.png: not an audio file"});
  // A container libsndfile does not read is Unsupported, with what to do about it.
  std::string m4a = std::string(
                        "\0\0\0\x20"
                        "ftypM4A \0\0\0\0",
                        16) +
                    std::string(300, 'x');
  expect_error(
      [&] {
        decode_audio_bytes({reinterpret_cast<const uint8_t*>(m4a.data()), m4a.size()}, "voice.m4a");
      },
      ErrorKind::Unsupported, {"voice.m4a", "MP4 / M4A", "convert it"});
}

TEST(AudioDecoder, TruncatedFiles) {
  const std::vector<uint8_t> wav = read_bytes(kWhisperWav);
  TempDir dir;
  // The header cut inside the fmt chunk, and before the data chunk.
  for (size_t n : {size_t{20}, size_t{40}}) {
    std::string cut(wav.begin(), wav.begin() + static_cast<std::ptrdiff_t>(n));
    write_bytes(dir.file("cut.wav"), cut);
    expect_error([&] { decode_audio_file(dir.file("cut.wav")); }, ErrorKind::Corrupt,
                 {dir.file("cut.wav"), "malformed or truncated"});
  }
  // The data cut short: the header promises 80000 bytes.
  std::string half(wav.begin(), wav.begin() + 44 + 40000);
  write_bytes(dir.file("half.wav"), half);
  expect_error([&] { decode_audio_file(dir.file("half.wav")); }, ErrorKind::Corrupt,
               {"half.wav: truncated", "80000 bytes", "holds 40000"});
  expect_error(
      [&] {
        decode_audio_bytes({reinterpret_cast<const uint8_t*>(half.data()), half.size()}, "half.wav");
      },
      ErrorKind::Corrupt, {"half.wav: truncated"});
  // A streaming writer's placeholder size (0xFFFFFFFF): read to the end, not truncated.
  std::string stream(wav.begin(), wav.end());
  std::memset(stream.data() + 40, 0xff, 4);
  std::memset(stream.data() + 4, 0xff, 4);
  EXPECT_EQ(
      decode_audio_bytes({reinterpret_cast<const uint8_t*>(stream.data()), stream.size()}, "stream.wav").samples.size(),
      40000u);
  // A FLAC stream of unknown length (STREAMINFO's 36-bit total set to 0): read to its end.
  const std::vector<float> y = test::tones(4000, 16000);
  write_audio(dir.file("stream.flac"), y, 1, 16000, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  std::vector<uint8_t> flac = read_bytes(dir.file("stream.flac"));
  ASSERT_EQ(std::string(flac.begin(), flac.begin() + 4), "fLaC");
  flac[21] &= 0xf0;  // STREAMINFO starts at byte 8; the total is its bits 108..143
  std::fill(flac.begin() + 22, flac.begin() + 26, uint8_t{0});
  EXPECT_EQ(decode_audio_bytes(flac, "stream.flac").samples.size(), y.size());
  // A FLAC header promising far more than its frames hold.
  flac[25] = 0xff;
  flac[24] = 0xff;
  expect_error([&] { decode_audio_bytes(flac, "short.flac"); }, ErrorKind::Corrupt,
               {"short.flac: truncated", "4000 of the 65535 frames"});
  // FLAC and Ogg cut in half.
  const std::vector<float> x = test::tones(32000, 16000);
  for (const char* name : {"cut.flac", "cut.ogg"}) {
    write_audio(
        dir.file(name), x, 1, 16000,
        std::strcmp(name, "cut.flac") == 0 ? SF_FORMAT_FLAC | SF_FORMAT_PCM_16 : SF_FORMAT_OGG | SF_FORMAT_VORBIS);
    std::vector<uint8_t> b = read_bytes(dir.file(name));
    b.resize(b.size() / 2);
    expect_error([&] { decode_audio_bytes(b, name); }, ErrorKind::Corrupt, {name});
  }
}

TEST(AudioDecoder, NoSamples) {
  TempDir dir;
  // A WAV header whose data chunk says 0 bytes: libsndfile (and soundfile) read no samples.
  std::vector<uint8_t> wav = read_bytes(kWhisperWav);
  std::fill(wav.begin() + 40, wav.begin() + 44, uint8_t{0});
  expect_error([&] { decode_audio_bytes(wav, "zero.wav"); }, ErrorKind::InvalidArgument,
               {"zero.wav: no audio samples"});
  write_audio(dir.file("silence.wav"), {}, 1, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  expect_error([&] { decode_audio_file(dir.file("silence.wav")); }, ErrorKind::InvalidArgument,
               {"silence.wav: no audio samples"});
  write_audio(dir.file("silence.aiff"), {}, 2, 44100, SF_FORMAT_AIFF | SF_FORMAT_PCM_16);
  expect_error([&] { decode_audio_file(dir.file("silence.aiff")); }, ErrorKind::InvalidArgument, {"no audio samples"});
}

// A RIFF WAVE file of `bits`-bit samples with format tag `tag` (and an extension after the fmt fields).
std::string wav_header(uint16_t tag, uint16_t channels, uint32_t rate, uint16_t bits, const std::string& data,
                       const std::string& extension = "") {
  auto u16 = [](uint16_t v) { return std::string{static_cast<char>(v & 0xff), static_cast<char>(v >> 8)}; };
  auto u32 = [&](uint32_t v) { return u16(static_cast<uint16_t>(v & 0xffff)) + u16(static_cast<uint16_t>(v >> 16)); };
  const uint16_t block = static_cast<uint16_t>(channels * ((bits + 7) / 8));
  std::string fmt = u16(tag) + u16(channels) + u32(rate) + u32(rate * block) + u16(block) + u16(bits) + extension;
  std::string body = "WAVEfmt " + u32(static_cast<uint32_t>(fmt.size())) + fmt + "data" +
                     u32(static_cast<uint32_t>(data.size())) + data;
  return "RIFF" + u32(static_cast<uint32_t>(body.size())) + body;
}

TEST(AudioDecoder, UnsupportedSampleFormats) {
  auto as_span = [](const std::string& s) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  // 64-bit integer PCM.
  std::string pcm64 = wav_header(1, 1, 16000, 64, std::string(800, '\0'));
  expect_error([&] { decode_audio_bytes(as_span(pcm64), "pcm64.wav"); }, ErrorKind::Unsupported,
               {"pcm64.wav", "not supported"});
  // WAVE_FORMAT_EXTENSIBLE with a subformat GUID nobody defines.
  // cbSize 22, 16 valid bits, channel mask 4, then the GUID.
  std::string ext = std::string("\x16\x00\x10\x00\x04\x00\x00\x00", 8) + std::string(16, '\x99');
  std::string odd = wav_header(0xfffe, 1, 16000, 16, std::string(800, '\0'), ext);
  expect_error([&] { decode_audio_bytes(as_span(odd), "guid.wav"); }, ErrorKind::Unsupported, {"guid.wav"});
}

TEST(AudioDecoder, Limits) {
  TempDir dir;
  const std::vector<float> x = fixture_samples();  // 2.5 s
  AudioLimits one_second;
  one_second.max_seconds = 1.0;
  expect_error([&] { decode_audio_file(kWhisperWav, one_second); }, ErrorKind::InvalidArgument,
               {"audio.wav", "2.5 s", "longer than"});
  AudioLimits few_samples;
  few_samples.max_samples = 1000;
  expect_error([&] { decode_audio_file(kWhisperWav, few_samples); }, ErrorKind::InvalidArgument, {"longer than"});
  // A rate out of range (both ways) and too many channels, as written by libsndfile itself.
  write_audio(dir.file("slow.wav"), x, 1, 500, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  expect_error([&] { decode_audio_file(dir.file("slow.wav")); }, ErrorKind::InvalidArgument,
               {"slow.wav", "sample rate 500 Hz"});
  write_audio(dir.file("fast.wav"), x, 1, 2000000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  expect_error([&] { decode_audio_file(dir.file("fast.wav")); }, ErrorKind::InvalidArgument,
               {"sample rate 2000000 Hz"});
  std::vector<float> wide(100 * 100, 0.1f);
  write_audio(dir.file("wide.wav"), wide, 100, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  expect_error([&] { decode_audio_file(dir.file("wide.wav")); }, ErrorKind::InvalidArgument,
               {"wide.wav", "100 channels"});
  // Non-finite float samples.
  std::vector<float> bad = {0.1f, std::numeric_limits<float>::quiet_NaN(), 0.2f};
  write_audio(dir.file("nan.wav"), bad, 1, 16000, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  expect_error([&] { decode_audio_file(dir.file("nan.wav")); }, ErrorKind::Corrupt,
               {"nan.wav", "sample 1 is not a finite"});
  // The server makes every refusal the client's (400): one kind for all.
  AudioLimits upload;
  upload.kind = ErrorKind::InvalidArgument;
  expect_error([&] { decode_audio_file(dir.file("nan.wav"), upload); }, ErrorKind::InvalidArgument, {"not a finite"});
  std::string m4a = std::string(
                        "\0\0\0\x20"
                        "ftypM4A \0\0\0\0",
                        16) +
                    std::string(300, 'x');
  expect_error(
      [&] {
        decode_audio_bytes({reinterpret_cast<const uint8_t*>(m4a.data()), m4a.size()}, "a.m4a", upload);
      },
      ErrorKind::InvalidArgument, {"MP4"});
}

}  // namespace
}  // namespace ia::audio
