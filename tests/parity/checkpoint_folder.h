#pragma once
// Model folders the parity tests write (pre-quantized checkpoints packed by a test, their
// dequantized twins, `quantize --out` round trips): a temporary folder removed afterwards, and a
// user's folder made from a fixture's tokenizer and config.json with other weights.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "formats/safetensors.h"

namespace ia::parity {

// A fresh folder under the system's temporary directory, removed with everything in it.
struct ScratchFolder {
  std::string path;
  ScratchFolder() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ia-parity-XXXXXX").string();
    const char* made = ::mkdtemp(tmpl.data());
    if (made == nullptr)
      throw std::filesystem::filesystem_error("mkdtemp", tmpl, std::error_code(errno, std::generic_category()));
    path = made;
  }
  ~ScratchFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchFolder(const ScratchFolder&) = delete;
  ScratchFolder& operator=(const ScratchFolder&) = delete;
};

// `dir` as a model folder: `from`'s tokenizer files and config.json (with `quantization_config`
// set when it is not null), and `tensors` as model.safetensors.
inline void write_checkpoint_folder(const std::string& from, const std::string& dir,
                                    const std::vector<std::pair<std::string, Tensor>>& tensors,
                                    const nlohmann::json& quantization_config = nullptr) {
  namespace fs = std::filesystem;
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    if (fs::exists(from + "/" + f)) fs::copy_file(from + "/" + f, dir + "/" + f);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(from + "/config.json"));
  if (!quantization_config.is_null()) config["quantization_config"] = quantization_config;
  std::ofstream(dir + "/config.json") << config.dump();
  write_safetensors(dir + "/model.safetensors", tensors);
}

}  // namespace ia::parity
