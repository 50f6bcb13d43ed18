#pragma once
// The endpoint of a video-text model (X-CLIP): the model placed on a device with its per-frame
// image processor (VideoMAEImageProcessor) and tokenizer. Videos arrive as their sampled frames
// (preprocess/video/video_decoder.h), exactly the model's num_frames each; results come back on
// the host with preprocessing and inference timed apart.
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/model_registry.h"
#include "models/video_text_model.h"
#include "preprocess/image/image_processor.h"
#include "preprocess/image/rgb_image.h"
#include "tokenizers/tokenizer.h"

namespace ia {

struct VideoTextSimilarity {
  std::vector<std::vector<float>> logits_per_video;          // [videos][texts]
  std::vector<std::vector<std::vector<float>>> text_embeds;  // [videos][texts][P], normalized
  std::vector<std::vector<float>> video_embeds;              // [videos][P], normalized
  double tokenize_ms = 0, preprocess_ms = 0, inference_ms = 0;
};

class VideoTextEndpoint {
 public:
  static std::shared_ptr<VideoTextEndpoint> load(const std::string& dir, Device device, DType dtype);

  // Token ids of each text (special tokens added), cut to the model's positions as
  // truncation=True cuts them.
  std::vector<tok::Encoding> tokenize(const std::vector<std::string>& texts) const;
  // pixel_values of one video's frames: [frames, 3, H, W] f32 on the host. InvalidArgument unless
  // there are num_frames frames that come out one size.
  Tensor pixel_values(const std::vector<image::RgbImage>& frames) const;
  // XCLIPModel's outputs for pixel_values [V * num_frames, 3, H, W] and tokenized texts.
  VideoTextSimilarity similarity_of(const Tensor& pixel_values, const std::vector<std::vector<int32_t>>& ids) const;
  // Each video (its frames) against every text.
  VideoTextSimilarity similarity(const std::vector<std::vector<image::RgbImage>>& videos,
                                 const std::vector<std::string>& texts) const;

  const ModelKind& kind() const { return kind_; }
  const VideoTextModel& model() const { return *model_; }
  const image::ImageProcessor& processor() const { return *processor_; }
  int64_t num_frames() const { return model_->num_frames(); }

 private:
  VideoTextEndpoint() = default;
  ModelKind kind_;
  std::unique_ptr<VideoTextModel> model_;
  std::unique_ptr<image::ImageProcessor> processor_;
  std::shared_ptr<tok::Tokenizer> tokenizer_;
};

}  // namespace ia
