#pragma once
// The interface of an encoder-decoder (T5 today; Whisper and DETR as their families land). The
// runtime runs it in three parts, the way transformers' generate does:
//   1. the encoder, once per request, over the prompts packed as an encoder step;
//   2. make_cross_cache: every cross-attention layer's K/V of that output, projected once and
//      kept by the runtime for the request (CrossKvCache);
//   3. the decoder, a CausalLM over the paged self-attention KV cache whose steps also carry
//      the cross cache and the rows of it each sequence attends to (StepInputs::cross,
//      cross_ranges), so the decoder runs through the same StepBuilder, step runner, sampling
//      and generation loop as a decoder-only model.
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "models/causal_lm.h"
#include "models/cross_kv_cache.h"
#include "models/encoder.h"

namespace ia {

class EncoderDecoder {
 public:
  virtual ~EncoderDecoder() = default;

  virtual const Encoder& encoder() const = 0;
  // The decoder: forward() needs step.cross and step.cross_ranges (InvalidArgument without).
  virtual const CausalLM& decoder() const = 0;

  // The cross-attention cache of encoder outputs [rows, hidden] f32 on the model's device
  // (sequences packed back to back, `starts` [E + 1] their rows on the host).
  virtual CrossKvCache make_cross_cache(const Tensor& encoder_hidden, std::vector<int64_t> starts) const = 0;

  // The token every decoder sequence starts from (config.json decoder_start_token_id).
  virtual int64_t decoder_start_token_id() const = 0;
};

}  // namespace ia
