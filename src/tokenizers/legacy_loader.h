#pragma once
// Folders without tokenizer.json: BERT vocab.txt, GPT-2 vocab.json +
// merges.txt, SentencePiece tokenizer.model. The first two are turned into the
// same pipeline transformers' converters build (so they go through the
// tokenizer.json code path); tokenizer.model runs through libsentencepiece.
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace ia::tok {

class Tokenizer;
class Model;
class Decoder;

struct LegacyLoader {
  // Throws NotFound naming the files looked for when none is there.
  static std::shared_ptr<Tokenizer> load(const std::string& dir);
  // Tokenizer::from_json, for the converters (a given model/decoder replaces the file's).
  static std::shared_ptr<Tokenizer> build(const nlohmann::json& j, const std::string& source,
                                          std::unique_ptr<Model> model, std::unique_ptr<Decoder> decoder);
};

}  // namespace ia::tok
