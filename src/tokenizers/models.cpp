// Model factory: picks the model from tokenizer.json's "model" object.
#include "tokenizers/json_util.h"
#include "tokenizers/models_impl.h"

namespace ia::tok {

std::unique_ptr<Model> make_model(const nlohmann::json& j) {
  if (!j.is_object()) fail(ErrorKind::Corrupt, "model: expected a JSON object");
  std::string type;
  if (const auto* t = js::opt(j, "type")) {
    if (!t->is_string()) fail(ErrorKind::Corrupt, "model: field 'type' must be a string");
    type = t->get<std::string>();
  } else {
    // Old files omit "type"; HF deserializes them untagged, so infer it the same way.
    if (j.contains("merges")) {
      type = "BPE";
    } else if (j.contains("continuing_subword_prefix") || j.contains("max_input_chars_per_word")) {
      type = "WordPiece";
    } else if (j.contains("vocab") && j["vocab"].is_array()) {
      type = "Unigram";
    } else {
      type = "WordLevel";
    }
  }
  if (type == "WordPiece") return std::make_unique<WordPiece>(j);
  if (type == "WordLevel") return std::make_unique<WordLevel>(j);
  if (type == "BPE") return std::make_unique<Bpe>(j);
  if (type == "Unigram") return std::make_unique<Unigram>(j);
  fail(ErrorKind::Unsupported, "model: type '{}' is not supported (supported: WordPiece, WordLevel, BPE, Unigram)",
       type);
}

}  // namespace ia::tok
