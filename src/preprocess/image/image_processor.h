#pragma once
// A Hugging Face image processor (ViTImageProcessor, CLIPImageProcessor, DetrImageProcessor) as its PIL backend
// computes pixel_values: convert to RGB, resize (PIL, resize.h) to `size` given as
// {height, width}, {shortest_edge} or {shortest_edge, longest_edge}, center crop to `crop_size`
// (numpy's: zero padding where the image is smaller), rescale (u8 as float64 times
// rescale_factor, then float32), normalize ((x - mean) / std in float32), channels first.
// Built once from the folder's config and const: threads share one.
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "formats/hf_config.h"
#include "preprocess/image/resize.h"
#include "preprocess/image/rgb_image.h"

namespace ia::image {

// How `size` asks the resize step for an image: exactly height x width, or the shortest edge
// scaled to shortest_edge (the aspect ratio kept), the longest edge held to longest_edge if given.
struct ResizeSize {
  int64_t height = 0, width = 0;  // both set: exact
  int64_t shortest_edge = 0;      // set: aspect-preserving
  int64_t longest_edge = 0;       // with shortest_edge: the longest edge's cap
};

struct ImageProcessorConfig {
  std::string type;  // "ViTImageProcessor", "CLIPImageProcessor"
  std::string path;  // the file the settings came from (errors name it)
  bool do_resize = true;
  ResizeSize size;
  Resample resample = Resample::Bilinear;
  bool do_center_crop = false;
  int64_t crop_height = 0, crop_width = 0;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<float, 3> image_mean{}, image_std{};
  // DETR: a batch is padded at the bottom and right with zeros to its largest image (or to
  // pad_size), with a pixel mask of the real pixels (ImageProcessor::pad).
  bool do_pad = false;
  int64_t pad_height = 0, pad_width = 0;  // pad_size; 0: the batch's largest

  // The settings of `c` (a preprocessor_config.json, or processor_config.json's "image_processor"),
  // absent keys taking the class defaults of its image_processor_type (or feature_extractor_type:
  // ViTFeatureExtractor, CLIPFeatureExtractor), else of `default_type`. Unsupported for another
  // image processor class; Corrupt for a value of the wrong type or out of bounds.
  static ImageProcessorConfig from(const HfConfig& c, const std::string& default_type);
};

struct PaddedBatch {
  Tensor pixel_values;  // [B, 3, H, W] f32, zeros past each image
  Tensor pixel_mask;    // [B, H, W] i64: 1 on each image's pixels
};

class ImageProcessor {
 public:
  explicit ImageProcessor(ImageProcessorConfig config);
  // The folder's image processor (preprocess/processor_config.h finds its settings).
  // `default_type` names the class when the config does not ("ViTImageProcessor").
  static ImageProcessor load(const std::string& model_dir, const std::string& default_type);

  const ImageProcessorConfig& config() const { return config_; }
  // (height, width) the resize step makes of an image of h x w (the image's when do_resize is off).
  std::pair<int64_t, int64_t> resized_size(int64_t h, int64_t w) const;
  // (height, width) of pixel_values for an image of h x w.
  std::pair<int64_t, int64_t> output_size(int64_t h, int64_t w) const;

  // pixel_values of one image: f32 [3, H, W] on the host.
  Tensor preprocess(const RgbImage& image) const;
  // The same into out[3 * H * W] (a row of a batch); H, W as output_size says.
  void preprocess_into(const RgbImage& image, float* out) const;
  // DETR's pad step over preprocessed images ([3, h, w] each): what DetrImageProcessor returns
  // for a batch. InvalidArgument when an image exceeds pad_size.
  PaddedBatch pad(const std::vector<Tensor>& pixel_values) const;

 private:
  ImageProcessorConfig config_;
  std::array<std::array<float, 256>, 3> lut_{};  // a u8 channel value's final float
};

// Python's int(a * b / c) and round(x) as transformers' size helpers use them (exposed for tests).
std::pair<int64_t, int64_t> shortest_edge_size(int64_t h, int64_t w, int64_t shortest, int64_t longest);

}  // namespace ia::image
