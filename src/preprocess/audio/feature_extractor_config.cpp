#include "preprocess/audio/feature_extractor_config.h"

#include <cmath>

#include "core/error.h"
#include "preprocess/processor_config.h"

namespace ia::audio {

FeatureExtractorConfig load_feature_extractor_config(const std::string& model_dir) {
  FeatureExtractorConfig out;
  out.values = load_processor_part(model_dir, {"feature_extractor", "audio_processor"}, "audio feature extractor");
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
