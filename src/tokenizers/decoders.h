#pragma once
// Decoders: turn a list of token strings back into text (HF decode_chain).
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ia::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Rewrites the token list in place; the final text is the concatenation.
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  std::string decode(std::vector<std::string> tokens) const;
};

std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j);

}  // namespace ia::tok
