#include "preprocess/processor_config.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/json_messages.h"

namespace ia {

namespace fs = std::filesystem;

namespace {

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

}  // namespace

HfConfig load_processor_part(const std::string& model_dir, std::initializer_list<const char*> keys,
                             const std::string& what) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) fail(ErrorKind::NotFound, "{}: no such model folder", model_dir);
  fs::path processor = fs::path(model_dir) / "processor_config.json";
  if (is_file(processor)) {
    nlohmann::json j = read_json_file(processor.string());
    if (!j.is_object()) fail(ErrorKind::Corrupt, "{}: is a JSON {}, not an object", processor.string(), j.type_name());
    for (const char* key : keys) {
      auto it = j.find(key);
      if (it != j.end()) return HfConfig::from_json(*it, processor.string() + ":" + key);
    }
  }
  fs::path pre = fs::path(model_dir) / "preprocessor_config.json";
  if (!is_file(pre))
    fail(ErrorKind::NotFound,
         "{}: no {} config (neither preprocessor_config.json nor a \"{}\" in processor_config.json)", model_dir, what,
         *keys.begin());
  return HfConfig::load_file(pre.string());
}

}  // namespace ia
