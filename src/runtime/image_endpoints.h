#pragma once
// Endpoints for the vision families: a model placed on a device with its image processor (and,
// for CLIP, its tokenizer). Images arrive decoded (preprocess/image/image_decoder.h); the endpoint
// preprocesses them as the folder's processor says, runs the images that come out the same size
// as one batch, and returns host results with preprocessing and inference timed apart.
//
//   ImageClassificationEndpoint: logits and the top-k labels (softmax, or sigmoid for a single
//     label, as transformers' image-classification pipeline scores them).
//   ImageTextEndpoint (CLIP): text and image embeddings (projected; L2-normalized on request, as
//     CLIPModel's text_embeds / image_embeds are) and logits_per_image = scale * cosine.
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/image_classifier.h"
#include "models/image_text_model.h"
#include "models/model_registry.h"
#include "preprocess/image/image_processor.h"
#include "tokenizers/tokenizer.h"

namespace ia {

struct LabelScore {
  int64_t id = 0;
  std::string label;
  float score = 0;
};

struct ImageClassification {
  std::vector<std::vector<float>> logits;    // [images][labels]
  std::vector<std::vector<LabelScore>> top;  // [images][k], highest score first
  double preprocess_ms = 0, inference_ms = 0;
};

class ImageClassificationEndpoint {
 public:
  static std::shared_ptr<ImageClassificationEndpoint> load(const std::string& dir, Device device, DType dtype);

  // pixel_values [B, 3, H, W] of images that preprocess to the same size (host f32).
  Tensor pixel_values(const std::vector<const image::RgbImage*>& images) const;
  // top_k >= 1 (clamped to the number of labels); InvalidArgument for no images or top_k < 1.
  ImageClassification classify(const std::vector<image::RgbImage>& images, int64_t top_k) const;

  const ModelKind& kind() const { return kind_; }
  const ImageClassifier& model() const { return *model_; }
  const image::ImageProcessor& processor() const { return *processor_; }
  Device device() const { return model_->device(); }

 private:
  ImageClassificationEndpoint() = default;
  ModelKind kind_;
  std::unique_ptr<ImageClassifier> model_;
  std::unique_ptr<image::ImageProcessor> processor_;
  bool multi_label_ = false;  // problem_type multi_label_classification, or one label: sigmoid scores
};

struct ImageTextSimilarity {
  std::vector<std::vector<float>> logits_per_image;  // [images][texts]
  std::vector<std::vector<float>> text_embeds;       // normalized
  std::vector<std::vector<float>> image_embeds;      // normalized
  double tokenize_ms = 0, preprocess_ms = 0, inference_ms = 0;
};

class ImageTextEndpoint {
 public:
  static std::shared_ptr<ImageTextEndpoint> load(const std::string& dir, Device device, DType dtype);

  // Token ids of each text as CLIPTokenizer gives them (special tokens added), cut to the model's
  // positions as transformers' truncation=True cuts them (the end-of-text token kept).
  std::vector<tok::Encoding> tokenize(const std::vector<std::string>& texts) const;
  // [texts, projection_dim] on the host; InvalidArgument for no texts.
  Tensor text_embeddings(const std::vector<std::string>& texts, bool normalize, double* tokenize_ms = nullptr,
                         double* inference_ms = nullptr) const;
  Tensor text_embeddings_of_ids(const std::vector<std::vector<int32_t>>& ids, bool normalize) const;
  // [images, projection_dim] on the host; InvalidArgument for no images.
  Tensor image_embeddings(const std::vector<image::RgbImage>& images, bool normalize, double* preprocess_ms = nullptr,
                          double* inference_ms = nullptr) const;
  Tensor image_embeddings_of(const Tensor& pixel_values, bool normalize) const;
  ImageTextSimilarity similarity(const std::vector<image::RgbImage>& images,
                                 const std::vector<std::string>& texts) const;

  const ModelKind& kind() const { return kind_; }
  const ImageTextModel& model() const { return *model_; }
  const image::ImageProcessor& processor() const { return *processor_; }
  const tok::Tokenizer& tokenizer() const { return *tokenizer_; }
  Device device() const { return model_->device(); }

 private:
  ImageTextEndpoint() = default;
  ModelKind kind_;
  std::unique_ptr<ImageTextModel> model_;
  std::unique_ptr<image::ImageProcessor> processor_;
  std::shared_ptr<tok::Tokenizer> tokenizer_;
};

// The images grouped by the size their pixel_values come out at, each group in input order:
// what one forward pass can take.
std::vector<std::vector<size_t>> group_by_output_size(const image::ImageProcessor& p,
                                                      const std::vector<image::RgbImage>& images);

}  // namespace ia
