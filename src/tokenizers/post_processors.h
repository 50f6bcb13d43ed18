#pragma once
// Post-processors: add the model's special tokens around one or two encoded
// sequences and set type ids (HF processors: Template, Bert, Roberta, ByteLevel, Sequence).
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "tokenizers/tokenizer.h"

namespace ia::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adjusts the encodings in place (offset trimming, type ids, added special tokens).
  virtual void process(std::vector<Encoding>& encodings, bool add_special_tokens) const = 0;
};

std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j);

// Concatenates encodings (HF Encoding::merge without growing offsets).
Encoding merge_encodings(std::vector<Encoding>&& encodings);
// ByteLevel offset trimming: drop leading/trailing (byte-level) spaces from offsets.
void trim_byte_level_offsets(Encoding& e, bool add_prefix_space);

}  // namespace ia::tok
