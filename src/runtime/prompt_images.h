#pragma once
// The images of one request to a vision-language model, computed once before its prefill: the
// projected features of every image token of its prompt (VisionLanguage::embed_images) and the
// prompt positions they stand for. Each prefill step that covers some of those positions carries
// their rows (StepBuilder), so chunked prefill, recompute after preemption and a chat's later
// turns take the same rows. Prefix caching keys the image tokens by the images' content
// (cache_keys), so two prompts that differ only in an image never share KV blocks.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "models/vision_language.h"

namespace ia {

struct PromptImages {
  // [N, hidden] f32 on the model's device, in prompt order; undefined while `pixels` wait for the
  // thread that runs the model to embed them (BatchEngine does it when it takes the request).
  Tensor features;
  std::vector<ImagePixels> pixels;
  std::vector<int64_t> positions;  // [N] ascending prompt positions of the image tokens
  // Per image: a hash of its pixel values and the number of image tokens it has, in prompt order.
  std::vector<uint64_t> image_hashes;
  std::vector<int64_t> image_tokens;

  // The prompt with each image token replaced by a key derived from its image's hash and its
  // index in that image: negative, so never a vocabulary id, and different for different images
  // (barring a 31-bit collision on every image token of a block and of all blocks before it).
  std::vector<int32_t> cache_keys(std::span<const int32_t> prompt) const;
  // The rows of `features` for the prompt positions [first, first + count): (first row, rows),
  // each row's position in `positions`.
  std::pair<int64_t, int64_t> rows_in(int64_t first, int64_t count) const;
};

// A 64-bit hash (FNV-1a, then a final mix) of bytes: an image's content key.
uint64_t content_hash(const void* data, size_t bytes, uint64_t seed = 0);

}  // namespace ia
