#include "server/tool_calls.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "core/error.h"
#include "runtime/json_schema_grammar.h"
#include "server/api_error.h"

namespace ia::server {

namespace {

using Json = nlohmann::ordered_json;
constexpr size_t kMaxTools = 128;

bool valid_function_name(const std::string& n) {
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// A string member, or "" when absent or not a string.
std::string string_member(const Json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && obj[key].is_string() ? obj[key].get<std::string>() : std::string();
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  return std::string(s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1));
}

std::string call_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return id;
}

// {"name": ..., "arguments" | "parameters": {...} or a JSON string} naming an offered function.
std::optional<ToolCall> call_of(const nlohmann::json& j, const std::vector<std::string>& names) {
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) return std::nullopt;
  const std::string name = j["name"].get<std::string>();
  if (std::find(names.begin(), names.end(), name) == names.end()) return std::nullopt;
  const nlohmann::json* args = j.contains("arguments")    ? &j["arguments"]
                               : j.contains("parameters") ? &j["parameters"]
                                                          : nullptr;
  std::string arguments = "{}";
  if (args && args->is_string()) {
    if (nlohmann::json::parse(args->get<std::string>(), nullptr, false).is_discarded()) return std::nullopt;
    arguments = args->get<std::string>();
  } else if (args && args->is_object()) {
    arguments = args->dump();
  } else if (args && !args->is_null()) {
    return std::nullopt;
  }
  return ToolCall{call_id(), name, std::move(arguments)};
}

// One call or a list of calls, all of offered functions; nullopt otherwise.
std::optional<std::vector<ToolCall>> calls_of(const std::string& text, const std::vector<std::string>& names) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  std::vector<ToolCall> calls;
  for (const auto& item : j.is_array() ? j : nlohmann::json::array({j})) {
    auto c = call_of(item, names);
    if (!c) return std::nullopt;
    calls.push_back(std::move(*c));
  }
  if (calls.empty()) return std::nullopt;
  return calls;
}

}  // namespace

ToolsRequest parse_tools(const Json& body) {
  ToolsRequest t;
  if (body.contains("tools") && !body["tools"].is_null()) {
    const Json& tools = body["tools"];
    if (!tools.is_array()) throw invalid_field("tools", "`tools` must be a list");
    if (tools.size() > kMaxTools) throw invalid_field("tools", fmt::format("at most {} tools are allowed", kMaxTools));
    for (size_t i = 0; i < tools.size(); ++i) {
      const std::string param = fmt::format("tools[{}]", i);
      const Json& tool = tools[i];
      if (!tool.is_object() || string_member(tool, "type") != "function")
        throw invalid_field(param + ".type", "tools must be objects of type \"function\"");
      if (!tool.contains("function") || !tool["function"].is_object())
        throw invalid_field(param + ".function", "a tool needs a `function` object");
      const Json& fn = tool["function"];
      const std::string name = fn.contains("name") && fn["name"].is_string() ? fn["name"].get<std::string>() : "";
      if (!valid_function_name(name))
        throw invalid_field(param + ".function.name",
                            "a function's name must be 1 to 64 letters, digits, underscores or dashes");
      if (std::find(t.names.begin(), t.names.end(), name) != t.names.end())
        throw invalid_field(param + ".function.name", fmt::format("two tools are named \"{}\"", name));
      if (fn.contains("parameters") && !fn["parameters"].is_object())
        throw invalid_field(param + ".function.parameters", "`parameters` must be a JSON schema object");
      if (fn.contains("description") && !fn["description"].is_string())
        throw invalid_field(param + ".function.description", "`description` must be a string");
      t.names.push_back(name);
    }
    if (!t.names.empty()) {
      t.tools = tools;
      t.choice = "auto";
    }
  }
  if (body.contains("tool_choice") && !body["tool_choice"].is_null()) {
    const Json& c = body["tool_choice"];
    if (c.is_string()) {
      const std::string v = c.get<std::string>();
      if (v != "none" && v != "auto" && v != "required")
        throw invalid_field("tool_choice", "`tool_choice` must be \"none\", \"auto\", \"required\" or a function");
      if (v != "none" && !t.any())
        throw invalid_field("tool_choice", fmt::format("`tool_choice` \"{}\" needs `tools`", v));
      t.choice = v;
    } else if (c.is_object() && string_member(c, "type") == "function" && c.contains("function") &&
               c["function"].is_object() && c["function"].contains("name") && c["function"]["name"].is_string()) {
      const std::string name = c["function"]["name"].get<std::string>();
      if (std::find(t.names.begin(), t.names.end(), name) == t.names.end())
        throw invalid_field("tool_choice", fmt::format("`tool_choice` names \"{}\", which is not among `tools`", name));
      t.choice = "function";
      t.forced = name;
    } else {
      throw invalid_field("tool_choice",
                          "`tool_choice` must be \"none\", \"auto\", \"required\" or "
                          "{\"type\": \"function\", \"function\": {\"name\": ...}}");
    }
  }
  return t;
}

std::shared_ptr<const grammar::Grammar> forced_call_grammar(const ToolsRequest& t, bool tagged) {
  if (t.choice != "required" && t.choice != "function") return nullptr;
  Json alternatives = Json::array();
  for (size_t i = 0; i < t.names.size(); ++i) {
    if (t.choice == "function" && t.names[i] != t.forced) continue;
    const Json& fn = t.tools[i]["function"];
    Json params = fn.contains("parameters") ? fn["parameters"] : Json{{"type", "object"}};
    alternatives.push_back(Json{{"type", "object"},
                                {"properties", Json{{"name", Json{{"const", t.names[i]}}}, {"arguments", params}}},
                                {"required", Json::array({"name", "arguments"})}});
  }
  const Json schema = alternatives.size() == 1 ? alternatives[0] : Json{{"anyOf", alternatives}};
  try {
    return std::make_shared<const grammar::Grammar>(
        grammar::json_schema_grammar(schema, {}, tagged ? "<tool_call>\n" : "", tagged ? "\n</tool_call>" : ""));
  } catch (const Error& e) {
    throw invalid_field("tools", fmt::format("a forced tool call needs parameters it can enforce: {}", e.what()));
  }
}

AssistantMessage parse_assistant_message(std::string_view text, const std::vector<std::string>& names) {
  AssistantMessage m;
  m.content = std::string(text);
  if (names.empty()) return m;
  // Hermes / Qwen: <tool_call> blocks among text.
  static constexpr std::string_view kOpen = "<tool_call>", kClose = "</tool_call>";
  if (text.find(kOpen) != std::string_view::npos) {
    std::string rest;
    std::vector<ToolCall> calls;
    size_t at = 0;
    while (true) {
      const size_t open = text.find(kOpen, at);
      if (open == std::string_view::npos) break;
      const size_t close = text.find(kClose, open);
      const size_t body = open + kOpen.size();
      auto parsed =
          calls_of(trim(text.substr(body, (close == std::string_view::npos ? text.size() : close) - body)), names);
      if (!parsed) break;
      rest += text.substr(at, open - at);
      for (auto& c : *parsed) calls.push_back(std::move(c));
      at = close == std::string_view::npos ? text.size() : close + kClose.size();
    }
    if (!calls.empty()) {
      rest += text.substr(at);
      m.calls = std::move(calls);
      const std::string content = trim(rest);
      m.content = content.empty() ? std::nullopt : std::optional<std::string>(content);
      return m;
    }
  }
  std::string whole = trim(text);
  for (std::string_view tag : {std::string_view("[TOOL_CALLS]"), std::string_view("<|python_tag|>")})
    if (whole.compare(0, tag.size(), tag) == 0) whole = trim(std::string_view(whole).substr(tag.size()));
  if (auto calls = calls_of(whole, names)) {
    m.calls = std::move(*calls);
    m.content = std::nullopt;
  }
  return m;
}

nlohmann::json tool_calls_json(const std::vector<ToolCall>& calls) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : calls)
    out.push_back({{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  return out;
}

}  // namespace ia::server
