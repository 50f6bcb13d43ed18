#pragma once
// Random-weight decoder model folders (config.json, model.safetensors,
// tokenizer.json, generation_config.json) shaped like real checkpoints, so
// benchmarks and tests need no download. Used by `dev random-model` and
// bench/bench_decode.cpp.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/dtype.h"

namespace ia {

// config.json of a named shape (llama-1b = TinyLlama-1.1B, qwen2-0.5b, gpt2) or
// the contents of a config.json file. InvalidArgument / Corrupt otherwise.
nlohmann::json random_decoder_preset(const std::string& like);

struct RandomDecoderInfo {
  std::string model_type;
  int64_t parameters = 0;
};

// Writes the folder `out` (created if needed) with weights in `dtype` (f32 or
// bf16) drawn from `seed`; `layers` > 0 overrides the layer count.
RandomDecoderInfo write_random_decoder(nlohmann::json config, DType dtype, const std::string& out, uint64_t seed = 0,
                                       int layers = 0);

}  // namespace ia
