#pragma once
// Chat templates, rendered as transformers' apply_chat_template(tokenize=False)
// renders them: the template from the model folder (tokenizer_config.json
// `chat_template`, a string or a list of {name, template}; chat_template.jinja;
// additional_chat_templates/*.jinja; chat_template.json), the special tokens
// of tokenizer_config.json / special_tokens_map.json as variables, and the
// jinja2 subset those templates use (docs/chat_templates.md).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace ia::tok {

namespace jinja {
struct Template;
}

struct ChatRenderOptions {
  bool add_generation_prompt = false;
  nlohmann::ordered_json tools = nullptr;      // list of JSON-schema tool descriptions, or null
  nlohmann::ordered_json documents = nullptr;  // list of documents, or null
  nlohmann::ordered_json extra = nullptr;      // object of further template variables, or null
  std::optional<std::string> template_name;    // a named template; default: "tool_use" with tools, else "default"
  std::optional<int64_t> now;                  // strftime_now's clock (seconds since the epoch, UTC); default: now
  // Work bounds (a template is code from the model folder).
  int64_t max_steps = 1'000'000;
  size_t max_output_bytes = 64u << 20;
};

class ChatTemplate {
 public:
  // Reads the folder's templates and special tokens. `name` picks a named
  // template for every render (unless the render options name another).
  // NotFound when the folder has no chat template; InvalidArgument with the
  // line for a template with a syntax error.
  static ChatTemplate from_tokenizer_config(const std::string& dir,
                                            const std::optional<std::string>& name = std::nullopt);
  // A single template text, with the given variables (bos_token, ...).
  static ChatTemplate from_string(const std::string& source,
                                  nlohmann::ordered_json variables = nlohmann::ordered_json::object());

  // Renders messages (a JSON list of {role, content, ...}). Errors are ia::Error
  // (InvalidArgument) naming the template line; raise_exception(msg) in a
  // template gives "chat template raised: msg".
  std::string render(const nlohmann::ordered_json& messages, const ChatRenderOptions& opts = {}) const;
  // The same for an nlohmann::json (whose objects do not keep key order).
  std::string render(const nlohmann::json& messages, const ChatRenderOptions& opts = {}) const;

  // Names of the templates the folder has ("default", "tool_use", ...).
  std::vector<std::string> names() const;
  // Special-token variables read from the folder.
  const nlohmann::ordered_json& variables() const { return variables_; }

 private:
  std::map<std::string, std::shared_ptr<const jinja::Template>> templates_;
  std::optional<std::string> name_;
  nlohmann::ordered_json variables_ = nlohmann::ordered_json::object();
};

}  // namespace ia::tok
