#include "server/server_state.h"

#include <algorithm>

#include "core/pool_mode.h"
#include "server/api_error.h"

namespace ia::server {

namespace {

ModelPoolOptions pool_options(const ServeOptions& o) {
  ModelPoolOptions p;
  p.limits = o.max_memory;
  p.idle_timeout = o.idle_timeout;
  p.max_resident = o.low_memory ? 1 : 0;
  return p;
}

}  // namespace

ServerState::ServerState(ServeOptions o) : options(std::move(o)), keys(options.api_keys), pool(pool_options(options)) {
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

DeclaredModel declared_model(const ServedModel& m) {
  DeclaredModel d;
  d.name = m.name;
  d.source = m.source;
  if (m.generates()) d.uses.push_back(ModelUse::Generation);
  if (m.embeds() || m.embeds_images() || m.embeds_audio()) d.uses.push_back(ModelUse::Embedding);
  if (m.generates() || m.embeds()) d.uses.push_back(ModelUse::Tokenization);
  if (m.transcribes()) d.uses.push_back(ModelUse::Transcription);
  if (m.classifies_images()) d.uses.push_back(ModelUse::ImageClassification);
  if (m.detects_objects()) d.uses.push_back(ModelUse::ObjectDetection);
  if (m.embeds_images()) d.uses.push_back(ModelUse::ZeroShotImageClassification);
  if (m.classifies_videos()) d.uses.push_back(ModelUse::ZeroShotVideoClassification);
  d.generates = m.generates();
  d.has_chat_template = m.chat_template.has_value();
  d.classifies_videos = m.classifies_videos();
  d.embeds = m.embeds();
  d.serves = m.serves();
  d.task = m.task();
  d.dtype = m.dtype;
  if (m.embeds()) d.pooling = pool_mode_name(m.embedder->default_pooling());
  d.max_model_len = m.max_model_len;
  d.created = m.created;
  return d;
}

ServedLease ServerState::model_for(const std::string& name, ModelUse use) {
  auto fits = [use](const DeclaredModel& m) { return std::find(m.uses.begin(), m.uses.end(), use) != m.uses.end(); };
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
  const DeclaredModel* chosen = nullptr;
  if (name.empty()) {
    for (const auto& m : models)
      if (fits(m)) {
        chosen = &m;
        break;
      }
    if (!chosen) throw invalid_field("model", std::string("no model for ") + wanted() + " is served here");
  } else {
    for (const auto& m : models)
      if (m.name == name) chosen = &m;
    if (!chosen) throw model_not_found(name, served_names());
    if (!fits(*chosen))
      throw invalid_field("model", "model `" + name + "` serves " + chosen->serves + ", not " + wanted());
  }
  try {
    return ServedLease(pool.acquire(chosen->name));
  } catch (const ModelDoesNotFit& e) {
    if (!e.busy()) throw ApiError(507, "insufficient_storage", "model_too_large", e.what(), "model");
    ApiError busy(503, "unavailable_error", "model_pool_busy", e.what(), "model");
    busy.headers.emplace_back("Retry-After", "1");
    throw busy;
  }
}

std::vector<ServedLease> ServerState::loaded_models() {
  std::vector<ServedLease> out;
  for (const auto& m : models)
    if (ModelLease l = pool.peek(m.name)) out.emplace_back(std::move(l));
  return out;
}

std::string ServerState::served_names() const {
  std::string out;
  for (const auto& m : models) out += (out.empty() ? "" : ", ") + m.name;
  return out;
}

void ServerState::update_load_gauges() {
  if (!ready) return;  // `models` is still being filled
  for (const DeclaredModel& d : models) {
    const MetricsRegistry::Labels labels{{"model", d.name}};
    const ModelLease lease = pool.peek(d.name);
    if (!lease) {  // unloaded by the pool: nothing runs or waits
      metrics.set(metric::kRunning, labels, 0);
      metrics.set(metric::kWaiting, labels, 0);
      continue;
    }
    ServedModel& m = lease.get<ServedModel>();
    if (m.generation) {
      metrics.set(metric::kRunning, labels, static_cast<double>(m.generation->running()));
      metrics.set(metric::kWaiting, labels, static_cast<double>(m.generation->waiting()));
      m.generation->export_metrics(metrics, labels);
    } else if (m.embedding) {
      metrics.set(metric::kRunning, labels, static_cast<double>(m.embedding->running()));
      metrics.set(metric::kWaiting, labels, static_cast<double>(m.embedding->waiting()));
    }
  }
}

}  // namespace ia::server
