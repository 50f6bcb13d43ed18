#pragma once
// Builds the StepInputs a model runs on (the runtime's job, never the model's):
// token ids checked against the vocabulary, positions, KV slots reserved
// all-or-nothing, block tables, sequence lengths, query starts and the rows
// that need outputs, staged in host buffers the builder keeps between steps
// and placed on the model's device.
#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "models/cross_kv_cache.h"
#include "models/kv_cache.h"
#include "models/step_inputs.h"
#include "runtime/prompt_images.h"

namespace ia {

// New tokens of one sequence of the cache (a whole prompt for prefill, one token for decode).
struct SeqChunk {
  int64_t seq = 0;
  std::span<const int32_t> tokens;
  int64_t cross = -1;  // encoder-decoders: the encoder sequence of the step's cross cache it attends to
  // Vision-language models: the request's image features; the step carries the rows of those of
  // its positions the chunk covers (StepInputs::image_embeddings). Null: text only.
  const PromptImages* images = nullptr;
};

// Which rows of a step the model's head turns into outputs.
enum class OutputRows { LastOfEachSequence, All };

class StepBuilder {
 public:
  explicit StepBuilder(Device device) : device_(device) {}

  // A causal-LM step over `chunks`: InvalidArgument for an empty chunk or an id
  // outside [0, vocab), Unavailable when the cache cannot hold every chunk; in
  // both cases nothing in the cache has changed. On success the cache holds room
  // for every new token and `reservation` says how to undo it should the step fail.
  // The block tables are at least `min_table_width` columns wide (a recorded step keeps its
  // shapes). Every input is a view of one buffer on the device (packed(): one copy per step).
  // With a cross cache (an encoder-decoder's decoder), each chunk's `cross` names the encoder
  // sequence it attends to, and the step carries the cache and those rows (StepInputs::cross).
  StepInputs causal_step(const std::vector<SeqChunk>& chunks, KvCache& cache, int64_t vocab, OutputRows rows,
                         KvCache::Reservation& reservation, int64_t min_table_width = 0,
                         const CrossKvCache* cross = nullptr);
  // The device buffer the last causal step's inputs are views of.
  const Tensor& packed() const { return placed_; }

  // An encoder step: sequences packed back to back, positions from 0 in each;
  // `types` (segment ids, one list per sequence) may be empty.
  StepInputs encoder_step(const std::vector<std::span<const int32_t>>& ids,
                          const std::vector<std::span<const int32_t>>& types, int64_t vocab);

 private:
  // A host tensor of `shape` backed by `buffer`, which grows (and is then reused) as steps need.
  Tensor staged(Tensor& buffer, const Shape& shape, DType dtype);
  Tensor placed(const Tensor& host) const;
  // The image rows of the chunks that carry images (StepInputs::image_embeddings, embedding_rows).
  void splice_images(const std::vector<SeqChunk>& chunks, StepInputs& st);

  Device device_;
  Tensor ids_, types_, positions_, starts_, image_rows_;
  Tensor packed_;  // the host side of a causal step's inputs
  Tensor placed_;  // the same on the device
};

}  // namespace ia
