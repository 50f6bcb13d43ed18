#pragma once
// LlavaProcessor and LlavaNextProcessor as transformers' PIL backend computes them: the image side
// (CLIPImageProcessor for LLaVA; LlavaNextImageProcessor's "anyres" crops for LLaVA-NeXT: the best
// image_grid_pinpoints resolution, the image resized into it keeping its aspect ratio, centred on
// black padding, cut into crop_size tiles, after the whole image resized to the crop size) and
// the count of image tokens each `<image>` in the text expands to (patch_size,
// num_additional_image_tokens, vision_feature_select_strategy; for LLaVA-NeXT the unpadded grid
// and its newline rows). Built once from the folder's processor_config.json (the image processor
// under "image_processor", or preprocessor_config.json) and const.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "preprocess/image/image_processor.h"
#include "preprocess/image/rgb_image.h"

namespace ia::image {

// transformers' select_best_resolution: of pinpoints (height, width), the one that keeps the most
// of an image of height x width once scaled to fit, then the one that wastes the least.
std::pair<int64_t, int64_t> select_best_resolution(int64_t height, int64_t width,
                                                   const std::vector<std::pair<int64_t, int64_t>>& pinpoints);

// The rows [r0, r1) and columns [c0, c1) of a rows x cols feature grid that unpad_image keeps for
// an image of height x width (the processor's padding cut off again).
struct UnpaddedGrid {
  int64_t r0 = 0, r1 = 0, c0 = 0, c1 = 0;
};
UnpaddedGrid unpad_grid(int64_t rows, int64_t cols, int64_t height, int64_t width);

struct LlavaProcessorConfig {
  std::string image_token = "<image>";
  int64_t patch_size = 0;                   // the vision tower's patch
  int64_t num_additional_image_tokens = 1;  // the class token
  bool keep_class_token = false;            // vision_feature_select_strategy "full"
  bool anyres = false;                      // LlavaNextProcessor
  std::vector<std::pair<int64_t, int64_t>> pinpoints;
};

class LlavaProcessor {
 public:
  // The folder's processor. `model_patch_size` stands in for a processor_config.json without
  // patch_size; `anyres` is whether the model is LLaVA-NeXT. Corrupt / Unsupported for settings
  // this processor cannot follow.
  static LlavaProcessor load(const std::string& model_dir, int64_t model_patch_size, bool anyres);
  LlavaProcessor(LlavaProcessorConfig config, ImageProcessor images);

  const LlavaProcessorConfig& config() const { return config_; }
  const ImageProcessor& image_processor() const { return images_; }
  // (height, width) of every crop's pixel_values.
  std::pair<int64_t, int64_t> crop_size() const;

  // pixel_values of one image: [crops, 3, H, W] f32 on the host (LLaVA one crop; LLaVA-NeXT the
  // whole image, then the grid's tiles row by row).
  Tensor preprocess(const RgbImage& image) const;
  // The image tokens one `<image>` becomes for an image of height x width.
  int64_t image_tokens(int64_t height, int64_t width) const;

 private:
  LlavaProcessorConfig config_;
  ImageProcessor images_;
};

}  // namespace ia::image
