#pragma once
// Hugging Face model-folder configuration: config.json (HfConfig, BertConfig),
// the sentence-transformers files (modules.json, 1_Pooling/config.json) and
// tokenizer_config.json.
//
// Errors name the file: a missing config.json is NotFound "DIR: no config.json",
// bad JSON is Corrupt with the parser's position, a value of the wrong type is
// Corrupt naming the key and the file.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/pool_mode.h"

namespace ia {

// Bounds on config.json sizes, far above any released model and low enough
// that per-layer tables and weight products cannot overflow or exhaust memory
// before the weights are checked. Past them a config is Corrupt.
inline constexpr int64_t kMaxConfigLayers = 4096;
inline constexpr int64_t kMaxConfigDimension = int64_t{1} << 20;  // hidden, intermediate, heads, head_dim
inline constexpr int64_t kMaxConfigVocabSize = int64_t{1} << 24;
inline constexpr int64_t kMaxConfigPositions = int64_t{1} << 26;

class HfConfig {
 public:
  HfConfig();
  // Reads DIR/config.json.
  static HfConfig load(const std::string& dir);
  // Reads a JSON object from any file (generation_config.json, preprocessor_config.json, ...).
  static HfConfig load_file(const std::string& path);
  // Wraps an already parsed object; `source` names it in errors. Corrupt when not an object.
  static HfConfig from_json(const nlohmann::json& j, const std::string& source);

  const std::string& path() const { return source_; }  // the file (or "file:key" for sub-objects)

  // Present and not null.
  bool has(const std::string& key) const;
  // Getters: the default when the key is absent or null; Corrupt naming key
  // and file when the value has another type. get_int accepts integral floats
  // (512.0); get_float accepts integers.
  int64_t get_int(const std::string& key, int64_t def) const;
  double get_float(const std::string& key, double def) const;
  std::string get_string(const std::string& key, const std::string& def) const;
  bool get_bool(const std::string& key, bool def) const;
  std::optional<int64_t> opt_int(const std::string& key) const;
  std::optional<double> opt_float(const std::string& key) const;
  std::optional<std::string> opt_string(const std::string& key) const;
  std::optional<bool> opt_bool(const std::string& key) const;
  // Corrupt "FILE: missing required key 'KEY'" when absent.
  int64_t require_int(const std::string& key) const;
  double require_float(const std::string& key) const;
  std::string require_string(const std::string& key) const;
  // The nested object under key (text_config, vision_config, ...); nullopt when absent or null.
  std::optional<HfConfig> sub(const std::string& key) const;

  std::string model_type() const;                  // "" when absent
  std::vector<std::string> architectures() const;  // empty when absent
  const nlohmann::json& json() const;

 private:
  std::shared_ptr<const nlohmann::json> j_;
  std::string source_;
  const nlohmann::json* find(const std::string& key) const;
};

// BERT-family encoders: bert, roberta / xlm-roberta / camembert (padding-offset
// positions), distilbert (dim / n_layers / n_heads / hidden_dim / activation).
struct BertConfig {
  std::string model_type = "bert";
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t intermediate_size = 0;
  std::string hidden_act = "gelu";
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;  // 0: no token-type embeddings (DistilBERT)
  double layer_norm_eps = 1e-12;
  int64_t pad_token_id = 0;
  std::string position_embedding_type = "absolute";
  // RoBERTa: position ids start at pad_token_id + 1 and padding keeps pad_token_id.
  bool padding_offset_positions = false;
  bool sinusoidal_positions = false;  // DistilBERT sinusoidal_pos_embds (weights still stored)

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // First position id of a real token: pad_token_id + 1 with padding offset, else 0.
  int64_t position_offset() const { return padding_offset_positions ? pad_token_id + 1 : 0; }

  // Corrupt (naming the file) when a size is not positive, hidden_size is not
  // divisible by the heads, or positions cannot fit.
  static BertConfig from(const HfConfig& cfg);
};

struct SentenceTransformerConfig {
  std::optional<PoolMode> pooling;  // nullopt: no Pooling module (or no pooling config)
  bool normalize = false;           // a Normalize module is present
  int64_t word_embedding_dimension = 0;
  bool include_prompt = true;
  std::vector<std::string> module_types;  // "sentence_transformers.models.Transformer", ...
  std::vector<std::string> module_paths;  // each module's folder (DIR for path ""), beside module_types
  std::vector<std::string> dense_paths;   // folders of Dense modules, in order (the caller decides)
  // sentence_bert_config.json (in the Transformer module's folder): texts are cut to
  // max_seq_length tokens, special tokens included; do_lower_case lowercases them first.
  std::optional<int64_t> max_seq_length;
  bool do_lower_case = false;
  // config_sentence_transformers.json: named prompts put before each text, and the one
  // used when the caller names none (a name that `prompts` has).
  std::vector<std::pair<std::string, std::string>> prompts;  // (name, text), by name
  std::optional<std::string> default_prompt_name;
  const std::string* prompt(const std::string& name) const;  // null when there is no such prompt
};

// Reads DIR/modules.json, the Pooling module's config.json (usually
// 1_Pooling/config.json), sentence_bert_config.json and config_sentence_transformers.json.
// nullopt when the folder has neither modules.json nor 1_Pooling/config.json. Corrupt on bad
// JSON, a max_seq_length that is not a positive integer, prompts that are not strings or a
// default_prompt_name that names none of them; Unsupported when several pooling modes are
// enabled at once.
std::optional<SentenceTransformerConfig> load_sentence_transformer_config(const std::string& dir);

struct TokenizerConfigInfo {
  std::optional<int64_t> model_max_length;  // nullopt when absent or the "no limit" 1e30 sentinel
  std::optional<bool> do_lower_case;
  std::optional<std::string> tokenizer_class;
};
// Reads DIR/tokenizer_config.json; nullopt when absent.
std::optional<TokenizerConfigInfo> load_tokenizer_config_info(const std::string& dir);

}  // namespace ia
