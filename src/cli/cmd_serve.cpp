// `serve`: the OpenAI-compatible HTTP server (src/server/, docs/server.md).
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "benchmarks/results_store.h"
#include "cli/cli_common.h"
#include "core/error.h"
#include "core/kv_quantization.h"
#include "core/logging.h"
#include "core/open_file_limit.h"
#include "core/thread_pool.h"
#include "server/model_server.h"
#include "server/server_state.h"

namespace ia::cli {

namespace {

// SIGTERM and SIGINT, taken by one thread with sigtimedwait: they are blocked before any other
// thread starts, so no worker is interrupted and the server drains instead of dying.
class ShutdownSignal {
 public:
  ShutdownSignal() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    waiter_ = std::thread([this] {
      const timespec slice{0, 200'000'000};
      while (!stopping_) {
        const int sig = sigtimedwait(&set_, nullptr, &slice);
        if (sig == SIGTERM || sig == SIGINT) {
          std::lock_guard lock(mu_);
          received_ = sig;
          cv_.notify_all();
        }
      }
    });
  }
  ~ShutdownSignal() {
    stopping_ = true;
    waiter_.join();
  }
  // The signal, once one came.
  int wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return received_ != 0; });
    return received_;
  }

 private:
  sigset_t set_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  int received_ = 0;
  std::thread waiter_;
};

// What to paste to try the server: a chat request to the first model that generates, else an
// embeddings request.
std::string curl_example(const std::string& url, const server::ServerState& state) {
  const std::string key =
      state.options.api_keys.empty() ? "" : " -H 'Authorization: Bearer " + state.options.api_keys.front() + "'";
  for (const auto& m : state.models)
    if (m.generates && m.has_chat_template)
      return "curl " + url + "/v1/chat/completions -H 'Content-Type: application/json'" + key + " -d '{\"model\": \"" +
             m.name + "\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}]}'";
  for (const auto& m : state.models)
    if (m.generates)
      return "curl " + url + "/v1/completions -H 'Content-Type: application/json'" + key + " -d '{\"model\": \"" +
             m.name + "\", \"prompt\": \"Hello\", \"max_tokens\": 16}'";
  if (state.models.empty()) {  // a gateway only: the first routed name
    const std::string name =
        state.router && !state.router->public_names().empty() ? state.router->public_names().front() : "MODEL";
    return "curl " + url + "/v1/chat/completions -H 'Content-Type: application/json'" + key + " -d '{\"model\": \"" +
           name + "\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}]}'";
  }
  if (state.models.front().classifies_videos)
    return "curl " + url + "/zero-shot-video-classification" + key + " -F model=" + state.models.front().name +
           " -F file=@video.mp4 -F 'candidate_labels=[\"cooking\", \"playing sports\"]'";
  return "curl " + url + "/v1/embeddings -H 'Content-Type: application/json'" + key + " -d '{\"model\": \"" +
         state.models.front().name + "\", \"input\": \"Hello!\"}'";
}

// Each connection takes a descriptor, and one relayed to a remote provider a second; the rest
// (the listening socket, model files, logs, the results database) take a few dozen.
void raise_open_files_for(size_t max_connections) {
  const uint64_t wanted = 2 * static_cast<uint64_t>(max_connections) + 64;
  const OpenFileLimit files = raise_open_file_limit(wanted);
  if (files.raised())
    std::cerr << "ipfs-accelerate serve: raised the open-file limit (RLIMIT_NOFILE) from " << files.before << " to "
              << files.now << " (the hard limit): --max-connections " << max_connections << " may need " << wanted
              << std::endl;
  if (!files.enough(wanted))
    spdlog::warn(
        "serve: the open-file limit is {} (hard limit {}), below the {} that --max-connections {} may need: "
        "connections past it will fail (raise the hard limit: ulimit -Hn, systemd's LimitNOFILE; or lower "
        "--max-connections)",
        files.now, files.hard, wanted, max_connections);
}

int run_serve(Context& ctx, server::ServeOptions o) {
  ShutdownSignal shutdown;  // first: every thread after it inherits the blocked signals
  ia::ensure_logging();
  ia::set_num_threads(ctx.threads);
  if (const char* delay = std::getenv("IA_SERVE_TEST_TOKEN_DELAY_MS")) {
    o.test_token_delay = std::chrono::milliseconds(std::atoi(delay));
    spdlog::warn("serve: IA_SERVE_TEST_TOKEN_DELAY_MS={}: every streamed delta is delayed (tests only)", delay);
  }
  parse_kv_cache_dtype(o.kv_cache_dtype);  // a bad value is refused before anything listens
  raise_open_files_for(o.max_connections);
  server::ModelServer server(o);
  const int port = server.bind();
  const std::string shown_host = o.host == "0.0.0.0" || o.host == "::" ? "127.0.0.1" : o.host;
  const std::string url = "http://" +
                          (shown_host.find(':') != std::string::npos ? "[" + shown_host + "]" : shown_host) + ":" +
                          std::to_string(port);
  std::thread http([&server] { server.run(); });
  std::cerr << "ipfs-accelerate serve: listening on " << url << ", loading " << o.models.size() << " model"
            << (o.models.size() == 1 ? "" : "s") << std::endl;
  try {
    server.load_models();
  } catch (...) {
    server.stop();
    http.join();
    throw;
  }
  std::string names;
  for (const auto& m : server.state().models) names += (names.empty() ? "" : ", ") + m.name;
  if (server.state().router)
    for (const auto& n : server.state().router->public_names()) names += (names.empty() ? "" : ", ") + n + " (routed)";
  std::cerr << "ipfs-accelerate serve: ready on " << url << " (models: " << names << ")\n"
            << "  try: " << curl_example(url, server.state()) << std::endl;

  const int sig = shutdown.wait();
  std::cerr << "ipfs-accelerate serve: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
            << ": draining (new requests get 503; in-flight ones may finish within "
            << std::chrono::duration<double>(o.drain_grace).count() << " s)" << std::endl;
  const int left = server.drain(o.drain_grace);
  if (left > 0) std::cerr << "ipfs-accelerate serve: " << left << " requests still running at the deadline; stopping\n";
  server.stop();
  http.join();
  std::cerr << "ipfs-accelerate serve: stopped" << std::endl;
  return 0;
}

}  // namespace

void register_serve(CLI::App& app, Context& ctx, Action& action) {
  auto o = std::make_shared<server::ServeOptions>();
  auto grace_s = std::make_shared<double>(30), request_timeout_s = std::make_shared<double>(30),
       write_timeout_s = std::make_shared<double>(10), generation_timeout_s = std::make_shared<double>(600);
  CLI::App* sub = app.add_subcommand(
      "serve", "Serve models over HTTP: OpenAI-compatible (chat, completions, embeddings), vLLM and TEI routes");
  sub->add_option("-m,--model", o->models, "Model folder, CID, registered name or HF id (repeatable)");
  sub->add_option("--providers", o->providers_file,
                  "Router configuration (JSON): remote providers and the deployments of routed model names, "
                  "served under the same OpenAI routes (docs/providers.md)");
  sub->add_option("--served-model-name", o->served_model_names,
                  "Name clients use for each --model, in order (default: the folder's name)");
  sub->add_option("--host", o->host, "Address to listen on")->capture_default_str();
  sub->add_option("--port", o->port, "Port (0: any free one)")->check(CLI::Range(0, 65535))->capture_default_str();
  sub->add_option("--api-key", o->api_keys, "Key clients must send as 'Authorization: Bearer KEY' (repeatable)");
  sub->add_option("--device", o->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  sub->add_option("--dtype", o->dtype, "auto | f32 | bf16")->capture_default_str();
  sub->add_option("--quantize", o->quantize,
                  "Pack weights at load: int8 | q4 | q4_128 | q4z | q4z_128 | none (CPU; docs/quantization.md)");
  sub->add_option("--kv-cache-dtype", o->kv_cache_dtype,
                  "What the KV cache keeps K/V as: auto (f32) | f32 | int8 (CPU; about 1/4 the bytes of f32 per "
                  "token, so a memory budget holds about 4x the tokens; docs/quantization.md#kv-cache)")
      ->capture_default_str();
  sub->add_option("--max-queue", o->max_queue,
                  "Sequences that may wait per model for a place in the batch; a request past them gets 429")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  sub->add_option("--max-model-len", o->max_model_len,
                  "Tokens of prompt + completion per sequence (default: the model's context)")
      ->check(CLI::Range(1, 1 << 24));
  sub->add_option("--max-num-seqs", o->max_num_seqs,
                  "Sequences in one step of a model's batch (and at most one request's prompts x n)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  sub->add_option("--max-batch-tokens", o->max_batch_tokens,
                  "Tokens in one step: decode tokens plus prefill chunks (longer prompts are prefilled in chunks)")
      ->check(CLI::Range(1, 1 << 30))
      ->capture_default_str();
  sub->add_option("--max-request-bytes", o->max_request_bytes, "Largest request body; larger ones get 413")
      ->check(CLI::Range(1024, 1 << 30))
      ->capture_default_str();
  sub->add_option("--max-connections", o->max_connections,
                  "Connections served at once, each by its own thread (started as connections come); more get 503")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  sub->add_option("--request-timeout", *request_timeout_s, "Seconds a request's head and body may take to arrive")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  sub->add_option("--write-timeout", *write_timeout_s,
                  "Seconds a client may stall reading an answer before it is cut off")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  sub->add_option("--generation-timeout", *generation_timeout_s,
                  "Seconds a completion may run from its arrival (queue included); past them it ends with the text "
                  "so far and finish_reason \"length\" (0: no limit)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  sub->add_flag("!--no-ipfs-gateway", o->ipfs_gateway,
                "Do not serve the local blockstore's trustless gateway routes (/ipfs/CID) on the same port");
  sub->add_option("--shutdown-grace", *grace_s, "Seconds in-flight requests may take to finish after SIGTERM")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  auto max_memory = std::make_shared<std::string>();
  auto idle_timeout_s = std::make_shared<double>(0);
  sub->add_option("--max-memory", *max_memory,
                  "Memory the loaded models may take per device: SIZE for every device (8GiB) or DEVICE=SIZE,... "
                  "(cpu=8GiB,cuda:0=60GiB); a load past it unloads idle models, least recently used first "
                  "(docs/server.md#the-resource-pool)");
  sub->add_option("--idle-timeout", *idle_timeout_s,
                  "Seconds a model may sit unused before it is unloaded (loaded again by the next request that "
                  "names it; 0: never)")
      ->check(CLI::Range(0.0, 30.0 * 86400))
      ->capture_default_str();
  sub->add_flag("--low-memory", o->low_memory,
                "One model loaded at a time, a KV pool of 4 sequences, bf16 weights for a f32 checkpoint "
                "(unless --dtype f32)");
  sub->add_option("--db", o->results_db,
                  "Results database /dashboard shows: a SQLite file or a postgresql:// URL (default: "
                  "$IPFS_ACCELERATE_HOME/benchmarks.sqlite)");
  sub->callback([&ctx, &action, o, grace_s, request_timeout_s, write_timeout_s, generation_timeout_s, max_memory,
                 idle_timeout_s] {
    if (o->models.empty() && o->providers_file.empty()) throw CLI::RequiredError("--model (or --providers FILE)");
    if (!max_memory->empty()) o->max_memory = parse_memory_limits(*max_memory);  // exit 2, naming the part
    o->idle_timeout = std::chrono::milliseconds(static_cast<int64_t>(*idle_timeout_s * 1000));
    // A database named on the command line must be there: a typo would show an empty dashboard.
    if (!o->results_db.empty() && !benchmarks::results_store_may_exist(o->results_db))
      fail(ErrorKind::InvalidArgument,
           "--db {}: no such results database (a SQLite file `bench` wrote, or a "
           "postgresql:// URL)",
           o->results_db);
    auto ms = [](double s) { return std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); };
    o->drain_grace = ms(*grace_s);
    o->request_read_timeout = ms(*request_timeout_s);
    o->write_timeout = ms(*write_timeout_s);
    o->generation_timeout = ms(*generation_timeout_s);
    action = [&ctx, o] { return run_serve(ctx, *o); };
  });
}

}  // namespace ia::cli
