#include "preprocess/audio/audio_decoder.h"

#include <sndfile.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>

#include <fmt/format.h>

namespace ia::audio {

namespace fs = std::filesystem;

namespace {

constexpr sf_count_t kBlockFrames = 4096;
constexpr int64_t kReserveFrames = int64_t{1} << 20;
// A WAV header's chunks before "data" (fmt, LIST, bext, ...) fit in this; past it no check.
constexpr size_t kHeadBytes = 64 * 1024;

template <typename... Args>
[[noreturn]] void refuse(const AudioLimits& limits, ErrorKind natural, fmt::format_string<Args...> f, Args&&... args) {
  std::string msg = fmt::format(f, std::forward<Args>(args)...);
  std::replace(msg.begin(), msg.end(), '\n', ' ');
  throw Error(limits.kind.value_or(natural), msg);
}

std::string one_line(const char* s) {
  std::string out = s ? s : "";
  std::replace(out.begin(), out.end(), '\n', ' ');
  while (!out.empty() && (out.back() == ' ' || out.back() == '.')) out.pop_back();
  return out;
}

// Audio containers libsndfile does not read, told apart from files that are not audio at all.
std::string unsupported_container(const uint8_t* head, size_t n) {
  auto starts = [&](size_t at, const char* magic, size_t len) {
    return n >= at + len && std::memcmp(head + at, magic, len) == 0;
  };
  if (starts(4, "ftyp", 4)) return "MP4 / M4A (AAC, ALAC)";
  if (starts(0, "\x1a\x45\xdf\xa3", 4)) return "WebM / Matroska";
  if (starts(0, "\x30\x26\xb2\x75\x8e\x66\xcf\x11", 8)) return "ASF / WMA";
  if (starts(0, "#!AMR", 5)) return "AMR";
  if (n >= 2 && head[0] == 0xff && (head[1] & 0xf6) == 0xf0) return "AAC (ADTS)";
  return "";
}

struct MemoryFile {
  const uint8_t* data;
  sf_count_t size;
  sf_count_t pos;
};

sf_count_t mem_length(void* user) {
  return static_cast<MemoryFile*>(user)->size;
}

sf_count_t mem_seek(sf_count_t offset, int whence, void* user) {
  auto* m = static_cast<MemoryFile*>(user);
  sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->size;
  if ((offset > 0 && base > std::numeric_limits<sf_count_t>::max() - offset) || base + offset < 0) return -1;
  m->pos = base + offset;
  return m->pos;
}

sf_count_t mem_read(void* ptr, sf_count_t count, void* user) {
  auto* m = static_cast<MemoryFile*>(user);
  if (count <= 0 || m->pos >= m->size) return 0;
  const sf_count_t n = std::min(count, m->size - m->pos);
  std::memcpy(ptr, m->data + m->pos, static_cast<size_t>(n));
  m->pos += n;
  return n;
}

sf_count_t mem_write(const void*, sf_count_t, void*) {
  return 0;
}

sf_count_t mem_tell(void* user) {
  return static_cast<MemoryFile*>(user)->pos;
}

// libsndfile reports why an open failed in process-wide state (sf_error(NULL)): opens are serialised
// so each reads its own reason. Reading the samples, the long part, runs in parallel.
std::mutex& open_mutex() {
  static std::mutex m;
  return m;
}

struct Closer {
  void operator()(SNDFILE* f) const { sf_close(f); }
};
using SndFile = std::unique_ptr<SNDFILE, Closer>;

[[noreturn]] void refuse_open(const AudioLimits& limits, const std::string& name, const uint8_t* head,
                              size_t head_size) {
  const int code = sf_error(nullptr);
  const std::string why = one_line(sf_strerror(nullptr));
  if (code == SF_ERR_UNRECOGNISED_FORMAT) {
    std::string container = unsupported_container(head, head_size);
    if (!container.empty())
      refuse(limits, ErrorKind::Unsupported,
             "{}: {} audio is not decoded here (WAV, FLAC, OGG Vorbis/Opus, MP3, AIFF are); convert it, e.g. "
             "ffmpeg -i FILE out.flac",
             name, container);
    refuse(limits, ErrorKind::InvalidArgument,
           "{}: not an audio file libsndfile recognises (WAV, FLAC, OGG Vorbis/Opus, MP3, AIFF, ...)", name);
  }
  if (code == SF_ERR_SYSTEM) refuse(limits, ErrorKind::InvalidArgument, "{}: cannot read: {}", name, why);
  // A container libsndfile reads holding samples it does not decode: SF_ERR_UNSUPPORTED_ENCODING,
  // or its internal "unimplemented format" / "unsupported ..." errors (64-bit PCM, an unknown
  // WAVE_FORMAT_EXTENSIBLE subformat, ...).
  std::string lower = why;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (code == SF_ERR_UNSUPPORTED_ENCODING || lower.find("unimplemented") != std::string::npos ||
      lower.find("unsupported") != std::string::npos)
    refuse(limits, ErrorKind::Unsupported, "{}: audio encoding not supported: {}", name, why);
  refuse(limits, ErrorKind::Corrupt, "{}: malformed or truncated audio file: {}", name, why);
}

uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

// A RIFF WAVE file whose "data" chunk claims more bytes than the file holds: cut short (an
// interrupted upload or copy). libsndfile reads what is there without a word, as soundfile does.
// Sizes of 2^31 - 16 MiB and more are writers' placeholders for a stream of unknown length
// (0xFFFFFFFF, 0x7FFFFFFF, ...): read to the end of the file. (A size of 0 libsndfile reads as no
// samples, which read_all refuses.)
void check_wav_length(const AudioLimits& limits, const std::string& name, std::span<const uint8_t> head,
                      uint64_t file_size) {
  if (head.size() < 12 || std::memcmp(head.data(), "RIFF", 4) != 0 || std::memcmp(head.data() + 8, "WAVE", 4) != 0)
    return;
  uint64_t at = 12;
  while (at + 8 <= head.size()) {
    const uint32_t size = le32(head.data() + at + 4);
    if (std::memcmp(head.data() + at, "data", 4) == 0) {
      const uint64_t available = file_size - (at + 8);
      if (size < 0x7f000000u && size > available)
        refuse(limits, ErrorKind::Corrupt, "{}: truncated: its header promises {} bytes of audio, the file holds {}",
               name, size, available);
      return;
    }
    at += 8 + static_cast<uint64_t>(size) + (size & 1);
  }
}

std::string format_name(int format) {
  auto name = [](int f) -> std::string {
    SF_FORMAT_INFO info{};
    info.format = f;
    if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &info, sizeof(info)) != 0 || !info.name)
      return fmt::format("{:#x}", f);
    return info.name;
  };
  return name(format & SF_FORMAT_TYPEMASK) + ", " + name(format & SF_FORMAT_SUBMASK);
}

AudioClip read_all(SNDFILE* f, const SF_INFO& info, const std::string& name, const AudioLimits& limits) {
  if (info.channels < 1 || info.channels > limits.max_channels)
    refuse(limits, ErrorKind::InvalidArgument, "{}: {} channels, outside the 1 to {} accepted", name, info.channels,
           limits.max_channels);
  if (info.samplerate < limits.min_sample_rate || info.samplerate > limits.max_sample_rate)
    refuse(limits, ErrorKind::InvalidArgument, "{}: sample rate {} Hz, outside the {} to {} Hz accepted", name,
           info.samplerate, limits.min_sample_rate, limits.max_sample_rate);
  const double by_duration = std::floor(limits.max_seconds * info.samplerate);
  const int64_t max_frames = std::min<int64_t>(
      limits.max_samples, by_duration < 9e18 ? static_cast<int64_t>(std::max(by_duration, 0.0)) : limits.max_samples);
  auto too_long = [&](int64_t frames) {
    refuse(limits, ErrorKind::InvalidArgument,
           "{}: {:.1f} s of audio at {} Hz ({} frames), longer than the {:.0f} s / {} samples accepted", name,
           static_cast<double>(frames) / info.samplerate, info.samplerate, frames, limits.max_seconds,
           limits.max_samples);
  };
  const bool frames_known = info.frames >= 0 && info.frames < std::numeric_limits<sf_count_t>::max();
  if (frames_known && info.frames == 0)
    refuse(limits, ErrorKind::InvalidArgument, "{}: no audio samples (0 frames)", name);
  if (frames_known && info.frames > max_frames) too_long(info.frames);

  AudioClip clip;
  clip.sample_rate = info.samplerate;
  clip.channels = info.channels;
  clip.format = format_name(info.format);
  // What the header claims, up to 2^20 frames: a small upload claiming hours allocates no more.
  if (frames_known) clip.samples.reserve(static_cast<size_t>(std::min<int64_t>(info.frames, kReserveFrames)));
  const int channels = info.channels;
  std::vector<float> block(static_cast<size_t>(kBlockFrames) * static_cast<size_t>(channels));
  int64_t total = 0;
  for (;;) {
    const sf_count_t got = sf_readf_float(f, block.data(), kBlockFrames);
    if (got <= 0) break;
    if (total + got > max_frames) too_long(total + got);
    for (sf_count_t i = 0; i < got; ++i) {
      const float* frame = block.data() + i * channels;
      float v;
      if (channels == 1) {
        v = frame[0];
      } else {
        double sum = 0.0;
        for (int c = 0; c < channels; ++c) sum += frame[c];
        v = static_cast<float>(sum / channels);
      }
      if (!std::isfinite(v))
        refuse(limits, ErrorKind::Corrupt, "{}: sample {} is not a finite number (NaN or infinity)", name, total + i);
      clip.samples.push_back(v);
    }
    total += got;
  }
  if (sf_error(f) != SF_ERR_NO_ERROR)
    refuse(limits, ErrorKind::Corrupt, "{}: audio data unreadable after {} frames: {}", name, total,
           one_line(sf_strerror(f)));
  if (total == 0) refuse(limits, ErrorKind::InvalidArgument, "{}: no audio samples (0 frames)", name);
  // Fewer frames than the container promised: cut short. Not for MPEG, whose length is an estimate
  // from the bit rate unless a Xing / LAME header gives it.
  if (frames_known && total < info.frames && (info.format & SF_FORMAT_TYPEMASK) != SF_FORMAT_MPEG)
    refuse(limits, ErrorKind::Corrupt, "{}: truncated: {} of the {} frames its header promises", name, total,
           info.frames);
  return clip;
}

}  // namespace

AudioClip decode_audio_file(const std::string& path, const AudioLimits& limits) {
  std::error_code ec;
  if (!fs::exists(path, ec)) refuse(limits, ErrorKind::NotFound, "{}: no such file", path);
  if (fs::is_directory(path, ec))
    refuse(limits, ErrorKind::InvalidArgument, "{}: is a directory, not an audio file", path);
  // The first bytes: what the file is when libsndfile does not know, and a WAV header's chunks.
  std::vector<uint8_t> head(kHeadBytes);
  uint64_t file_size = 0;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) refuse(limits, ErrorKind::InvalidArgument, "{}: cannot read: {}", path, std::strerror(errno));
    in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(in.gcount()));
    file_size = fs::file_size(path, ec);
    if (ec) refuse(limits, ErrorKind::InvalidArgument, "{}: cannot read: {}", path, ec.message());
  }
  if (head.empty()) refuse(limits, ErrorKind::InvalidArgument, "{}: empty file (0 bytes), not audio", path);
  SF_INFO info{};
  SndFile f;
  {
    std::lock_guard<std::mutex> lock(open_mutex());
    f.reset(sf_open(path.c_str(), SFM_READ, &info));
    if (!f) refuse_open(limits, path, head.data(), head.size());
  }
  check_wav_length(limits, path, head, file_size);
  return read_all(f.get(), info, path, limits);
}

AudioClip decode_audio_bytes(std::span<const uint8_t> bytes, const std::string& name, const AudioLimits& limits) {
  if (bytes.empty()) refuse(limits, ErrorKind::InvalidArgument, "{}: empty file (0 bytes), not audio", name);
  MemoryFile mem{bytes.data(), static_cast<sf_count_t>(bytes.size()), 0};
  SF_VIRTUAL_IO io{mem_length, mem_seek, mem_read, mem_write, mem_tell};
  SF_INFO info{};
  SndFile f;
  {
    std::lock_guard<std::mutex> lock(open_mutex());
    f.reset(sf_open_virtual(&io, SFM_READ, &info, &mem));
    if (!f) refuse_open(limits, name, bytes.data(), bytes.size());
  }
  check_wav_length(limits, name, bytes.first(std::min(bytes.size(), kHeadBytes)), bytes.size());
  return read_all(f.get(), info, name, limits);
}

}  // namespace ia::audio
