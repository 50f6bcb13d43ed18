#pragma once
// A SentencePiece tokenizer.model run by libsentencepiece itself, for folders
// that ship no tokenizer.json: the model stage (spm does its own
// normalization, dummy prefix and segmentation) and the decoder.
#include <memory>
#include <string>
#include <unordered_set>

#include "tokenizers/decoders.h"
#include "tokenizers/model.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace ia::tok {

class SentencePieceModel final : public Model {
 public:
  // Throws NotFound / Corrupt naming the file.
  explicit SentencePieceModel(const std::string& path);
  void tokenize(std::string_view word, std::vector<Token>& out) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::optional<std::string> id_to_token(int32_t id) const override;
  size_t vocab_size() const override;
  std::vector<std::string_view> tokens() const override;
  const std::shared_ptr<sentencepiece::SentencePieceProcessor>& processor() const { return sp_; }

 private:
  std::shared_ptr<sentencepiece::SentencePieceProcessor> sp_;
};

// Runs of ordinary pieces are decoded by spm; `verbatim` tokens (the added
// special tokens) are copied as they are.
class SentencePieceDecoder final : public Decoder {
 public:
  SentencePieceDecoder(std::shared_ptr<sentencepiece::SentencePieceProcessor> sp,
                       std::unordered_set<std::string> verbatim)
      : sp_(std::move(sp)), verbatim_(std::move(verbatim)) {}
  void decode_chain(std::vector<std::string>& tokens) const override;

 private:
  std::shared_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::unordered_set<std::string> verbatim_;
};

}  // namespace ia::tok
