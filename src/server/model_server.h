#pragma once
// The `serve` HTTP server: OpenAI-compatible, vLLM and TEI routes over the
// loaded models on one port. Its lifecycle follows what operators expect of
// vLLM / TEI: bind first (a port in use fails at once), answer 503 while the
// models load, serve, and on SIGTERM drain: new requests get 503 while those in
// flight finish within a grace period, then stop.
#include <chrono>
#include <memory>
#include <string>

#include "server/server_options.h"

namespace ia::server {

struct ServerState;

class ModelServer {
 public:
  explicit ModelServer(ServeOptions options);
  ~ModelServer();
  ModelServer(const ModelServer&) = delete;
  ModelServer& operator=(const ModelServer&) = delete;

  // Binds host:port (port 0: a free one) and returns the port; InvalidArgument when the
  // port is in use, Unavailable when it cannot listen there.
  int bind();
  // Serves until stop() (blocking); requests get 503 until load_models() has finished.
  void run();
  // Whether run() accepts connections: a stop() before it does would not end it.
  bool listening() const;
  // Loads every --model (in order; the first failure is thrown), then answers requests.
  void load_models();
  // Stops admitting (503), waits up to `grace` for requests in flight, cancels any still
  // running then, and returns how many there were (0: all finished in time).
  int drain(std::chrono::milliseconds grace);
  void stop();

  const ServerState& state() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ia::server
