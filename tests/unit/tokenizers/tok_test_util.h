#pragma once
// Helpers shared by the tokenizer unit tests.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizers/normalizers.h"
#include "tokenizers/pre_tokenizers.h"

namespace ia::tok::test {

using nlohmann::json;

inline std::string fixture_dir(const std::string& family) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + family;
}

inline json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

inline void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

// The text `spec`'s normalizer makes of `text`.
inline std::string normalize(const json& spec, const std::string& text) {
  auto n = make_normalizer(spec);
  NormalizedString s(text);
  n->normalize(s);
  return s.get();
}

inline std::vector<std::string> pre_tokenize(const json& spec, const std::string& text) {
  auto p = make_pre_tokenizer(spec);
  PreTokenizedString s(text);
  p->pre_tokenize(s);
  std::vector<std::string> out;
  for (auto& sp : s.splits()) out.push_back(sp.normalized.get());
  return out;
}

// A fresh temp directory removed at scope exit.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) {
    path_ = std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace ia::tok::test
