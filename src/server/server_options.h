#pragma once
// What `ipfs-accelerate serve` is asked to do: which models, where to listen,
// who may call, and the bounds every request is held to.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/model_pool.h"

namespace ia::server {

struct ServeOptions {
  std::vector<std::string> models;              // --model: folder, CID, registered name or HF id
  std::string providers_file;                   // --providers: the router's deployments (docs/providers.md)
  std::vector<std::string> served_model_names;  // --served-model-name, one per --model (default: folder name)
  std::string host = "127.0.0.1";
  int port = 8080;                    // 0: any free port
  std::vector<std::string> api_keys;  // empty: no key needed
  std::string device = "auto";
  std::string dtype = "auto";
  std::string quantize;                  // --quantize: "" | none | int8 | q4 | ... (docs/quantization.md)
  std::string kv_cache_dtype = "auto";   // --kv-cache-dtype: auto (f32) | f32 | int8 (CPU)
  size_t max_queue = 64;                 // sequences waiting per model; a request past them gets 429
  std::optional<int64_t> max_model_len;  // default: the model's context
  int max_num_seqs = 64;                 // sequences in one engine step, and one request's prompts x n at most
  int64_t max_batch_tokens = 2048;       // tokens in one engine step: decode tokens plus prefill chunks
  size_t max_request_bytes = 16u << 20;  // a body past this gets 413, unread
  // Connections served at once, each by its own thread (started as connections come, ended
  // after a minute idle); one more gets 503. 1024: a thousand streams, as a gateway sees them.
  size_t max_connections = 1024;
  std::chrono::milliseconds request_read_timeout{30'000};  // a request's head and body must arrive within this
  std::chrono::milliseconds write_timeout{10'000};         // a client that stops reading is cut off after this
  std::chrono::milliseconds drain_grace{30'000};           // SIGTERM: in-flight requests may finish within this
  // A generation request still running this long after it arrived (queue included) ends there with
  // the text so far, finish_reason "length"; 0: no limit.
  std::chrono::milliseconds generation_timeout{600'000};
  // The resource pool (runtime/model_pool.h): memory limits per device (--max-memory), the idle time after which a
  // model is unloaded
  // (--idle-timeout; 0: never), and --low-memory (one model loaded at a time, a KV pool of a few
  // sequences, bf16 weights for a f32 checkpoint; docs/server.md#the-resource-pool).
  MemoryLimits max_memory;
  std::chrono::milliseconds idle_timeout{0};
  bool low_memory = false;
  // The results database /dashboard reads (--db: a SQLite file or a postgresql:// URL); empty:
  // the default SQLite file.
  std::string results_db;
  bool ipfs_gateway = true;  // the trustless gateway's /ipfs/{cid} over the local blockstore, on the same port
  // Test instrumentation (IA_SERVE_TEST_TOKEN_DELAY_MS): each model's engine sleeps this long
  // after every step, so tests can disconnect or overflow the queue mid-generation on tiny models.
  std::chrono::milliseconds test_token_delay{0};
};

}  // namespace ia::server
