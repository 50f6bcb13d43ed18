#pragma once
// The model stage: turns one pre-tokenized word into vocabulary tokens.
// WordPiece and WordLevel live here today; BPE and Unigram implement the same
// interface and register in make_model().
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizers/normalized_string.h"

namespace ia::tok {

struct Token {
  int32_t id = 0;
  std::string value;
  Offsets offsets;  // byte offsets into the word that was tokenized
};

class Model {
 public:
  virtual ~Model() = default;
  // Appends the tokens of `word` (a non-empty normalized, pre-tokenized piece) to out.
  virtual void tokenize(std::string_view word, std::vector<Token>& out) const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual std::optional<std::string> id_to_token(int32_t id) const = 0;
  virtual size_t vocab_size() const = 0;
  // Every token string of the vocabulary (to count the union with added tokens).
  virtual std::vector<std::string_view> tokens() const = 0;
};

// Builds the model described by tokenizer.json's "model" object; throws
// ia::Error (Corrupt / Unsupported) naming the model on bad input.
std::unique_ptr<Model> make_model(const nlohmann::json& j);

}  // namespace ia::tok
