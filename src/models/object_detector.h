#pragma once
// The interface of an object detector (DetrForObjectDetection): images in, for each a fixed set
// of query slots with class logits (the last class is "no object") and normalised boxes out,
// with the labels of the config's id2label.
#include <cstdint>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace ia {

struct ObjectDetectorOutput {
  Tensor logits;      // [B, queries, num_labels + 1] f32 on the host; the last column is "no object"
  Tensor pred_boxes;  // [B, queries, 4] f32 on the host: (center x, center y, width, height) in [0, 1]
  // Each image's encoder input size (feature-map height and width), for callers that check it.
  std::vector<std::pair<int64_t, int64_t>> feature_sizes;
};

class ObjectDetector {
 public:
  virtual ~ObjectDetector() = default;

  virtual int64_t num_labels() const = 0;  // without the no-object class
  // id2label in id order ("LABEL_i" where the config names none).
  virtual const std::vector<std::string>& labels() const = 0;
  virtual int64_t num_queries() const = 0;
  virtual DType compute_dtype() const = 0;
  virtual Device device() const = 0;

  // Each image's pixel_values [C, H, W] (or [1, C, H, W]) f32 at its own size, unpadded: every
  // image runs as transformers runs it alone (a pixel_mask of ones), the images of one call
  // packed into one encoder and one decoder pass.
  virtual ObjectDetectorOutput forward(const std::vector<Tensor>& pixel_values) const = 0;
};

}  // namespace ia
