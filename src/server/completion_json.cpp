#include "server/completion_json.h"

#include <chrono>
#include <random>

#include <fmt/format.h>

#include "router/result_json.h"

namespace ia::server {

using nlohmann::json;

namespace {

std::string random_hex(size_t n) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string out;
  while (out.size() < n) out += fmt::format("{:016x}", rng());
  out.resize(n);
  return out;
}

// A finish reason as OpenAI names them ("cancelled" is ours: the client left; it sees nothing).
std::string finish_reason(const GenerationResult& r) {
  return r.finish_reason.empty() ? "stop" : r.finish_reason;
}

json base(const CompletionHeader& h, bool chunk) {
  const char* object =
      h.api == CompletionApi::Chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  return json{{"id", h.id}, {"object", object}, {"created", h.created}, {"model", h.model}};
}

std::string token_text(const tok::Tokenizer& tok, int32_t id) {
  return tok.decode({id}, /*skip_special_tokens=*/false);
}

json bytes_of(const std::string& s) {
  json out = json::array();
  for (unsigned char c : s) out.push_back(static_cast<int>(c));
  return out;
}

}  // namespace

CompletionHeader CompletionHeader::make(CompletionApi api, const std::string& model) {
  CompletionHeader h;
  h.api = api;
  h.id = (api == CompletionApi::Chat ? "chatcmpl-" : "cmpl-") + random_hex(24);
  h.created =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  h.model = model;
  return h;
}

json usage_json(int64_t prompt_tokens, int64_t completion_tokens) {
  return json{{"prompt_tokens", prompt_tokens},
              {"completion_tokens", completion_tokens},
              {"total_tokens", prompt_tokens + completion_tokens}};
}

json chat_logprobs_json(const std::vector<SampledToken>& tokens, const tok::Tokenizer& tok) {
  json content = json::array();
  for (const SampledToken& t : tokens) {
    const std::string text = token_text(tok, t.id);
    json top = json::array();
    for (const TokenLogprob& e : t.top) {
      const std::string et = token_text(tok, e.id);
      top.push_back(json{{"token", et}, {"logprob", e.logprob}, {"bytes", bytes_of(et)}});
    }
    content.push_back(json{{"token", text}, {"logprob", t.logprob}, {"bytes", bytes_of(text)}, {"top_logprobs", top}});
  }
  return json{{"content", content}};
}

json completion_logprobs_json(const std::vector<SampledToken>& tokens, const tok::Tokenizer& tok, size_t text_start) {
  json out{{"tokens", json::array()},
           {"token_logprobs", json::array()},
           {"top_logprobs", json::array()},
           {"text_offset", json::array()}};
  size_t offset = text_start;
  for (const SampledToken& t : tokens) {
    const std::string text = token_text(tok, t.id);
    out["tokens"].push_back(text);
    out["token_logprobs"].push_back(t.logprob);
    json top = json::object();
    for (const TokenLogprob& e : t.top) top[token_text(tok, e.id)] = e.logprob;
    out["top_logprobs"].push_back(top);
    out["text_offset"].push_back(offset);
    offset += text.size();
  }
  return out;
}

std::string completion_response(const CompletionHeader& h, const std::vector<GenerationResult>& results,
                                const std::vector<std::string>& prefix, bool logprobs, const tok::Tokenizer& tok,
                                int64_t prompt_tokens, const std::vector<std::string>* tool_names) {
  json out = base(h, false);
  json choices = json::array();
  int64_t completion_tokens = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const GenerationResult& r = results[i];
    completion_tokens += static_cast<int64_t>(r.ids.size());
    const std::string& before = i < prefix.size() ? prefix[i] : std::string();
    json choice{{"index", i}};
    if (h.api == CompletionApi::Chat) {
      choice["message"] = json{{"role", "assistant"}, {"content", r.text}};
      choice["logprobs"] = logprobs ? chat_logprobs_json(r.logprobs, tok) : json(nullptr);
      if (tool_names) {
        const AssistantMessage m = parse_assistant_message(r.text, *tool_names);
        choice["message"]["content"] = m.content ? json(*m.content) : json(nullptr);
        if (!m.calls.empty()) {
          choice["message"]["tool_calls"] = tool_calls_json(m.calls);
          choice["finish_reason"] = "tool_calls";
          choices.push_back(std::move(choice));
          continue;
        }
      }
    } else {
      choice["text"] = before + r.text;
      choice["logprobs"] = logprobs ? completion_logprobs_json(r.logprobs, tok, before.size()) : json(nullptr);
    }
    choice["finish_reason"] = finish_reason(r);
    choices.push_back(std::move(choice));
  }
  out["choices"] = std::move(choices);
  out["usage"] = usage_json(prompt_tokens, completion_tokens);
  return router::dump_json(out);
}

namespace {

std::string chunk(const CompletionHeader& h, json choice, bool usage_null) {
  json out = base(h, true);
  out["choices"] = json::array({std::move(choice)});
  if (usage_null) out["usage"] = nullptr;
  return router::dump_json(out);
}

}  // namespace

std::string chunk_role(const CompletionHeader& h, size_t index, bool usage_null) {
  return chunk(h,
               json{{"index", index},
                    {"delta", json{{"role", "assistant"}, {"content", ""}}},
                    {"logprobs", nullptr},
                    {"finish_reason", nullptr}},
               usage_null);
}

std::string chunk_text(const CompletionHeader& h, size_t index, const std::string& text, bool usage_null) {
  if (h.api == CompletionApi::Chat)
    return chunk(
        h,
        json{{"index", index}, {"delta", json{{"content", text}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}},
        usage_null);
  return chunk(h, json{{"index", index}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", nullptr}},
               usage_null);
}

std::string chunk_finish(const CompletionHeader& h, size_t index, const GenerationResult& r, bool logprobs,
                         const tok::Tokenizer& tok, bool usage_null, size_t text_start,
                         const std::vector<std::string>* tool_names) {
  json choice{{"index", index}};
  if (h.api == CompletionApi::Chat) {
    choice["delta"] = json::object();
    choice["logprobs"] = logprobs ? chat_logprobs_json(r.logprobs, tok) : json(nullptr);
    if (tool_names) {
      const AssistantMessage m = parse_assistant_message(r.text, *tool_names);
      if (m.content) choice["delta"]["content"] = *m.content;
      if (!m.calls.empty()) {
        json calls = tool_calls_json(m.calls);
        for (size_t k = 0; k < calls.size(); ++k) calls[k]["index"] = k;  // how stream deltas name a call
        choice["delta"]["tool_calls"] = std::move(calls);
        choice["finish_reason"] = "tool_calls";
        return chunk(h, std::move(choice), usage_null);
      }
    }
  } else {
    choice["text"] = "";
    choice["logprobs"] = logprobs ? completion_logprobs_json(r.logprobs, tok, text_start) : json(nullptr);
  }
  choice["finish_reason"] = finish_reason(r);
  return chunk(h, std::move(choice), usage_null);
}

std::string chunk_usage(const CompletionHeader& h, int64_t prompt_tokens, int64_t completion_tokens) {
  json out = base(h, true);
  out["choices"] = json::array();
  out["usage"] = usage_json(prompt_tokens, completion_tokens);
  return router::dump_json(out);
}

}  // namespace ia::server
