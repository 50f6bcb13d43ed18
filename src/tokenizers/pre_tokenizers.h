#pragma once
// Pre-tokenizers: split the (normalized) input into words for the model.
#include <memory>

#include <nlohmann/json.hpp>

#include "tokenizers/pre_tokenized.h"

namespace ia::tok {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(PreTokenizedString& s) const = 0;
};

// Builds a pre-tokenizer from its tokenizer.json object (null -> nullptr).
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j);

SplitBehavior parse_split_behavior(const nlohmann::json& j, const std::string& what, SplitBehavior def);

}  // namespace ia::tok
