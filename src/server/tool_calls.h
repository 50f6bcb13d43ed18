#pragma once
// Function calling in chat completions: the `tools` and `tool_choice` of a request, the grammar
// that forces a call (tool_choice "required" or a named function), and the model's calls parsed
// out of its text into OpenAI's `tool_calls`. Calls are recognised in the formats the common chat
// templates teach: Hermes / Qwen `<tool_call>{"name": ..., "arguments": ...}</tool_call>` blocks,
// Mistral's `[TOOL_CALLS] [...]`, and a whole answer that is one call or a list of them as JSON
// (Llama 3.x, with "arguments" or "parameters", after an optional `<|python_tag|>`). Only calls
// of functions the request offered become tool calls; anything else stays text.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/grammar.h"

namespace ia::server {

struct ToolsRequest {
  nlohmann::ordered_json tools = nullptr;  // as given: [{"type": "function", "function": {...}}], for the template
  std::vector<std::string> names;          // the functions' names, in order
  std::string choice = "none";             // "none", "auto", "required", or "function" (then `forced`)
  std::string forced;                      // the named function
  bool any() const { return !names.empty(); }
};

// Parses `tools` and `tool_choice` from a chat request (400 naming the field when malformed).
ToolsRequest parse_tools(const nlohmann::ordered_json& body);

// The grammar of a forced call: {"name": <a function>, "arguments": <its parameters' schema>},
// inside <tool_call> tags when the template teaches them. Null unless a call is forced.
std::shared_ptr<const grammar::Grammar> forced_call_grammar(const ToolsRequest& tools, bool tagged);

struct ToolCall {
  std::string id;         // call_…
  std::string name;       // a function the request offered
  std::string arguments;  // a JSON text
};

struct AssistantMessage {
  std::optional<std::string> content;  // null when the answer is only calls
  std::vector<ToolCall> calls;
};

AssistantMessage parse_assistant_message(std::string_view text, const std::vector<std::string>& names);

nlohmann::json tool_calls_json(const std::vector<ToolCall>& calls);

}  // namespace ia::server
