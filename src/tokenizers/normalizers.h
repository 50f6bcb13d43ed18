#pragma once
// Normalizers: edit a NormalizedString in place, keeping alignments.
#include <memory>

#include <nlohmann/json.hpp>

#include "tokenizers/normalized_string.h"

namespace ia::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedString& s) const = 0;
};

// Builds a normalizer from its tokenizer.json object (null -> nullptr).
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j);

}  // namespace ia::tok
