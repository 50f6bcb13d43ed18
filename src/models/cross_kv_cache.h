#pragma once
// The cross-attention cache of an encoder-decoder request (KvSource::CrossCache): the keys and
// values every cross-attention layer of the decoder reads, projected once from the encoder's
// output when the request starts and kept, unchanged, until it ends (Whisper and T5 decoders).
// Encoder sequences are packed back to back; the runtime tells each decoder sequence which of
// them it attends to (StepInputs::cross_ranges), so the beams of one prompt share its rows.
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace ia {

struct CrossKvCache {
  // Per decoder layer: [rows, kv_heads, head_dim] f32 on the model's device (views of one K|V
  // projection); undefined for a layer without cross-attention.
  std::vector<Tensor> k, v;
  // Host [E + 1]: encoder sequence e owns rows starts[e] .. starts[e + 1] - 1.
  std::vector<int64_t> starts;

  int64_t sequences() const { return starts.empty() ? 0 : static_cast<int64_t>(starts.size()) - 1; }
};

}  // namespace ia
