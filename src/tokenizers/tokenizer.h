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

#include <nlohmann/json_fwd.hpp>

namespace ia::tok {

struct Encoding {
  std::vector<int32_t> ids, type_ids, special_tokens_mask, attention_mask;
  std::vector<std::string> tokens;
  std::vector<std::pair<size_t, size_t>> offsets;  // char offsets into the original text
};

// tokenizer.json "truncation" (HF TruncationParams). Overflowing pieces are
// not kept, so `stride` only matters for validation.
struct TruncationParams {
  enum class Strategy { LongestFirst, OnlyFirst, OnlySecond };
  size_t max_length = 512;
  size_t stride = 0;
  Strategy strategy = Strategy::LongestFirst;
  bool left = false;  // direction Left: drop tokens from the start
};

// tokenizer.json "padding" (HF PaddingParams).
struct PaddingParams {
  std::optional<size_t> fixed;  // Fixed(n); nullopt = BatchLongest
  size_t pad_to_multiple_of = 0;
  bool left = false;
  int32_t pad_id = 0, pad_type_id = 0;
  std::string pad_token = "[PAD]";
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
  // dir/tokenizer.json, else legacy files: vocab.txt (BERT), vocab.json +
  // merges.txt (GPT-2), tokenizer.model (SentencePiece), configured from
  // tokenizer_config.json / special_tokens_map.json; clear NotFound otherwise.
  static std::shared_ptr<Tokenizer> from_folder(const std::string& dir);

  // Truncation and padding from the file are applied, as HF `tokenizers`
  // does (transformers turns them off per call: use with_truncation /
  // with_padding(std::nullopt) before sharing the tokenizer for that).
  Encoding encode(std::string_view text, bool add_special_tokens = true) const;
  Encoding encode_pair(std::string_view a, std::string_view b, bool add_special_tokens = true) const;
  // As encode, with transformers' per-call truncation (truncation=True, max_length=N) in place
  // of the tokenizer's own: the text's tokens are cut from the right, before the post-processor,
  // so that with its special tokens the result has at most max_length. InvalidArgument when
  // max_length leaves no room for a token of the text.
  Encoding encode_truncated(std::string_view text, size_t max_length, bool add_special_tokens = true) const;
  // In parallel on the thread pool; results in input order; padding (if set)
  // over the whole batch.
  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts, bool add_special_tokens = true) const;
  std::vector<Encoding> encode_batch_pairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                                           bool add_special_tokens = true) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = true) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  size_t vocab_size() const;                    // including added tokens
  std::optional<int32_t> pad_token_id() const;  // from padding config or "[PAD]"/"<pad>" added token if present

  const std::optional<TruncationParams>& truncation() const { return truncation_; }
  const std::optional<PaddingParams>& padding() const { return padding_; }
  // Not thread-safe: configure before sharing the tokenizer.
  void with_truncation(std::optional<TruncationParams> t);  // throws InvalidArgument on a bad stride
  void with_padding(std::optional<PaddingParams> p) { padding_ = std::move(p); }

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

 private:
  Tokenizer();
  static std::shared_ptr<Tokenizer> parse(const std::string& json, const std::string& source);
  // Builds from a parsed tokenizer.json; a given model / decoder replaces the
  // file's (legacy SentencePiece folders run libsentencepiece as the model).
  static std::shared_ptr<Tokenizer> from_json(const nlohmann::json& j, const std::string& source,
                                              std::unique_ptr<Model> model, std::unique_ptr<Decoder> decoder);
  Encoding encode_one(std::string_view text, int32_t type_id) const;
  Encoding finish(std::vector<Encoding>&& encs, bool add_special_tokens, const TruncationParams* truncation) const;
  Encoding encode_unpadded(std::string_view a, const std::string_view* b, bool add_special_tokens) const;
  // A single encoding padded as the tokenizer's padding config says (fixed length; as is without one).
  Encoding padded_one(Encoding e) const;
  friend struct LegacyLoader;

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::unique_ptr<Decoder> decoder_;
  std::unique_ptr<AddedVocabulary> added_;
  std::optional<int32_t> pad_id_;
  std::optional<TruncationParams> truncation_;
  std::optional<PaddingParams> padding_;
  size_t added_single_ = 0, added_pair_ = 0;  // special tokens the post-processor adds
  size_t vocab_size_ = 0;
};

}  // namespace ia::tok
