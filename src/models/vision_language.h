#pragma once
// The interface of a vision-language model (LLaVA, LLaVA-NeXT): a vision tower and projector turn
// an image's pixels into embeddings in the language model's space, one row per image token the
// processor put in the prompt; the runtime keeps them per request and each prefill step carries
// the rows its image tokens take (StepInputs::image_embeddings), which the model splices into
// the text's embeddings before its decoder runs. Text-only steps are the decoder's own.
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "models/causal_lm.h"

namespace ia {

// One image as the processor made it: its crops (LLaVA: one; LLaVA-NeXT: the resized whole image,
// then the grid's crops in row-major order), each as the vision tower's input, and the image's
// size before processing (LLaVA-NeXT unpads its feature grid to that aspect ratio).
struct ImagePixels {
  Tensor pixel_values;  // [crops, 3, H, W] f32 on the host
  int64_t height = 0, width = 0;
};

class VisionLanguage : public CausalLM {
 public:
  // The id of the image placeholder token whose rows take image features.
  virtual int64_t image_token_id() const = 0;
  // The vision tower's patch (the processor's default patch_size) and whether images are cut into
  // crops of a pinpoint grid (LLaVA-NeXT's anyres).
  virtual int64_t vision_patch_size() const = 0;
  virtual bool anyres() const = 0;
  // The number of feature rows (image tokens) one image of height x width gives.
  virtual int64_t image_tokens(int64_t height, int64_t width) const = 0;
  // The projected features of the images, each image's image_tokens() rows in order, back to back:
  // [rows, hidden] f32 on the device. InvalidArgument for pixels of the wrong shape or count.
  virtual Tensor embed_images(const std::vector<ImagePixels>& images) const = 0;
};

}  // namespace ia
