#include "server/server_state.h"

#include "server/api_error.h"

namespace ia::server {

ServerState::ServerState(ServeOptions o) : options(std::move(o)), keys(options.api_keys) {
  limits.max_sequences = options.max_num_seqs;
  const auto buckets = MetricsRegistry::latency_buckets();
  metrics.declare_counter(metric::kRequests, "HTTP requests answered, by route and status.");
  metrics.declare_histogram(metric::kQueueSeconds, "Time requests waited for their model's worker.", buckets);
  metrics.declare_histogram(metric::kTokenizeSeconds, "Time spent rendering chat templates and tokenizing.", buckets);
  metrics.declare_histogram(metric::kInferenceSeconds, "Time the model ran for a request.", buckets);
  metrics.declare_histogram(metric::kTimeToFirstToken, "Time from a request's arrival to its first token.", buckets);
  metrics.declare_histogram(metric::kTimePerOutputToken, "Decode time per output token after the first.",
                            {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1});
  metrics.declare_counter(metric::kPromptTokens, "Prompt tokens processed.");
  metrics.declare_counter(metric::kGenerationTokens, "Tokens generated.");
  metrics.declare_counter(metric::kCancelled, "Requests cancelled because their client went away.");
  metrics.declare_gauge(metric::kRunning, "Sequences running now.");
  metrics.declare_gauge(metric::kWaiting,
                        "Sequences (generation) or requests (embeddings) waiting in a model's queue.");
  metrics.declare_histogram(metric::kBatchSize, "Sequences in one step of a model's batch engine.",
                            {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024});
  metrics.declare_histogram(metric::kBatchTokens, "Tokens (prefill chunks and decode) in one engine step.",
                            {1, 4, 16, 64, 256, 1024, 4096, 16384, 65536});
  const std::vector<double> step_buckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                         0.01,   0.025,   0.05,   0.1,   0.25,   1};
  metrics.declare_histogram(metric::kStepSeconds, "Time of one engine step's model run and sampling.", step_buckets);
  metrics.declare_histogram(metric::kStepHostSeconds,
                            "Time one engine step spent on the host around the model's run (scheduling, "
                            "delivering tokens, finishing requests): the device waits meanwhile.",
                            step_buckets);
  metrics.declare_gauge(metric::kKvBlocksUsed, "KV cache blocks held by running sequences.");
  metrics.declare_gauge(metric::kKvBlocksTotal, "KV cache blocks in a model's shared pool.");
  metrics.declare_gauge(metric::kKvBlocksCached, "KV cache blocks in the prefix cache (held or evictable).");
  metrics.declare_counter(metric::kPrefixQueries, "Prompt tokens looked up in the prefix cache at admission.");
  metrics.declare_counter(metric::kPrefixHits, "Prompt tokens found in the prefix cache (hit rate: hits / queries).");
  metrics.declare_counter(metric::kPreemptions, "Sequences preempted (to be recomputed) when KV blocks ran out.");
}

ServedModel& ServerState::model_for(const std::string& name, ModelUse use) {
  auto fits = [use](const ServedModel& m) {
    switch (use) {
      case ModelUse::Generation: return m.generates();
      case ModelUse::Embedding: return m.embeds() || m.embeds_images() || m.embeds_audio();
      case ModelUse::Tokenization: return m.generates() || m.embeds();
      case ModelUse::Transcription: return m.transcribes();
      case ModelUse::ImageClassification: return m.classifies_images();
      case ModelUse::ObjectDetection: return m.detects_objects();
      case ModelUse::ZeroShotImageClassification: return m.embeds_images();
      case ModelUse::ZeroShotVideoClassification: return m.classifies_videos();
    }
    return false;
  };
  auto wanted = [use] {
    switch (use) {
      case ModelUse::Generation: return "text generation";
      case ModelUse::Embedding: return "embeddings";
      case ModelUse::Tokenization: return "tokenization";
      case ModelUse::Transcription: return "transcription";
      case ModelUse::ImageClassification: return "image classification";
      case ModelUse::ObjectDetection: return "object detection";
      case ModelUse::ZeroShotImageClassification: return "zero-shot image classification (a CLIP model)";
      case ModelUse::ZeroShotVideoClassification: return "zero-shot video classification (an X-CLIP model)";
    }
    return "";
  };
  if (name.empty()) {
    for (auto& m : models)
      if (fits(*m)) return *m;
    throw invalid_field("model", std::string("no model for ") + wanted() + " is served here");
  }
  for (auto& m : models) {
    if (m->name != name) continue;
    if (!fits(*m)) throw invalid_field("model", "model `" + name + "` serves " + m->serves() + ", not " + wanted());
    return *m;
  }
  throw model_not_found(name, served_names());
}

std::string ServerState::served_names() const {
  std::string out;
  for (const auto& m : models) out += (out.empty() ? "" : ", ") + m->name;
  return out;
}

void ServerState::update_load_gauges() {
  if (!ready) return;  // `models` is still being filled
  for (const auto& m : models) {
    const MetricsRegistry::Labels labels{{"model", m->name}};
    if (m->generation) {
      metrics.set(metric::kRunning, labels, static_cast<double>(m->generation->running()));
      metrics.set(metric::kWaiting, labels, static_cast<double>(m->generation->waiting()));
      m->generation->export_metrics(metrics, labels);
    } else if (m->embedding) {
      metrics.set(metric::kRunning, labels, static_cast<double>(m->embedding->running()));
      metrics.set(metric::kWaiting, labels, static_cast<double>(m->embedding->waiting()));
    }
  }
}

}  // namespace ia::server
