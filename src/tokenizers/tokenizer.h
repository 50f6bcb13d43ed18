#pragma once
// Hugging Face tokenizer.json pipeline: added tokens -> normalizer ->
// pre-tokenizer -> model -> post-processor, and decoder for the way back.
// Behaviour (ids, tokens, offsets, decoded text) matches HF `tokenizers`.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ia::tok {

struct Encoding {
  std::vector<int32_t> ids, type_ids, special_tokens_mask, attention_mask;
  std::vector<std::string> tokens;
  std::vector<std::pair<size_t, size_t>> offsets;  // char offsets into the original text
};

class Normalizer;
class PreTokenizer;
class Model;
class PostProcessor;
class Decoder;
class AddedVocabulary;

class Tokenizer {
 public:
  static std::shared_ptr<Tokenizer> from_file(const std::string& tokenizer_json_path);  // errors name the file
  static std::shared_ptr<Tokenizer> from_json_string(const std::string& json);
  static std::shared_ptr<Tokenizer> from_folder(const std::string& dir);  // dir/tokenizer.json; clear NotFound error otherwise

  Encoding encode(std::string_view text, bool add_special_tokens = true) const;
  Encoding encode_pair(std::string_view a, std::string_view b, bool add_special_tokens = true) const;
  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts, bool add_special_tokens = true) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = true) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  size_t vocab_size() const;  // including added tokens
  std::optional<int32_t> pad_token_id() const;  // from padding config or "[PAD]"/"<pad>" added token if present

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

 private:
  Tokenizer();
  static std::shared_ptr<Tokenizer> parse(const std::string& json, const std::string& source);
  Encoding encode_one(std::string_view text, int32_t type_id) const;
  Encoding finish(std::vector<Encoding>&& encs, bool add_special_tokens) const;

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::unique_ptr<Decoder> decoder_;
  std::unique_ptr<AddedVocabulary> added_;
  std::optional<int32_t> pad_id_;
  size_t vocab_size_ = 0;
};

}  // namespace ia::tok
