#pragma once
// One interface over every remote inference API: chat, text completion,
// embeddings, rerank, speech transcription (and translation to English), model
// listing and a health check, each with streaming where the API streams. An adapter translates our request and result
// types to its service's wire format and back (docs/providers.md lists what each supports); what a service lacks is
// Unsupported. An adapter is stateless between calls and thread-safe: the key to use comes with each call (the key
// pool, queues, retries and breakers live in ProviderClient above it).
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "providers/http_transport.h"
#include "providers/provider_error.h"

namespace ia::providers {

enum class Capability { Chat, Completion, Embedding, Rerank, Models, Transcription };
const char* capability_name(Capability c);

// What a configured provider is: its service type, where it is, how long to wait, its keys.
struct ProviderConfig {
  std::string name;                     // the name the config (or --provider) gives it
  std::string type;                     // openai | anthropic | groq | ollama | tgi | tei | gemini | vllm | ovms | opea
  std::string base_url;                 // no trailing slash
  std::vector<std::string> keys;        // secrets: never logged, never in a message
  std::vector<std::string> key_labels;  // where each came from ("env OPENAI_API_KEY"), for status output
  std::map<std::string, std::string> headers;  // extra, non-secret headers (OpenAI-Organization, anthropic-beta)
  HttpTimeouts timeouts;
  int max_concurrency = 16;  // requests in flight at once per provider
  size_t max_queue = 1024;   // requests waiting for a slot; past them: Unavailable
  int max_retries = 2;       // retries after the first attempt (the SDKs' default)
  int breaker_failures = 5;  // consecutive provider-wide failures that open its breaker
  std::chrono::milliseconds breaker_cooldown{30'000};
  std::chrono::milliseconds key_cooldown{60'000};  // a benched key rests this long
  std::chrono::milliseconds backoff_base{500}, backoff_cap{8'000};
  std::chrono::milliseconds max_hint{60'000};  // hints longer than this fall back to backoff
  size_t embed_batch = 0;                      // inputs per embeddings call (0: the adapter's default)
  // USD per million tokens, by the provider's model name ("*": any other model), for cost tracking.
  struct Price {
    double input_per_million = 0, output_per_million = 0;
    double audio_per_minute = 0;  // transcriptions whose usage is the audio's duration (whisper-1, vLLM)
  };
  std::map<std::string, Price> prices;
  // Once the calls to this provider have cost this much in the budget's period (USD, from
  // `prices`; kept across restarts in the spend file, providers/spend_store.h), further calls are
  // refused (402, as an exhausted quota) so the router moves to the next deployment. 0: no limit.
  double budget_usd = 0;
  enum class BudgetPeriod { Total, Month };  // month: the UTC calendar month
  BudgetPeriod budget_period = BudgetPeriod::Total;
  // The cost of a call's usage in USD (0 for a model without a price).
  double cost_usd(const std::string& model, int64_t input_tokens, int64_t output_tokens,
                  double audio_seconds = 0) const {
    auto it = prices.find(model);
    if (it == prices.end()) it = prices.find("*");
    if (it == prices.end()) return 0;
    return (static_cast<double>(input_tokens) * it->second.input_per_million +
            static_cast<double>(output_tokens) * it->second.output_per_million) /
               1e6 +
           audio_seconds / 60 * it->second.audio_per_minute;
  }
};
const char* budget_period_name(ProviderConfig::BudgetPeriod p);

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};

struct GenerationParams {
  std::optional<int64_t> max_tokens;
  std::optional<double> temperature, top_p;
  std::vector<std::string> stop;
  std::optional<int64_t> seed;
};

struct ChatCall {
  std::string model;
  std::vector<ChatMessage> messages;
  GenerationParams params;
};

struct CompletionCall {
  std::string model;
  std::string prompt;
  GenerationParams params;
};

struct Usage {
  int64_t input_tokens = 0, output_tokens = 0;
  double audio_seconds = 0;  // a transcription billed by the audio's duration
};

struct TextResult {
  std::string text;
  std::string finish_reason;  // OpenAI's names: stop | length | tool_calls | content_filter
  Usage usage;
  std::string model;  // as the service named it
};

struct EmbedCall {
  std::string model;
  std::vector<std::string> inputs;
  std::optional<int64_t> dimensions;
};

struct EmbedResult {
  std::vector<std::vector<float>> vectors;  // one per input, in order
  Usage usage;
  std::string model;
};

struct RerankCall {
  std::string model, query;
  std::vector<std::string> documents;
};

struct RerankScore {
  size_t index = 0;
  double score = 0;
};

// Speech to text (`task` "transcribe", POST /audio/transcriptions) or to English text
// ("translate", /audio/translations), uploaded as multipart/form-data the way the OpenAI SDKs
// send it. The audio goes as it is (the service decodes it). Streamed (Provider::transcribe with
// on_text) the upload carries stream=true and the text comes as it is transcribed.
struct TranscribeCall {
  std::string model;
  std::string audio;                    // the file's bytes
  std::string filename = "audio";       // the upload's file name (services read the format from it)
  std::string content_type;             // "": application/octet-stream
  std::string task = "transcribe";      // or "translate"
  std::optional<std::string> language;  // ISO-639-1; transcriptions only
  std::string prompt;
  std::optional<double> temperature;
  std::string response_format = "json";              // json | text | srt | vtt | verbose_json
  std::vector<std::string> timestamp_granularities;  // "segment", "word" (with verbose_json)
};

struct TranscriptSpan {
  double start = 0, end = 0;  // seconds
  std::string text;
};

struct TranscriptionResult {
  std::string text;
  std::optional<std::string> language;   // where the service says (verbose_json)
  std::optional<double> duration;        // seconds of audio, where the service says
  std::vector<TranscriptSpan> segments;  // verbose_json segments, or srt / vtt cues
  Usage usage;                           // tokens (gpt-4o-transcribe) or audio seconds (whisper-1, vLLM)
};

// The answer to a transcription in `response_format`: JSON (json, verbose_json), plain text,
// or SubRip / WebVTT cues. ProviderError (Overloaded) when it is not what the format promises.
TranscriptionResult parse_transcription(const std::string& provider, const std::string& body,
                                        const std::string& response_format);

// Receives a streamed answer's text as it comes; false: the caller is gone (the transfer stops).
using OnText = std::function<bool(std::string_view delta)>;

// One streamed transcription's state, fed each SSE event's data: OpenAI's
// {"type": "transcript.text.delta", "delta"} events then {"type": "transcript.text.done", "text",
// "usage"?} (gpt-4o-transcribe), or vLLM's {"object": "transcription.chunk", "choices": [{"delta":
// {"content"}}]} chunks ending in [DONE]; {"error": …} is the service's failure (ProviderError).
// The text goes to on_text as it comes; the result's text is the done event's (else the deltas').
struct TranscriptStreamState {
  TranscriptionResult result;
  bool done = false;       // transcript.text.done or [DONE] seen
  bool cancelled = false;  // the caller stopped reading
  // False: stop reading (done or cancelled).
  bool on_data(const std::string& provider, const std::string& data, const OnText& on_text);
};

class Provider {
 public:
  explicit Provider(ProviderConfig config) : config_(std::move(config)) {}
  virtual ~Provider() = default;
  Provider(const Provider&) = delete;
  Provider& operator=(const Provider&) = delete;

  const ProviderConfig& config() const { return config_; }
  virtual bool supports(Capability c) const = 0;

  // `on_text` null: the whole answer at once; else streamed. `key` may be empty (local servers).
  virtual TextResult chat(const ChatCall& call, const std::string& key, const OnText& on_text);
  virtual TextResult complete(const CompletionCall& call, const std::string& key, const OnText& on_text);
  virtual EmbedResult embed(const EmbedCall& call, const std::string& key);
  virtual std::vector<RerankScore> rerank(const RerankCall& call, const std::string& key);
  // `on_text` null: the whole answer in call.response_format; else streamed (json or text only).
  virtual TranscriptionResult transcribe(const TranscribeCall& call, const std::string& key, const OnText& on_text);
  virtual std::vector<std::string> list_models(const std::string& key);
  // Throws when the service does not answer as healthy.
  virtual void health(const std::string& key);

 protected:
  // The headers every request carries: auth for `key` (none when empty) and the config's extras.
  virtual std::vector<std::pair<std::string, std::string>> auth_headers(const std::string& key) const;
  // The retry class of a non-2xx answer (default: classify_status, refined by error types).
  virtual FailureClass classify(int status, const ErrorBody& body) const;
  // The retry hint of a non-2xx answer (default: retry-after-ms, Retry-After).
  virtual std::optional<std::chrono::milliseconds> retry_hint(const HttpResponse& r) const;

  // One exchange of JSON: a non-2xx answer or a transport failure is thrown as ProviderError.
  nlohmann::json call_json(const std::string& method, const std::string& path, const nlohmann::json* body,
                           const std::string& key) const;
  // One POST of `body` as `content_type` (a multipart form): the answer's body as it is.
  std::string call_raw(const std::string& path, const std::string& body, const std::string& content_type,
                       const std::string& key) const;
  // A streamed POST: the body's bytes go to `on_bytes` (false stops). An exception thrown by
  // on_bytes (a parser's ProviderError) is rethrown here once curl has let go.
  void call_stream(const std::string& path, const nlohmann::json& body, const std::string& key,
                   const std::function<bool(std::string_view)>& on_bytes,
                   const std::vector<std::pair<std::string, std::string>>& extra_headers = {}) const;
  // The same for a body of any type (a multipart form); on_bytes also sees the answer's head
  // (its Content-Type says whether the service streams at all).
  void call_stream_raw(const std::string& path, std::string body, const std::string& content_type,
                       const std::string& key, const BodySink& on_bytes,
                       const std::vector<std::pair<std::string, std::string>>& extra_headers = {}) const;
  [[noreturn]] void throw_unsupported(Capability c) const;
  // A non-2xx answer as a ProviderError.
  [[noreturn]] void throw_http_error(const HttpResponse& r) const;
  [[noreturn]] void throw_transport_error(const HttpOutcome& o) const;

  ProviderConfig config_;
};

// The retry class of an error named inside a 200 stream or body ("overloaded_error",
// "rate_limit_exceeded", "invalid_request_error", TGI's "validation", …).
FailureClass classify_error_type(const std::string& type_or_code);

// The providers this build knows, by type name.
std::unique_ptr<Provider> make_provider(const ProviderConfig& config);
std::vector<std::string> provider_types();
// A type's default base URL, its key and base-URL environment variables (as the official SDKs
// read them); empty key_env: the service needs no key.
struct ProviderDefaults {
  std::string base_url;
  std::vector<std::string> key_env;
  std::vector<std::string> base_url_env;
};
ProviderDefaults provider_defaults(const std::string& type);

}  // namespace ia::providers
