#include "server/queued_generation_service.h"

#include <atomic>
#include <mutex>
#include <random>
#include <thread>

#include "server/bounded_work_queue.h"

namespace ia::server {

namespace {

class QueuedGenerationService final : public GenerationService {
 public:
  QueuedGenerationService(std::shared_ptr<const Generator> generator, size_t max_queue,
                          std::chrono::milliseconds token_delay)
      : generator_(std::move(generator)), token_delay_(token_delay), queue_(max_queue) {}

  void submit(GenerationJob job) override {
    auto shared = std::make_shared<GenerationJob>(std::move(job));
    std::weak_ptr<GenerationStream> stream = shared->stream;
    if (!queue_.try_push([this, shared] { run(*shared); })) throw QueueFull("queue full");
    std::lock_guard lock(mu_);
    std::erase_if(admitted_, [](const auto& s) { return s.expired(); });
    admitted_.push_back(std::move(stream));
  }
  void abort() override {
    std::lock_guard lock(mu_);
    for (const auto& s : admitted_)
      if (auto stream = s.lock()) stream->cancel();
  }
  size_t waiting() const override { return queue_.waiting(); }
  size_t running() const override { return running_.load(); }
  void drain() override { queue_.close(); }

 private:
  void run(GenerationJob& job) {
    GenerationStream& stream = *job.stream;
    if (stream.cancelled()) {  // the client left while the request waited
      stream.fail(std::make_exception_ptr(std::runtime_error("cancelled before it started")));
      return;
    }
    stream.start();
    running_ = job.prompts.size();
    try {
      GenerationRequest req = job.request;
      req.cancelled = [&stream] { return stream.cancelled(); };
      std::vector<GenerationResult> results;
      GenerationStats total;
      const bool greedy = generator_->resolve(req).greedy;
      auto run_batch = [&](const std::vector<std::vector<int32_t>>& prompts, size_t first) {
        GenerationStats st;
        auto on_text = [&](size_t i, const std::string& delta) {
          stream.text(first + i, delta);
          if (token_delay_.count() > 0) std::this_thread::sleep_for(token_delay_);
        };
        auto out = generator_->generate_ids(prompts, req, on_text, &st);
        for (auto& r : out) results.push_back(std::move(r));
        total.prefill_ms += st.prefill_ms;
        total.decode_ms += st.decode_ms;
        total.prompt_tokens += st.prompt_tokens;
        total.decode_tokens += st.decode_tokens;
        total.cached_tokens += st.cached_tokens;
      };
      if (greedy || job.prompts.size() == 1) {
        run_batch(job.prompts, 0);
      } else {
        const uint64_t base = req.seed ? *req.seed : std::random_device{}();
        for (size_t i = 0; i < job.prompts.size(); ++i) {
          req.seed = base + i;
          run_batch({job.prompts[i]}, i);
        }
      }
      running_ = 0;
      stream.finish(std::move(results), total);
    } catch (...) {
      running_ = 0;
      stream.fail(std::current_exception());
    }
  }

  std::shared_ptr<const Generator> generator_;
  std::chrono::milliseconds token_delay_;
  std::atomic<size_t> running_{0};
  std::mutex mu_;
  std::vector<std::weak_ptr<GenerationStream>> admitted_;  // for abort()
  BoundedWorkQueue queue_;                                 // last: its worker stops before the members it uses go
};

}  // namespace

std::unique_ptr<GenerationService> make_queued_generation_service(std::shared_ptr<const Generator> generator,
                                                                  size_t max_queue,
                                                                  std::chrono::milliseconds token_delay) {
  return std::make_unique<QueuedGenerationService>(std::move(generator), max_queue, token_delay);
}

}  // namespace ia::server
