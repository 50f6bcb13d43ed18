#include "models/vit.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/activation_names.h"

namespace ia {

namespace {

// ViTModel's names under the "vit." prefix ViTForImageClassification saves it with.
constexpr VisionTowerNames kVitNames = {
    "embeddings.patch_embeddings.projection",
    true,
    "embeddings.cls_token",
    "embeddings.position_embeddings",
    nullptr,
    "layernorm",
    nullptr,
    {"encoder.layer.{}.",
     "layernorm_before",
     {"attention.attention.query", "attention.attention.key", "attention.attention.value", nullptr,
      "attention.output.dense", nullptr, nullptr},
     nullptr,
     {},
     "layernorm_after",
     {nullptr, "intermediate.dense", "output.dense"}}};

int64_t bounded(const HfConfig& c, const std::string& key, int64_t def, int64_t hi) {
  const int64_t v = c.get_int(key, def);
  if (v < 1 || v > hi) fail(ErrorKind::Corrupt, "{}: '{}' is {}, outside [1, {}]", c.path(), key, v, hi);
  return v;
}

}  // namespace

VisionTowerConfig vit_tower_config(const HfConfig& c) {
  VisionTowerConfig t;
  t.hidden = bounded(c, "hidden_size", 768, kMaxConfigDimension);
  t.layers = bounded(c, "num_hidden_layers", 12, kMaxConfigLayers);
  t.heads = bounded(c, "num_attention_heads", 12, kMaxConfigDimension);
  t.intermediate = bounded(c, "intermediate_size", 3072, kMaxConfigDimension);
  t.image_size = bounded(c, "image_size", 224, 1 << 16);
  t.patch = bounded(c, "patch_size", 16, 1 << 12);
  t.channels = bounded(c, "num_channels", 3, 64);
  t.eps = static_cast<float>(c.get_float("layer_norm_eps", 1e-12));
  t.activation = parse_activation(c.get_string("hidden_act", "gelu"), c.path());
  t.qkv_bias = c.get_bool("qkv_bias", true);
  if (t.hidden % t.heads != 0)
    fail(ErrorKind::Corrupt, "{}: hidden_size {} is not a multiple of num_attention_heads {}", c.path(), t.hidden,
         t.heads);
  if (t.image_size < t.patch)
    fail(ErrorKind::Corrupt, "{}: image_size {} is smaller than patch_size {}", c.path(), t.image_size, t.patch);
  return t;
}

std::vector<std::string> config_labels(const HfConfig& c, int64_t num_labels) {
  std::vector<std::string> labels(static_cast<size_t>(num_labels));
  for (int64_t i = 0; i < num_labels; ++i) labels[static_cast<size_t>(i)] = "LABEL_" + std::to_string(i);
  auto it = c.json().find("id2label");
  if (it == c.json().end() || !it->is_object()) return labels;
  for (auto e = it->begin(); e != it->end(); ++e) {
    char* end = nullptr;
    const long id = std::strtol(e.key().c_str(), &end, 10);
    if (end == e.key().c_str() || *end || id < 0 || id >= num_labels || !e.value().is_string())
      fail(ErrorKind::Corrupt, "{}: id2label has the entry \"{}\" for {} labels", c.path(), e.key(), num_labels);
    labels[static_cast<size_t>(id)] = e.value().get<std::string>();
  }
  return labels;
}

std::unique_ptr<VitForImageClassification> VitForImageClassification::load(const HfConfig& config,
                                                                           const WeightStore& weights,
                                                                           DType compute_dtype, Device device) {
  const VisionTowerConfig tc = vit_tower_config(config);
  std::string prefix;
  for (const char* p : {"vit.", ""}) {
    if (weights.has(std::string(p) + kVitNames.patch + ".weight")) {
      prefix = p;
      break;
    }
  }
  WeightSource w(weights, prefix, compute_dtype, device);
  w.require(VisionTower::tensor_names(tc, kVitNames), "model_type vit");
  auto m = std::unique_ptr<VitForImageClassification>(new VitForImageClassification());
  m->compute_dtype_ = compute_dtype;
  m->device_ = device;
  m->tower_ = VisionTower::load(w, tc, kVitNames);
  WeightSource root(weights, "", compute_dtype, device);
  if (root.has("classifier.weight")) {
    const int64_t n = weights.info("classifier.weight").shape.at(0);
    if (n < 1 || n > (int64_t{1} << 20))
      fail(ErrorKind::Corrupt, "{}: classifier.weight has {} rows", weights.dir(), n);
    m->classifier_ = Linear::load(root, "classifier", n, tc.hidden, root.has("classifier.bias"));
    m->has_classifier_ = true;
    m->labels_ = config_labels(config, n);
  }
  return m;
}

ImageClassifierOutput VitForImageClassification::forward(const Tensor& pixel_values) const {
  VisionTowerOutput t = tower_.forward(pixel_values);
  ImageClassifierOutput out;
  out.last_hidden_state = t.last_hidden_state;
  out.hidden_states = t.encoder_output;
  out.pooled = t.pooled;
  out.tokens_per_image = t.tokens_per_image;
  if (has_classifier_) out.logits = classifier_(t.pooled);
  return out;
}

}  // namespace ia
