#pragma once
// The JSON of OpenAI's chat and text completion answers, whole and as stream
// chunks, with their logprobs and usage (the shapes the official SDKs parse).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/generation.h"
#include "server/tool_calls.h"
#include "tokenizers/tokenizer.h"

namespace ia::server {

enum class CompletionApi { Chat, Text };

// What every answer and chunk of one request repeats.
struct CompletionHeader {
  CompletionApi api = CompletionApi::Chat;
  std::string id;  // chatcmpl-… / cmpl-…
  int64_t created = 0;
  std::string model;
  static CompletionHeader make(CompletionApi api, const std::string& model);
};

nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens);

// Logprobs of generated tokens, token strings decoded one by one: chat's {"content": [...]}
// or completions' {"tokens", "token_logprobs", "top_logprobs", "text_offset"}. `text_start`
// is where the generated text starts in the choice's text (completions' echo).
nlohmann::json chat_logprobs_json(const std::vector<SampledToken>& tokens, const tok::Tokenizer& tok);
nlohmann::json completion_logprobs_json(const std::vector<SampledToken>& tokens, const tok::Tokenizer& tok,
                                        size_t text_start);

// A whole answer: one choice per result, `prefix[i]` put before choice i's text (echo). With
// `tool_names` (a chat request that offered tools), calls in a choice's text become its message's
// tool_calls and its finish_reason "tool_calls".
std::string completion_response(const CompletionHeader& h, const std::vector<GenerationResult>& results,
                                const std::vector<std::string>& prefix, bool logprobs, const tok::Tokenizer& tok,
                                int64_t prompt_tokens, const std::vector<std::string>* tool_names = nullptr);

// Stream chunks. `usage_null` adds "usage": null (stream_options.include_usage).
std::string chunk_role(const CompletionHeader& h, size_t index, bool usage_null);
std::string chunk_text(const CompletionHeader& h, size_t index, const std::string& text, bool usage_null);
// The last chunk of a choice: its finish_reason (and, when asked, the choice's logprobs). With
// `tool_names` the choice's text was held back: it comes here, as content and tool_calls.
std::string chunk_finish(const CompletionHeader& h, size_t index, const GenerationResult& r, bool logprobs,
                         const tok::Tokenizer& tok, bool usage_null, size_t text_start,
                         const std::vector<std::string>* tool_names = nullptr);
// The usage chunk after every choice finished: "choices": [].
std::string chunk_usage(const CompletionHeader& h, int64_t prompt_tokens, int64_t completion_tokens);

}  // namespace ia::server
