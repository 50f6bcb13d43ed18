#pragma once
// The input split into pieces (each a NormalizedString slice of the whole
// input); pieces that already carry tokens (added tokens) are left alone by
// later stages. Ends as an Encoding with char offsets into the input.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tokenizers/model.h"
#include "tokenizers/normalized_string.h"
#include "tokenizers/tokenizer.h"

namespace ia::tok {

struct Split {
  NormalizedString normalized;
  std::optional<std::vector<Token>> tokens;
};

class PreTokenizedString {
 public:
  explicit PreTokenizedString(std::string original);

  // Replaces every token-less split by what `fn` appends to its output vector;
  // empty pieces are dropped.
  void split(const std::function<void(NormalizedString&&, std::vector<Split>&)>& fn);
  // Convenience: split each piece by matches with a behavior.
  void split_by(const std::function<Matches(std::string_view)>& matcher, SplitBehavior behavior);
  void tokenize(const Model& model);
  Encoding into_encoding(int32_t type_id) const;

  std::vector<Split>& splits() { return splits_; }
  const std::string& original() const { return original_; }

 private:
  std::string original_;
  std::vector<Split> splits_;
};

}  // namespace ia::tok
