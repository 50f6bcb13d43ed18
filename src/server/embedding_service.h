#pragma once
// Embedding requests of one model, run one at a time by its worker from a
// bounded queue. A token-budget batcher across requests replaces this class
// later; the routes only call embed().
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/embedding_endpoint.h"
#include "server/bounded_work_queue.h"

namespace ia::server {

struct EmbeddingOutcome {
  EmbeddingResult result;
  double queue_ms = 0;  // waiting for the worker
};

class EmbeddingService {
 public:
  EmbeddingService(std::shared_ptr<const EmbeddingEndpoint> endpoint, size_t max_queue);
  // Texts, or token ids when `ids` is not empty. Blocks until done; QueueFull when the queue is.
  EmbeddingOutcome embed(std::vector<std::string> texts, std::vector<std::vector<int32_t>> ids,
                         const EmbeddingOptions& options);
  size_t waiting() const { return queue_.waiting(); }
  size_t running() const { return queue_.busy() ? 1 : 0; }
  void drain() { queue_.close(); }

 private:
  std::shared_ptr<const EmbeddingEndpoint> endpoint_;
  BoundedWorkQueue queue_;
};

}  // namespace ia::server
