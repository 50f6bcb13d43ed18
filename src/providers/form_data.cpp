#include "providers/form_data.h"

#include <algorithm>
#include <cctype>
#include <random>

#include <fmt/format.h>

namespace ia::providers {

void FormData::add_field(std::string name, std::string value) {
  parts_.push_back({std::move(name), {}, {}, std::move(value), false});
}

void FormData::add_file(std::string name, std::string filename, std::string content_type, std::string bytes) {
  parts_.push_back({std::move(name), std::move(filename), std::move(content_type), std::move(bytes), true});
}

std::string quote_form_param(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '"')
      out += "%22";
    else if (c == '\r')
      out += "%0D";
    else if (c == '\n')
      out += "%0A";
    else if (c == '\\')
      out += "\\\\";
    else
      out += c;
  }
  return out;
}

FormData::Encoded FormData::encode() const {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string boundary;
  for (;;) {  // 128 random bits, as httpx; a boundary found inside a part is drawn again
    boundary = fmt::format("{:016x}{:016x}", rng(), rng());
    const bool clash = std::any_of(parts_.begin(), parts_.end(), [&](const Part& p) {
      return p.data.find(boundary) != std::string::npos || p.name.find(boundary) != std::string::npos ||
             p.filename.find(boundary) != std::string::npos;
    });
    if (!clash) break;
  }
  size_t size = 0;
  for (const auto& p : parts_) size += p.data.size() + p.name.size() + p.filename.size() + 160;
  Encoded e;
  e.body.reserve(size + boundary.size() + 8);
  for (const auto& p : parts_) {
    e.body += "--" + boundary + "\r\n";
    e.body += "Content-Disposition: form-data; name=\"" + quote_form_param(p.name) + "\"";
    if (p.file) {
      e.body += "; filename=\"" + quote_form_param(p.filename) + "\"\r\n";
      e.body += "Content-Type: " + (p.content_type.empty() ? std::string("application/octet-stream") : p.content_type);
    }
    e.body += "\r\n\r\n";
    e.body += p.data;
    e.body += "\r\n";
  }
  e.body += "--" + boundary + "--\r\n";
  e.content_type = "multipart/form-data; boundary=" + boundary;
  return e;
}

std::string audio_content_type(std::string_view filename) {
  const size_t dot = filename.rfind('.');
  std::string ext = dot == std::string_view::npos ? std::string() : std::string(filename.substr(dot + 1));
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::pair<const char*, const char*> kTypes[] = {
      {"wav", "audio/wav"},   {"mp3", "audio/mpeg"}, {"mpga", "audio/mpeg"}, {"mpeg", "audio/mpeg"},
      {"flac", "audio/flac"}, {"ogg", "audio/ogg"},  {"oga", "audio/ogg"},   {"opus", "audio/opus"},
      {"m4a", "audio/mp4"},   {"mp4", "audio/mp4"},  {"webm", "audio/webm"}, {"aac", "audio/aac"},
  };
  for (const auto& [e, type] : kTypes)
    if (ext == e) return type;
  return "application/octet-stream";
}

}  // namespace ia::providers
