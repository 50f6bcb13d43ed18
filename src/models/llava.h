#pragma once
// LLaVA (LlavaForConditionalGeneration) and LLaVA-NeXT (LlavaNextForConditionalGeneration) on the
// shared layers: CLIP's VisionTower read at `vision_feature_layer` (an index as transformers counts
// hidden_states, or a list whose states are concatenated per token), the class token dropped
// (`vision_feature_select_strategy` "default") or kept ("full"), the two-layer projector
// (linear, activation, linear), and the LLaMA-family DecoderLM fed with the text's embeddings where
// the image tokens' rows are the features. LLaVA-NeXT ("anyres") runs the base image and the crops
// of the best `image_grid_pinpoints` resolution through the tower, keeps the base image's features,
// lays the crops' features out as one grid, unpads it to the image's aspect ratio and ends every
// row of it with the learned `image_newline`.
#include <memory>
#include <utility>
#include <vector>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/decoder_lm.h"
#include "models/layers/linear.h"
#include "models/vision_language.h"
#include "models/vision_tower.h"
#include "preprocess/image/llava_processor.h"

namespace ia {

// What config.json says of the image side.
struct LlavaConfig {
  bool anyres = false;  // llava_next
  int64_t image_token_id = 0;
  std::vector<int64_t> feature_layers;  // one, or the list to concatenate
  bool keep_class_token = false;        // vision_feature_select_strategy "full"
  Activation projector_activation = Activation::GeluErf;
  bool projector_bias = true;
  std::vector<std::pair<int64_t, int64_t>> pinpoints;  // (height, width), LLaVA-NeXT
  static LlavaConfig from(const HfConfig& config);
};

class LlavaModel final : public VisionLanguage {
 public:
  static std::unique_ptr<LlavaModel> load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                          Device device);

  const DecoderConfig& config() const override { return decoder_->config(); }
  DType compute_dtype() const override { return decoder_->compute_dtype(); }
  Device device() const override { return decoder_->device(); }
  int64_t weight_bytes_per_token() const override { return decoder_->weight_bytes_per_token(); }
  KvCacheLayout kv_layout() const override { return decoder_->kv_layout(); }
  Tensor forward(const StepInputs& step, KvCache& cache) const override;
  Tensor forward_prompt(const StepInputs& step) const override;
  bool replayable(const StepInputs& step) const override;

  int64_t image_token_id() const override { return cfg_.image_token_id; }
  int64_t vision_patch_size() const override { return vision_.config().patch; }
  bool anyres() const override { return cfg_.anyres; }
  int64_t image_tokens(int64_t height, int64_t width) const override;
  Tensor embed_images(const std::vector<ImagePixels>& images) const override;

  const LlavaConfig& llava_config() const { return cfg_; }
  const VisionTower& vision() const { return vision_; }
  // The projected features of each crop, [crops * tokens per crop, hidden] (transformers'
  // multi_modal_projector over the selected hidden states).
  Tensor crop_features(const Tensor& pixel_values) const;
  // Crops one image of height x width is processed into (LLaVA-NeXT: 1 + the grid's).
  int64_t crops_for(int64_t height, int64_t width) const;

 private:
  LlavaModel() = default;
  // The step with its image rows spliced into the text's embeddings.
  StepInputs with_images(const StepInputs& step) const;
  // (rows, cols) of crops the best pinpoint splits an image into.
  std::pair<int64_t, int64_t> crop_grid(int64_t height, int64_t width) const;
  int64_t tokens_per_crop() const;

  LlavaConfig cfg_;
  std::unique_ptr<DecoderLM> decoder_;
  VisionTower vision_;
  std::vector<Linear> projector_in_;  // linear_1 split by the feature layers' column blocks
  Tensor projector_in_bias_;          // f32 [hidden] or undefined
  Linear projector_out_;
  Tensor image_newline_;  // [1, hidden] f32 on the device (LLaVA-NeXT)
  Device device_;
};

}  // namespace ia
