#pragma once
// Object detection (DETR): the folder's detector and image processor, and transformers'
// post_process_object_detection turned into a list of labelled boxes in the image's pixels.
//
//   post_process_object_detection: per query, the softmax over the classes; the best class that
//   is not "no object" (the last) and its probability; queries above `threshold` kept; boxes
//   (center x, center y, width, height) in [0, 1] to corners (x0, y0, x1, y1) times the image's
//   width and height. Sorted by score, highest first (transformers keeps query order; the
//   object-detection pipeline's users and the issue ask for the ranking).
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/model_registry.h"
#include "models/object_detector.h"
#include "preprocess/image/image_processor.h"

namespace ia {

struct Detection {
  int64_t label_id = 0;
  std::string label;
  float score = 0;
  std::array<float, 4> box{};  // x0, y0, x1, y1 in pixels of the original image
};

// One image's detections from its logits [queries, classes + 1] and boxes [queries, 4] (host f32),
// the image being `height` x `width` pixels. Scores strictly above `threshold` are kept.
std::vector<Detection> post_process_object_detection(const Tensor& logits, const Tensor& pred_boxes, float threshold,
                                                     int64_t height, int64_t width,
                                                     const std::vector<std::string>& labels);

struct ObjectDetectionResult {
  std::vector<std::vector<Detection>> detections;  // [images], highest score first
  double preprocess_ms = 0, inference_ms = 0;
};

class ObjectDetectionEndpoint {
 public:
  static std::shared_ptr<ObjectDetectionEndpoint> load(const std::string& dir, Device device, DType dtype);

  // InvalidArgument for no images or a threshold outside [0, 1].
  ObjectDetectionResult detect(const std::vector<image::RgbImage>& images, float threshold) const;

  const ModelKind& kind() const { return kind_; }
  const ObjectDetector& model() const { return *model_; }
  const image::ImageProcessor& processor() const { return *processor_; }
  Device device() const { return model_->device(); }

 private:
  ObjectDetectionEndpoint() = default;
  ModelKind kind_;
  std::unique_ptr<ObjectDetector> model_;
  std::unique_ptr<image::ImageProcessor> processor_;
};

}  // namespace ia
