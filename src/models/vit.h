#pragma once
// ViT (ViTForImageClassification; ViTModel for features) on the shared VisionTower: the tower's
// class token after its final LayerNorm, then the classifier. A ViTModel checkpoint (no
// classifier) loads for features; classification refuses it.
#include <memory>
#include <string>
#include <vector>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/image_classifier.h"
#include "models/vision_tower.h"

namespace ia {

// ViTConfig's fields the tower needs, with transformers' defaults for absent keys; Corrupt out of bounds.
VisionTowerConfig vit_tower_config(const HfConfig& c);
// id2label in id order; "LABEL_i" for ids it does not name (num_labels from the config or id2label).
std::vector<std::string> config_labels(const HfConfig& c, int64_t num_labels);

class VitForImageClassification final : public ImageClassifier {
 public:
  static std::unique_ptr<VitForImageClassification> load(const HfConfig& config, const WeightStore& weights,
                                                         DType compute_dtype, Device device);

  int64_t num_labels() const override { return static_cast<int64_t>(labels_.size()); }
  const std::vector<std::string>& labels() const override { return labels_; }
  int64_t hidden_size() const override { return tower_.config().hidden; }
  std::pair<int64_t, int64_t> image_size() const override {
    return {tower_.config().image_size, tower_.config().image_size};
  }
  DType compute_dtype() const override { return compute_dtype_; }
  Device device() const override { return device_; }
  ImageClassifierOutput forward(const Tensor& pixel_values) const override;

  bool has_classifier() const { return has_classifier_; }
  const VisionTower& tower() const { return tower_; }

 private:
  VitForImageClassification() = default;
  VisionTower tower_;
  Linear classifier_;
  bool has_classifier_ = false;
  std::vector<std::string> labels_;
  DType compute_dtype_ = DType::F32;
  Device device_;
};

}  // namespace ia
