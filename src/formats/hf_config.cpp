#include "formats/hf_config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/json_messages.h"

namespace ia {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

}  // namespace

// ---------------------------------------------------------------------------
// HfConfig

HfConfig::HfConfig() : j_(std::make_shared<const Json>(Json::object())) {}

HfConfig HfConfig::from_json(const Json& j, const std::string& source) {
  if (!j.is_object()) fail(ErrorKind::Corrupt, "{}: is a JSON {}, not an object", source, j.type_name());
  HfConfig c;
  c.j_ = std::make_shared<const Json>(j);
  c.source_ = source;
  return c;
}

HfConfig HfConfig::load_file(const std::string& path) {
  if (!is_file(path)) fail(ErrorKind::NotFound, "{}: no such file", path);
  return from_json(read_json_file(path), path);
}

HfConfig HfConfig::load(const std::string& dir) {
  fs::path p = fs::path(dir) / "config.json";
  if (!is_file(p)) fail(ErrorKind::NotFound, "{}: no config.json", dir);
  return from_json(read_json_file(p.string()), p.string());
}

const Json* HfConfig::find(const std::string& key) const {
  auto it = j_->find(key);
  if (it == j_->end() || it->is_null()) return nullptr;
  return &*it;
}

bool HfConfig::has(const std::string& key) const {
  return find(key) != nullptr;
}

std::optional<int64_t> HfConfig::opt_int(const std::string& key) const {
  const Json* v = find(key);
  if (!v) return std::nullopt;
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX))
      fail(ErrorKind::Corrupt, "{}: '{}' is {}, too large", source_, key, brief_json(*v));
    return static_cast<int64_t>(u);
  }
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9.0e18) return static_cast<int64_t>(d);
  }
  fail(ErrorKind::Corrupt, "{}: '{}' is {}, not an integer", source_, key, brief_json(*v));
}

std::optional<double> HfConfig::opt_float(const std::string& key) const {
  const Json* v = find(key);
  if (!v) return std::nullopt;
  if (v->is_number()) return v->get<double>();
  fail(ErrorKind::Corrupt, "{}: '{}' is {}, not a number", source_, key, brief_json(*v));
}

std::optional<std::string> HfConfig::opt_string(const std::string& key) const {
  const Json* v = find(key);
  if (!v) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  fail(ErrorKind::Corrupt, "{}: '{}' is {}, not a string", source_, key, brief_json(*v));
}

std::optional<bool> HfConfig::opt_bool(const std::string& key) const {
  const Json* v = find(key);
  if (!v) return std::nullopt;
  if (v->is_boolean()) return v->get<bool>();
  fail(ErrorKind::Corrupt, "{}: '{}' is {}, not true/false", source_, key, brief_json(*v));
}

int64_t HfConfig::get_int(const std::string& key, int64_t def) const {
  return opt_int(key).value_or(def);
}
double HfConfig::get_float(const std::string& key, double def) const {
  return opt_float(key).value_or(def);
}
std::string HfConfig::get_string(const std::string& key, const std::string& def) const {
  return opt_string(key).value_or(def);
}
bool HfConfig::get_bool(const std::string& key, bool def) const {
  return opt_bool(key).value_or(def);
}

int64_t HfConfig::require_int(const std::string& key) const {
  auto v = opt_int(key);
  if (!v) fail(ErrorKind::Corrupt, "{}: missing required key '{}'", source_, key);
  return *v;
}

double HfConfig::require_float(const std::string& key) const {
  auto v = opt_float(key);
  if (!v) fail(ErrorKind::Corrupt, "{}: missing required key '{}'", source_, key);
  return *v;
}

std::string HfConfig::require_string(const std::string& key) const {
  auto v = opt_string(key);
  if (!v) fail(ErrorKind::Corrupt, "{}: missing required key '{}'", source_, key);
  return *v;
}

std::optional<HfConfig> HfConfig::sub(const std::string& key) const {
  const Json* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_object()) fail(ErrorKind::Corrupt, "{}: '{}' is {}, not an object", source_, key, brief_json(*v));
  HfConfig c;
  c.j_ = std::shared_ptr<const Json>(j_, v);  // aliasing: shares ownership of the whole document
  c.source_ = source_ + ":" + key;
  return c;
}

std::string HfConfig::model_type() const {
  return get_string("model_type", "");
}

std::vector<std::string> HfConfig::architectures() const {
  std::vector<std::string> out;
  const Json* v = find("architectures");
  if (!v) return out;
  if (!v->is_array()) fail(ErrorKind::Corrupt, "{}: 'architectures' is {}, not a list", source_, brief_json(*v));
  for (const auto& a : *v) {
    if (!a.is_string()) fail(ErrorKind::Corrupt, "{}: 'architectures' holds {}, not a string", source_, brief_json(a));
    out.push_back(a.get<std::string>());
  }
  return out;
}

const Json& HfConfig::json() const {
  return *j_;
}

// ---------------------------------------------------------------------------
// BertConfig

namespace {

// The first of `keys` present in cfg (an alias list), or nullptr.
const char* first_key(const HfConfig& cfg, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    if (cfg.has(k)) return k;
  }
  return nullptr;
}

int64_t require_int_alias(const HfConfig& cfg, std::initializer_list<const char*> keys) {
  const char* k = first_key(cfg, keys);
  if (!k) fail(ErrorKind::Corrupt, "{}: missing required key '{}'", cfg.path(), *keys.begin());
  return cfg.require_int(k);
}

}  // namespace

BertConfig BertConfig::from(const HfConfig& cfg) {
  BertConfig c;
  c.model_type = cfg.model_type();
  const std::string& f = cfg.path();
  const bool distil =
      c.model_type == "distilbert" || (!cfg.has("hidden_size") && cfg.has("dim") && cfg.has("n_layers"));
  // CLAP's text tower is RoBERTa (ClapTextEmbeddings' positions start past the padding id).
  const bool roberta = c.model_type == "roberta" || c.model_type == "xlm-roberta" || c.model_type == "camembert" ||
                       c.model_type == "clap_text_model";
  if (c.model_type.empty()) c.model_type = distil ? "distilbert" : "bert";

  c.vocab_size = cfg.require_int("vocab_size");
  c.hidden_size = require_int_alias(cfg, {"hidden_size", "dim"});
  c.num_hidden_layers = require_int_alias(cfg, {"num_hidden_layers", "n_layers"});
  c.num_attention_heads = require_int_alias(cfg, {"num_attention_heads", "n_heads"});
  c.intermediate_size = require_int_alias(cfg, {"intermediate_size", "hidden_dim"});
  const char* act = first_key(cfg, {"hidden_act", "activation"});
  c.hidden_act = act ? cfg.require_string(act) : "gelu";
  c.max_position_embeddings = cfg.get_int("max_position_embeddings", 512);
  c.type_vocab_size = cfg.get_int("type_vocab_size", distil ? 0 : 2);
  c.layer_norm_eps = cfg.get_float("layer_norm_eps", roberta ? 1e-5 : 1e-12);
  c.pad_token_id = cfg.get_int("pad_token_id", roberta ? 1 : 0);
  c.position_embedding_type = cfg.get_string("position_embedding_type", "absolute");
  c.padding_offset_positions = roberta;
  c.sinusoidal_positions = distil && cfg.get_bool("sinusoidal_pos_embds", false);

  auto positive = [&](const char* what, int64_t v) {
    if (v <= 0) fail(ErrorKind::Corrupt, "{}: {} must be positive, got {}", f, what, v);
  };
  positive("vocab_size", c.vocab_size);
  positive("hidden_size", c.hidden_size);
  positive("num_hidden_layers", c.num_hidden_layers);
  positive("num_attention_heads", c.num_attention_heads);
  positive("intermediate_size", c.intermediate_size);
  positive("max_position_embeddings", c.max_position_embeddings);
  auto at_most = [&](const char* what, int64_t v, int64_t limit) {
    if (v > limit) fail(ErrorKind::Corrupt, "{}: {} {} is more than the limit of {}", f, what, v, limit);
  };
  at_most("vocab_size", c.vocab_size, kMaxConfigVocabSize);
  at_most("hidden_size", c.hidden_size, kMaxConfigDimension);
  at_most("num_hidden_layers", c.num_hidden_layers, kMaxConfigLayers);
  at_most("num_attention_heads", c.num_attention_heads, kMaxConfigDimension);
  at_most("intermediate_size", c.intermediate_size, kMaxConfigDimension);
  at_most("max_position_embeddings", c.max_position_embeddings, kMaxConfigPositions);
  at_most("type_vocab_size", c.type_vocab_size, kMaxConfigVocabSize);
  if (c.hidden_size % c.num_attention_heads != 0) {
    fail(ErrorKind::Corrupt, "{}: hidden_size {} is not divisible by num_attention_heads {}", f, c.hidden_size,
         c.num_attention_heads);
  }
  if (c.type_vocab_size < 0)
    fail(ErrorKind::Corrupt, "{}: type_vocab_size must not be negative, got {}", f, c.type_vocab_size);
  if (!(c.layer_norm_eps > 0) || !std::isfinite(c.layer_norm_eps)) {
    fail(ErrorKind::Corrupt, "{}: layer_norm_eps must be a positive number, got {}", f, c.layer_norm_eps);
  }
  if (c.pad_token_id < 0 || c.pad_token_id >= c.vocab_size) {
    fail(ErrorKind::Corrupt, "{}: pad_token_id {} is outside the vocabulary (vocab_size {})", f, c.pad_token_id,
         c.vocab_size);
  }
  if (c.padding_offset_positions && c.max_position_embeddings <= c.pad_token_id + 1) {
    fail(ErrorKind::Corrupt, "{}: max_position_embeddings {} leaves no positions after the padding offset {}", f,
         c.max_position_embeddings, c.pad_token_id + 1);
  }
  return c;
}

// ---------------------------------------------------------------------------
// sentence-transformers

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void read_pooling(const std::string& path, SentenceTransformerConfig* st) {
  HfConfig p = HfConfig::load_file(path);
  struct Mode {
    const char* key;
    PoolMode mode;
  };
  static const Mode kModes[] = {
      {"pooling_mode_cls_token", PoolMode::Cls},       {"pooling_mode_mean_tokens", PoolMode::Mean},
      {"pooling_mode_max_tokens", PoolMode::Max},      {"pooling_mode_mean_sqrt_len_tokens", PoolMode::MeanSqrtLen},
      {"pooling_mode_lasttoken", PoolMode::LastToken}, {"pooling_mode_weightedmean_tokens", PoolMode::WeightedMean},
  };
  std::vector<PoolMode> on;
  for (const auto& m : kModes) {
    if (p.get_bool(m.key, false)) on.push_back(m.mode);
  }
  if (on.empty()) fail(ErrorKind::Corrupt, "{}: no pooling mode is enabled", path);
  if (on.size() > 1) {
    std::string names;
    for (PoolMode m : on) names += (names.empty() ? "" : ", ") + std::string(pool_mode_name(m));
    fail(ErrorKind::Unsupported, "{}: several pooling modes at once ({}) are not supported", path, names);
  }
  st->pooling = on.front();
  st->word_embedding_dimension = p.get_int("word_embedding_dimension", 0);
  st->include_prompt = p.get_bool("include_prompt", true);
}

// sentence_bert_config.json of the Transformer module: max_seq_length, do_lower_case.
void read_transformer_config(const fs::path& folder, SentenceTransformerConfig* st) {
  const fs::path path = folder / "sentence_bert_config.json";
  if (!is_file(path)) return;
  HfConfig c = HfConfig::load_file(path.string());
  if (std::optional<int64_t> n = c.opt_int("max_seq_length")) {
    if (*n < 1 || *n > kMaxConfigPositions)
      fail(ErrorKind::Corrupt, "{}: max_seq_length must be a positive number of tokens, got {}", path.string(), *n);
    st->max_seq_length = n;
  }
  st->do_lower_case = c.get_bool("do_lower_case", false);
}

// config_sentence_transformers.json: prompts and default_prompt_name.
void read_prompts(const fs::path& dir, SentenceTransformerConfig* st) {
  const fs::path path = dir / "config_sentence_transformers.json";
  if (!is_file(path)) return;
  const std::string f = path.string();
  HfConfig c = HfConfig::load_file(f);
  if (c.has("prompts")) {
    const Json& prompts = c.json().at("prompts");
    if (!prompts.is_object())
      fail(ErrorKind::Corrupt, "{}: 'prompts' is {}, not an object of named prompts", f, brief_json(prompts));
    for (const auto& [name, text] : prompts.items()) {
      if (!text.is_string())
        fail(ErrorKind::Corrupt, "{}: prompt \"{}\" is {}, not a string", f, name, brief_json(text));
      st->prompts.emplace_back(name, text.get<std::string>());
    }
  }
  st->default_prompt_name = c.opt_string("default_prompt_name");
  if (st->default_prompt_name && !st->prompt(*st->default_prompt_name))
    fail(ErrorKind::Corrupt, "{}: default_prompt_name \"{}\" is not one of its prompts", f, *st->default_prompt_name);
}

}  // namespace

const std::string* SentenceTransformerConfig::prompt(const std::string& name) const {
  for (const auto& [n, text] : prompts)
    if (n == name) return &text;
  return nullptr;
}

std::optional<SentenceTransformerConfig> load_sentence_transformer_config(const std::string& dir) {
  const fs::path d(dir);
  const fs::path modules = d / "modules.json";
  const fs::path default_pooling = d / "1_Pooling" / "config.json";
  if (!is_file(modules)) {
    if (!is_file(default_pooling)) return std::nullopt;
    SentenceTransformerConfig st;
    read_pooling(default_pooling.string(), &st);
    read_transformer_config(d, &st);
    read_prompts(d, &st);
    return st;
  }
  const std::string mp = modules.string();
  Json j = read_json_file(mp);
  if (!j.is_array()) fail(ErrorKind::Corrupt, "{}: is a JSON {}, not a list of modules", mp, j.type_name());
  SentenceTransformerConfig st;
  for (const Json& m : j) {
    if (!m.is_object()) fail(ErrorKind::Corrupt, "{}: module {} is not an object", mp, brief_json(m));
    auto t = m.find("type");
    if (t == m.end() || !t->is_string())
      fail(ErrorKind::Corrupt, "{}: module {} has no type string", mp, brief_json(m));
    std::string type = t->get<std::string>();
    std::string path;
    auto p = m.find("path");
    if (p != m.end()) {
      if (!p->is_string()) fail(ErrorKind::Corrupt, "{}: module {} path is not a string", mp, brief_json(m));
      path = p->get<std::string>();
    }
    const fs::path rel(path);
    if (rel.is_absolute() || std::any_of(rel.begin(), rel.end(), [](const fs::path& c) { return c == ".."; }))
      fail(ErrorKind::Corrupt, "{}: module {} has a path outside the model folder", mp, brief_json(m));
    st.module_types.push_back(type);
    st.module_paths.push_back(path.empty() ? d.string() : (d / path).string());
    if (ends_with(type, "Transformer")) {
      read_transformer_config(d / path, &st);
    } else if (ends_with(type, "Pooling")) {
      if (st.pooling) fail(ErrorKind::Unsupported, "{}: more than one Pooling module", mp);
      fs::path pc = d / path / "config.json";
      if (!is_file(pc)) fail(ErrorKind::NotFound, "{}: the Pooling module's {} is missing", mp, pc.string());
      read_pooling(pc.string(), &st);
    } else if (ends_with(type, "Normalize")) {
      st.normalize = true;
    } else if (ends_with(type, "Dense")) {
      st.dense_paths.push_back((d / path).string());
    }
  }
  read_prompts(d, &st);
  return st;
}

std::optional<TokenizerConfigInfo> load_tokenizer_config_info(const std::string& dir) {
  fs::path p = fs::path(dir) / "tokenizer_config.json";
  if (!is_file(p)) return std::nullopt;
  HfConfig c = HfConfig::load_file(p.string());
  TokenizerConfigInfo info;
  if (c.has("model_max_length")) {
    const Json& v = c.json().at("model_max_length");
    if (!v.is_number())
      fail(ErrorKind::Corrupt, "{}: 'model_max_length' is {}, not a number", p.string(), brief_json(v));
    double d = v.get<double>();
    // transformers writes int(1e30) for "no limit".
    if (d > 0 && d < 1e15) info.model_max_length = c.get_int("model_max_length", 0);
  }
  info.do_lower_case = c.opt_bool("do_lower_case");
  info.tokenizer_class = c.opt_string("tokenizer_class");
  return info;
}

}  // namespace ia
