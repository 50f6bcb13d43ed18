// ChatTemplate: where a model folder keeps its templates and special tokens,
// and the variables a render passes, as transformers does.
#include "tokenizers/chat_template/chat_template.h"

#include <filesystem>

#include "core/bounded_json.h"
#include "core/error.h"
#include "tokenizers/chat_template/interpreter.h"
#include "tokenizers/chat_template/parser.h"
#include "tokenizers/input_limits.h"

namespace ia::tok {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

std::string read_text(const fs::path& p) {
  return read_bounded_file(p.string(), kMaxTokenizerConfigBytes);
}

ojson read_json(const fs::path& p) {
  JsonLimits limits;
  limits.max_bytes = kMaxTokenizerConfigBytes;
  return parse_ordered_json_bounded(read_text(p), p.string(), limits);
}

std::shared_ptr<const jinja::Template> compile(const std::string& source, const std::string& where) {
  if (source.size() > kMaxChatTemplateBytes) {
    fail(ErrorKind::Corrupt, "{}: chat template of {} bytes exceeds the limit of {} bytes", where, source.size(),
         kMaxChatTemplateBytes);
  }
  try {
    return jinja::parse(source);
  } catch (const Error& e) {
    throw Error(e.kind(), where + ": " + e.what());
  }
}

// tokenizer_config.json's `chat_template`: a string, or a list of {name, template}.
void add_templates(const ojson& v, const std::string& where,
                   std::map<std::string, std::shared_ptr<const jinja::Template>>& out) {
  if (v.is_string()) {
    out["default"] = compile(v.get<std::string>(), where);
    return;
  }
  if (!v.is_array())
    fail(ErrorKind::Corrupt, "{}: chat_template must be a string or a list of {{name, template}}", where);
  for (const auto& t : v) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("template") ||
        !t["template"].is_string()) {
      fail(ErrorKind::Corrupt, "{}: each named chat template must be an object with string 'name' and 'template'",
           where);
    }
    const std::string name = t["name"].get<std::string>();
    out[name] = compile(t["template"].get<std::string>(), where + " (template '" + name + "')");
  }
}

// A special token is a string or an AddedToken object {"content": ...}.
std::optional<std::string> token_text(const ojson& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

void read_special_tokens(const ojson& cfg, ojson& vars) {
  if (!cfg.is_object()) return;
  static const char* const keys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                     "pad_token", "cls_token", "mask_token"};
  for (const char* k : keys) {
    auto it = cfg.find(k);
    if (it == cfg.end()) continue;
    if (auto t = token_text(*it)) vars[k] = *t;
  }
  auto it = cfg.find("additional_special_tokens");
  if (it != cfg.end() && it->is_array()) {
    ojson list = ojson::array();
    for (const auto& t : *it) {
      if (auto s = token_text(t)) list.push_back(*s);
    }
    vars["additional_special_tokens"] = list;
  }
}

}  // namespace

ChatTemplate ChatTemplate::from_tokenizer_config(const std::string& dir, const std::optional<std::string>& name) {
  ChatTemplate ct;
  ct.name_ = name;
  const fs::path d(dir);
  std::error_code ec;
  if (!fs::is_directory(d, ec)) fail(ErrorKind::NotFound, "{}: model folder does not exist", dir);
  const fs::path cfg_path = d / "tokenizer_config.json";
  if (fs::exists(cfg_path, ec)) {
    ojson cfg = read_json(cfg_path);
    if (!cfg.is_object()) fail(ErrorKind::Corrupt, "{}: expected a JSON object", cfg_path.string());
    if (auto it = cfg.find("chat_template"); it != cfg.end() && !it->is_null()) {
      add_templates(*it, cfg_path.string(), ct.templates_);
    }
    read_special_tokens(cfg, ct.variables_);
  }
  // special_tokens_map.json overrides tokenizer_config.json, as in transformers.
  if (const fs::path p = d / "special_tokens_map.json"; fs::exists(p, ec))
    read_special_tokens(read_json(p), ct.variables_);
  // Newer transformers saves the default template as its own file, which wins.
  if (const fs::path p = d / "chat_template.jinja"; fs::exists(p, ec)) {
    ct.templates_["default"] = compile(read_text(p), p.string());
  } else if (const fs::path j = d / "chat_template.json"; ct.templates_.empty() && fs::exists(j, ec)) {
    ojson cj = read_json(j);
    if (cj.is_object() && cj.contains("chat_template")) add_templates(cj["chat_template"], j.string(), ct.templates_);
  }
  if (const fs::path extra = d / "additional_chat_templates"; fs::is_directory(extra, ec)) {
    for (const auto& e : fs::directory_iterator(extra, ec)) {
      if (e.path().extension() == ".jinja") {
        ct.templates_[e.path().stem().string()] = compile(read_text(e.path()), e.path().string());
      }
    }
  }
  if (ct.templates_.empty()) {
    fail(ErrorKind::NotFound,
         "{}: no chat template (tokenizer_config.json has no 'chat_template' and there is no chat_template.jinja)",
         dir);
  }
  if (name && !ct.templates_.count(*name)) {
    std::string names;
    for (const auto& [k, v] : ct.templates_) names += (names.empty() ? "" : ", ") + k;
    fail(ErrorKind::NotFound, "{}: no chat template named '{}' (available: {})", dir, *name, names);
  }
  return ct;
}

ChatTemplate ChatTemplate::from_string(const std::string& source, ojson variables) {
  ChatTemplate ct;
  ct.templates_["default"] = compile(source, "chat template");
  if (!variables.is_object()) fail(ErrorKind::InvalidArgument, "chat template variables must be a JSON object");
  ct.variables_ = std::move(variables);
  return ct;
}

std::vector<std::string> ChatTemplate::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : templates_) out.push_back(k);
  return out;
}

std::string ChatTemplate::render(const nlohmann::json& messages, const ChatRenderOptions& opts) const {
  return render(ojson::parse(messages.dump()), opts);
}

std::string ChatTemplate::render(const ojson& messages, const ChatRenderOptions& opts) const {
  // Template choice as transformers' get_chat_template: a named one, else
  // "tool_use" when tools are given and it exists, else "default".
  std::optional<std::string> name = opts.template_name ? opts.template_name : name_;
  const jinja::Template* tmpl = nullptr;
  if (name) {
    auto it = templates_.find(*name);
    if (it == templates_.end()) fail(ErrorKind::NotFound, "no chat template named '{}'", *name);
    tmpl = it->second.get();
  } else if (!opts.tools.is_null() && templates_.count("tool_use")) {
    tmpl = templates_.at("tool_use").get();
  } else if (templates_.count("default")) {
    tmpl = templates_.at("default").get();
  } else {
    std::string names;
    for (const auto& [k, v] : templates_) names += (names.empty() ? "" : ", ") + k;
    fail(ErrorKind::InvalidArgument, "the model has several chat templates and none is 'default'; name one of: {}",
         names);
  }
  if (!messages.is_array()) fail(ErrorKind::InvalidArgument, "chat messages must be a JSON list");
  if (!opts.extra.is_null() && !opts.extra.is_object()) {
    fail(ErrorKind::InvalidArgument, "extra chat template variables must be a JSON object");
  }

  using jinja::Value;
  std::vector<std::pair<std::string, Value>> globals;
  globals.emplace_back("messages", Value::from_json(messages));
  globals.emplace_back("tools", Value::from_json(opts.tools));
  globals.emplace_back("documents", Value::from_json(opts.documents));
  globals.emplace_back("add_generation_prompt", Value(opts.add_generation_prompt));
  for (auto it = variables_.begin(); it != variables_.end(); ++it)
    globals.emplace_back(it.key(), Value::from_json(it.value()));
  if (opts.extra.is_object()) {
    for (auto it = opts.extra.begin(); it != opts.extra.end(); ++it) {
      const std::string& k = it.key();
      if (k == "messages" || k == "tools" || k == "documents" || k == "add_generation_prompt") {
        fail(ErrorKind::InvalidArgument, "extra chat template variable '{}' would replace a reserved one", k);
      }
      globals.emplace_back(k, Value::from_json(it.value()));
    }
  }
  jinja::RenderLimits limits;
  limits.max_steps = opts.max_steps;
  limits.max_string_bytes = opts.max_output_bytes;
  jinja::Interpreter in(limits);
  if (opts.now) in.now_override = *opts.now;
  return in.render(*tmpl, std::move(globals));
}

}  // namespace ia::tok
