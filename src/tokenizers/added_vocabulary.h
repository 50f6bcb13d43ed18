#pragma once
// Added tokens (special or not) are cut out of the text before the model
// sees it: non-normalized ones on the raw input, normalized ones on the
// normalized pieces, leftmost-longest, as HF's AddedVocabulary does.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tokenizers/normalizers.h"
#include "tokenizers/pre_tokenized.h"
#include "tokenizers/vocab.h"

namespace ia::tok {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

class AddedVocabulary {
 public:
  // Registers the tokens and compiles both matchers; `normalizer` (may be
  // null) normalizes the contents of normalized tokens.
  void build(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  std::optional<int32_t> token_to_id(std::string_view content) const;
  const AddedToken* by_id(int32_t id) const;
  bool is_special(std::string_view content) const { return special_.count(std::string(content)) > 0; }
  const std::vector<AddedToken>& tokens() const { return tokens_; }

  // Splits `pts` on added tokens and normalizes the remaining pieces.
  void extract_and_normalize(const Normalizer* normalizer, PreTokenizedString& pts) const;

 private:
  // Byte trie for leftmost-longest matching; `token` indexes tokens_.
  struct Trie {
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> next;  // sorted by byte
      int32_t token = -1;
    };
    std::vector<Node> nodes{Node{}};
    bool first_byte[256] = {};
    void insert(std::string_view s, int32_t token);
    // Longest token starting at s[pos]: (token index, length) or token -1.
    std::pair<int32_t, size_t> longest_at(std::string_view s, size_t pos) const;
    bool empty() const { return nodes.size() == 1; }
  };
  void split_with(const Trie& trie, NormalizedString&& n, std::vector<Split>& out) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> by_content_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_set<std::string> special_;
  Trie raw_, normalized_;
};

}  // namespace ia::tok
