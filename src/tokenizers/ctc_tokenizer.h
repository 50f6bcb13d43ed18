#pragma once
// transformers' Wav2Vec2CTCTokenizer, the decoding half: a character vocabulary (vocab.json)
// whose pad token is the CTC blank and whose word delimiter ("|") stands for a space. Decoding a
// frame-wise argmax: ids -> tokens (unknown ids become the unk token), special tokens dropped
// first when asked (the pad token with them, so a blank no longer separates two equal letters,
// as transformers does), repeats collapsed, pad tokens dropped, the delimiter replaced by
// `replace_word_delimiter_char`, joined and stripped, lowercased with do_lower_case, and
// transformers' clean_up_tokenization when tokenizer_config.json asks for it.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace ia::tok {

struct CtcTokenizerOptions {
  std::string pad_token = "<pad>";
  std::string unk_token = "<unk>";
  std::string bos_token = "<s>";
  std::string eos_token = "</s>";
  std::string word_delimiter_token = "|";
  std::string replace_word_delimiter_char = " ";
  bool do_lower_case = false;
  bool clean_up_tokenization_spaces = false;  // transformers' default since 4.45
  std::vector<std::string> additional_special_tokens;
};

class CtcTokenizer {
 public:
  // DIR/vocab.json (a flat {token: id} object, or one per language with tokenizer_config.json's
  // target_lang), DIR/tokenizer_config.json (special tokens, word_delimiter_token,
  // replace_word_delimiter_char, do_lower_case, clean_up_tokenization_spaces,
  // added_tokens_decoder) and DIR/special_tokens_map.json (special tokens the config lacks).
  // NotFound without vocab.json; Corrupt for malformed files.
  static std::shared_ptr<CtcTokenizer> load(const std::string& dir);
  CtcTokenizer(std::unordered_map<std::string, int64_t> vocab, CtcTokenizerOptions options,
               std::unordered_map<int64_t, std::string> added_tokens = {});

  // The text of a frame-wise id sequence (CTC greedy decoding). skip_special_tokens as
  // transformers (false in its ASR pipeline, which keeps "<s>" and "</s>" in the text);
  // group_tokens false decodes without collapsing repeats.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false, bool group_tokens = true) const;

  // The token of an id: the vocabulary's, then an added token's, else the unk token.
  const std::string& id_to_token(int64_t id) const;
  // The id of a token, -1 when the vocabulary has none.
  int64_t token_to_id(const std::string& token) const;
  int64_t vocab_size() const { return static_cast<int64_t>(decoder_.size()); }
  const CtcTokenizerOptions& options() const { return options_; }

 private:
  std::unordered_map<std::string, int64_t> encoder_;
  std::unordered_map<int64_t, std::string> decoder_;
  std::unordered_map<int64_t, std::string> added_;
  CtcTokenizerOptions options_;
};

}  // namespace ia::tok
