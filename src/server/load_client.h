#pragma once
// Load for an OpenAI-compatible server, as `vllm bench serve` sends it: requests with fixed prompt
// and output lengths (`max_tokens` with `ignore_eos`, greedy), their text made of common words cut
// to a number of tokens by the server's own /tokenize and /detokenize; `concurrency` clients
// sending them at once, each on its own kept-alive connection (as an SDK's pool keeps them);
// streamed answers timed chunk by chunk; every answer's usage checked against what was asked.
//
// Shared by `bench --suite server-load` (server_load_suite.h: a server in the same process) and
// bench/bench_serve_load.cpp (any server's URL). It talks to the address it is given only.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ia::server::load {

using Clock = std::chrono::steady_clock;

struct ServerAddress {
  std::string host = "127.0.0.1";
  int port = 0;
};

struct ClientOptions {
  int64_t read_timeout_s = 60;  // per read (a quiet stream gets a keep-alive every second)
  bool keep_alive = true;       // false: a new connection per request
  std::string api_key;          // sent as "Authorization: Bearer"; empty: none (a gateway's key, OPENAI_API_KEY)
};

// One request as it is sent, and what its answer must report.
struct LoadRequest {
  std::string path;                         // "/v1/chat/completions", "/v1/completions" or "/v1/embeddings"
  nlohmann::json body;                      // "stream": true for server-sent events
  int64_t expected_prompt_tokens = -1;      // usage.prompt_tokens must be this (-1: not checked)
  int64_t expected_completion_tokens = -1;  // usage.completion_tokens must be this (-1: not checked)
};

struct RequestRecord {
  int64_t index = 0;  // in the level's send order
  bool ok = false;
  std::string error;  // why not, in one line
  // Seconds since the request was sent: to its first chunk of text (an answer that is not
  // streamed: to the whole answer), and to the end of the answer.
  double ttft_s = 0, e2e_s = 0;
  std::vector<double> content_times_s;               // a streamed answer's chunks with text, each since sent
  int64_t prompt_tokens = 0, completion_tokens = 0;  // the answer's usage
};

// One client and its connection.
class LoadClient {
 public:
  explicit LoadClient(const ServerAddress& at, const ClientOptions& options = {});
  ~LoadClient();
  LoadClient(const LoadClient&) = delete;
  LoadClient& operator=(const LoadClient&) = delete;

  // Sends `r` and reads its answer to the end, or until `deadline` (then the request is cancelled:
  // the server frees its sequence). Never throws for what the server answers: a failure is the
  // record's error (no answer, an HTTP error, a stream that breaks off or reports an error, a
  // usage that differs from what was asked, no text).
  RequestRecord send(const LoadRequest& r, Clock::time_point deadline);
  // The calls made before any timing (models, tokenize); Unavailable naming the path when one
  // gets no answer or an error.
  nlohmann::json get(const std::string& path);
  nlohmann::json post(const std::string& path, const nlohmann::json& body);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What each request asks for.
struct PromptShape {
  std::string endpoint = "chat";     // chat | completions | embeddings
  int64_t prompt_tokens = 128;       // of each request's own text
  int64_t system_prompt_tokens = 0;  // a system prompt shared by every request (chat, completions); 0: none
  int64_t output_tokens = 128;       // max_tokens, with ignore_eos (chat, completions)
  // Prompts of prompt_tokens words, without the server's /tokenize (a gateway to remote models,
  // any OpenAI-compatible service): usage.prompt_tokens is then not checked.
  bool word_prompts = false;
};

// The requests of a run: each with its own words (a prefix cache must not turn the load into a
// cache benchmark), a shared system prompt where one is asked for. Each request costs a few
// /tokenize and /detokenize calls (none with word_prompts): make them before a timer starts.
class PromptMaker {
 public:
  // `setup` makes the calls; `model` is the name the server serves the model under.
  PromptMaker(LoadClient& setup, std::string model, PromptShape shape);
  // The request numbered `index` in the run, with the prompt tokens the server counts for it (the
  // chat template's rendering or the tokenizer's special tokens included).
  LoadRequest make(uint64_t index);

 private:
  std::string text(uint64_t seed, int64_t tokens);

  LoadClient& setup_;
  std::string model_, system_;
  PromptShape shape_;
};

struct LevelLimits {
  double level_timeout_s = 600;  // requests in flight then are cancelled, and none starts after
  double duration_s = 0;         // no request starts after this; 0: no limit
};

struct LevelResult {
  int64_t concurrency = 0, planned = 0, sent = 0;
  double duration_s = 0;               // from the clients' start to the last answer's end
  std::vector<RequestRecord> records;  // in the order they ended
};

// `concurrency` clients, each sending the next of `requests` when its last one ends, until all
// are sent or a limit is reached. The clock starts when every client is ready (threads made), so
// that it times the server.
LevelResult run_level(const ServerAddress& at, const ClientOptions& options, int64_t concurrency,
                      const std::vector<LoadRequest>& requests, const LevelLimits& limits = {});

}  // namespace ia::server::load
