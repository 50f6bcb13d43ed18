// libFuzzer target for the server's request parsing (server/openai_requests.h):
// the first byte picks the route's parser, the rest is the body. Invariants: a
// refusal is an ApiError with a 400 status, a message and a body in OpenAI's
// shape (never another exception: malformed input must never become a 500); an
// accepted request holds only values in the ranges the parsers promise.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/api_error.h"
#include "server/openai_requests.h"

namespace {

using namespace ia::server;

void check(bool ok) {
  if (!ok) std::abort();
}

void check_generation(const GenerationFields& f, const RequestLimits& limits) {
  check(!f.model.empty() || f.model.empty());
  check(f.n >= 1 && f.n <= limits.max_sequences);
  const auto& r = f.request;
  if (r.max_new_tokens) check(*r.max_new_tokens >= 1 && *r.max_new_tokens <= limits.max_new_tokens);
  if (r.temperature) check(*r.temperature >= 0 && *r.temperature <= 2);
  if (r.top_p) check(*r.top_p > 0 && *r.top_p <= 1);
  if (r.top_k) check(*r.top_k >= 0);
  check(r.presence_penalty >= -2 && r.presence_penalty <= 2);
  check(r.frequency_penalty >= -2 && r.frequency_penalty <= 2);
  check(r.stop.size() <= limits.max_stop);
  for (const auto& s : r.stop) check(!s.empty() && s.size() <= limits.max_stop_bytes);
  check(r.logit_bias.size() <= limits.max_logit_bias);
  for (const auto& [id, bias] : r.logit_bias) check(id >= 0 && bias >= -100 && bias <= 100);
  check(r.logprobs >= -1 && r.logprobs <= 20);
  check(!f.include_usage || f.stream);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  RequestLimits limits;
  limits.max_sequences = 4;
  try {
    switch (data[0] % 8) {
      case 0: {
        const ChatCompletionRequest r = parse_chat_completion_request(body, limits);
        check_generation(r, limits);
        check(r.messages.is_array() && !r.messages.empty());
        for (const auto& m : r.messages) check(m.is_object() && m["role"].is_string());
        break;
      }
      case 1: {
        const CompletionRequest r = parse_completion_request(body, limits);
        check_generation(r, limits);
        check(!r.prompts.empty());
        check(static_cast<int64_t>(r.prompts.size()) * r.n <= limits.max_sequences);
        for (const auto& p : r.prompts)
          for (int32_t id : p.ids) check(id >= 0);
        break;
      }
      case 2: {
        const EmbeddingRequest r = parse_embedding_request(body, limits);
        // Exactly one form of input: texts, token ids, or {"text"} / {"image"} items.
        check(int{!r.texts.empty()} + int{!r.id_lists.empty()} + int{!r.multimodal.empty()} == 1);
        check(r.texts.size() + r.id_lists.size() + r.multimodal.size() <= limits.max_inputs);
        for (const auto& in : r.multimodal)
          check(in.kind != EmbeddingInput::Kind::Text ? !in.bytes.empty() : in.bytes.empty());
        if (r.dimensions) check(*r.dimensions >= 1);
        break;
      }
      case 3: {
        const TokenizeRequest r = parse_tokenize_request(body, limits);
        check(r.prompt.has_value() != r.messages.has_value());
        break;
      }
      case 4: {
        const DetokenizeRequest r = parse_detokenize_request(body, limits);
        check(r.ids.size() <= limits.max_token_ids);
        break;
      }
      case 5: {
        const TeiEmbedRequest r = parse_tei_embed_request(body, limits);
        check(!r.inputs.texts.empty() && r.inputs.texts.size() <= limits.max_inputs);
        break;
      }
      case 6: {
        const TeiTokenizeRequest r = parse_tei_tokenize_request(body, limits);
        check(!r.inputs.texts.empty());
        (void)is_tei_tokenize_body(body);
        break;
      }
      default: {
        const TeiDecodeRequest r = parse_tei_decode_request(body, limits);
        check(!r.id_lists.empty());
        break;
      }
    }
  } catch (const ApiError& e) {
    check(e.status() == 400);
    check(std::string_view(e.what()).size() > 0);
    const ErrorResponse answer = error_response(e);
    const auto j = nlohmann::json::parse(answer.body);
    check(j["error"]["message"].is_string() && j["error"]["code"].is_string());
  } catch (...) {
    std::abort();
  }
  return 0;
}
