#include "preprocess/audio/feature_extractor_config.h"

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/json_messages.h"

namespace ia::audio {

namespace fs = std::filesystem;

namespace {

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

}  // namespace

FeatureExtractorConfig load_feature_extractor_config(const std::string& model_dir) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) fail(ErrorKind::NotFound, "{}: no such model folder", model_dir);
  FeatureExtractorConfig out;
  bool found = false;
  fs::path processor = fs::path(model_dir) / "processor_config.json";
  if (is_file(processor)) {
    nlohmann::json j = read_json_file(processor.string());
    if (!j.is_object()) fail(ErrorKind::Corrupt, "{}: is a JSON {}, not an object", processor.string(), j.type_name());
    for (const char* key : {"feature_extractor", "audio_processor"}) {
      auto it = j.find(key);
      if (it == j.end()) continue;
      out.values = HfConfig::from_json(*it, processor.string() + ":" + key);
      found = true;
      break;
    }
  }
  if (!found) {
    fs::path pre = fs::path(model_dir) / "preprocessor_config.json";
    if (!is_file(pre))
      fail(ErrorKind::NotFound,
           "{}: no audio feature extractor config (neither preprocessor_config.json nor a \"feature_extractor\" in "
           "processor_config.json)",
           model_dir);
    out.values = HfConfig::load_file(pre.string());
  }
  out.type = out.values.get_string("feature_extractor_type", "");
  return out;
}

void FeatureExtractorConfig::expect_type(const std::string& wanted) const {
  if (type.empty()) {
    if (values.has("image_processor_type"))
      fail(ErrorKind::Unsupported, "{}: is an image processor ({}), not the {} this model needs", values.path(),
           values.get_string("image_processor_type", ""), wanted);
    return;
  }
  if (type != wanted)
    fail(ErrorKind::Unsupported, "{}: feature_extractor_type is {}, not the {} this model needs", values.path(), type,
         wanted);
}

int64_t FeatureExtractorConfig::int_in(const std::string& key, int64_t def, int64_t lo, int64_t hi) const {
  int64_t v = values.get_int(key, def);
  if (v < lo || v > hi) fail(ErrorKind::Corrupt, "{}: '{}' is {}, outside [{}, {}]", values.path(), key, v, lo, hi);
  return v;
}

double FeatureExtractorConfig::float_in(const std::string& key, double def, double lo, double hi) const {
  double v = values.get_float(key, def);
  if (!std::isfinite(v) || v < lo || v > hi)
    fail(ErrorKind::Corrupt, "{}: '{}' is {}, outside [{}, {}]", values.path(), key, v, lo, hi);
  return v;
}

}  // namespace ia::audio
