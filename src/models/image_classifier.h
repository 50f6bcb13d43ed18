#pragma once
// The interface of an image classifier (ViTForImageClassification today; DeiT, BEiT, Swin heads
// are the same shape): pixel_values in, one row of class logits per image out, with the labels of
// the config's id2label.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace ia {

struct ImageClassifierOutput {
  Tensor logits;             // [B, num_labels] f32 on the model's device
  Tensor last_hidden_state;  // [B * T, hidden]: every image's tokens back to back (after the final norm)
  Tensor hidden_states;      // the same before the final norm: transformers' output_hidden_states[-1]
  Tensor pooled;             // [B, hidden]: the rows the classifier reads
  int64_t tokens_per_image = 0;
};

class ImageClassifier {
 public:
  virtual ~ImageClassifier() = default;

  virtual int64_t num_labels() const = 0;
  // id2label in id order ("LABEL_i" where the config names none).
  virtual const std::vector<std::string>& labels() const = 0;
  virtual int64_t hidden_size() const = 0;
  // The input size of the checkpoint's position table (height, width); other sizes interpolate.
  virtual std::pair<int64_t, int64_t> image_size() const = 0;
  virtual DType compute_dtype() const = 0;
  virtual Device device() const = 0;

  // pixel_values [B, C, H, W] f32 (the image processor's, on the host or the device).
  virtual ImageClassifierOutput forward(const Tensor& pixel_values) const = 0;
};

}  // namespace ia
