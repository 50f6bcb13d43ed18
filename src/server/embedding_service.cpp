#include "server/embedding_service.h"

#include <future>

#include "server/generation_service.h"

namespace ia::server {

EmbeddingService::EmbeddingService(std::shared_ptr<const EmbeddingEndpoint> endpoint, size_t max_queue)
    : endpoint_(std::move(endpoint)), queue_(max_queue) {}

EmbeddingOutcome EmbeddingService::embed(std::vector<std::string> texts, std::vector<std::vector<int32_t>> ids,
                                         const EmbeddingOptions& options) {
  auto done = std::make_shared<std::promise<EmbeddingOutcome>>();
  std::future<EmbeddingOutcome> answer = done->get_future();
  const auto queued_at = std::chrono::steady_clock::now();
  auto task = [this, done, queued_at, texts = std::move(texts), ids = std::move(ids), options] {
    try {
      EmbeddingOutcome out;
      out.queue_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - queued_at).count();
      out.result = ids.empty() ? endpoint_->embed(texts, options) : endpoint_->embed_ids(ids, options);
      done->set_value(std::move(out));
    } catch (...) {
      done->set_exception(std::current_exception());
    }
  };
  if (!queue_.try_push(std::move(task))) throw QueueFull("queue full");
  return answer.get();
}

}  // namespace ia::server
