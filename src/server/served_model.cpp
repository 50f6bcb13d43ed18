#include "server/served_model.h"

#include <chrono>
#include <filesystem>

#include "core/error.h"
#include "core/kv_quantization.h"
#include "core/logging.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/causal_lm.h"
#include "models/decoder_config.h"
#include "models/model_registry.h"
#include "router/model_placement.h"
#include "server/batched_generation_service.h"

namespace ia::server {

namespace fs = std::filesystem;

std::string default_served_name(const std::string& source, const std::string& dir) {
  // A folder argument keeps the name the user sees; IPFS and hub sources are named by what was asked.
  std::error_code ec;
  if (fs::is_directory(source, ec)) return fs::path(dir).filename().string();
  return source;
}

namespace {

// Bytes of one token's K and V over every layer in a cache of `kv_cache_dtype`, from
// config.json's decoder fields; 0 when the folder is no decoder this build reads that way (the
// load measures what it takes anyway).
int64_t kv_bytes_per_token(const HfConfig& config, DType kv_cache_dtype) {
  try {
    const DecoderConfig c = DecoderConfig::from(config);
    return KvCacheLayout{c.num_layers, c.num_kv_heads, c.head_dim}.bytes_per_token(kv_cache_dtype);
  } catch (const Error&) {
    return 0;
  }
}

}  // namespace

ServedModelPlacement place_served_model(const std::string& dir, const ServeOptions& options) {
  ServedModelPlacement p;
  std::vector<std::string> warnings;
  p.dtype = router::resolve_compute_dtype(options.dtype, dir, warnings);
  // --low-memory: a f32 checkpoint runs in bf16 (half the weights), unless --dtype asked for f32.
  if (options.low_memory && options.dtype == "auto" && p.dtype == DType::F32) p.dtype = DType::BF16;
  p.quantization = weight_quantization(options.quantize);
  p.kv_cache_dtype = parse_kv_cache_dtype(options.kv_cache_dtype);
  p.device = router::placement_device(options.device, dir, p.dtype, p.quantization, p.kv_cache_dtype);
  try {
    auto weights = WeightStore::open(dir);
    weights->set_quantization(p.quantization);
    p.weights_bytes = weights_device_bytes(*weights, p.dtype);
  } catch (const Error&) {
    // A folder the load refuses is the load's to report.
  }
  try {
    const HfConfig config = HfConfig::load(dir);
    const int64_t per_token = kv_bytes_per_token(config, p.kv_cache_dtype);
    if (per_token > 0) {
      const DecoderConfig c = DecoderConfig::from(config);
      const int64_t context =
          options.max_model_len ? std::min(*options.max_model_len, c.max_positions) : c.max_positions;
      p.kv_min_bytes = per_token * context;
      p.kv_wanted_bytes = p.kv_min_bytes * kv_sequences(options);
      if (!p.device.is_cpu()) {  // a GPU's KV pool keeps a step's reserve free beside it (kv_pool_blocks)
        BatchEngineOptions o;
        o.max_num_seqs = static_cast<int>(kv_sequences(options));
        o.max_batch_tokens = options.max_batch_tokens;
        const int64_t reserve = step_reserve_bytes(c, o);
        p.kv_min_bytes += reserve;
        p.kv_wanted_bytes += reserve;
      }
    }
  } catch (const Error&) {
  }
  return p;
}

int64_t kv_sequences(const ServeOptions& options) {
  return options.low_memory ? std::min<int64_t>(options.max_num_seqs, kLowMemorySequences) : options.max_num_seqs;
}

std::unique_ptr<ServedModel> load_served_model(const std::string& source, const std::string& name,
                                               const ServeOptions& options, MetricsRegistry* metrics) {
  const std::string dir = router::resolve_model_dir(source);
  return load_served_model(source, dir, name, place_served_model(dir, options), options, metrics);
}

std::unique_ptr<ServedModel> load_served_model(const std::string& source, const std::string& dir,
                                               const std::string& name, const ServedModelPlacement& where,
                                               const ServeOptions& options, MetricsRegistry* metrics,
                                               std::optional<int64_t> room) {
  auto m = std::make_unique<ServedModel>();
  m->source = source;
  m->dir = dir;
  m->name = name.empty() ? default_served_name(source, m->dir) : name;
  m->memory = current_memory_account();
  const DType dtype = where.dtype;
  const WeightQuantization& quant = where.quantization;
  const DType kv_cache_dtype = where.kv_cache_dtype;
  const Device device = where.device;
  m->device = device.str();
  m->dtype = dtype_name(dtype);
  const HfConfig config = HfConfig::load(m->dir);
  const ModelKind kind = classify_model(config.json(), config.path());
  const bool sentence_transformers = fs::exists(fs::path(m->dir) / "modules.json");
  const auto start = std::chrono::steady_clock::now();
  int64_t context = 0;
  const bool speech = kind.modality == "audio" && kind.task == "automatic-speech-recognition";
  // A speech encoder-decoder (Whisper) is served through its SpeechRecognizer.
  if (!sentence_transformers && has_encoder_decoder(kind) && !speech)
    fail(ErrorKind::Unsupported,
         "{}: serve does not run encoder-decoder models ({}) yet; `ipfs-accelerate generate` does", m->dir,
         kind.architecture);
  if (has_object_detector(kind)) {
    m->detector = ObjectDetectionEndpoint::load(m->dir, device, dtype);
    m->vision_mu = std::make_unique<std::mutex>();
  } else if (kind.task == "image-classification") {
    m->image_classifier = ImageClassificationEndpoint::load(m->dir, device, dtype);
    m->vision_mu = std::make_unique<std::mutex>();
  } else if (kind.family == "clap") {
    m->audio_text = AudioTextEndpoint::load(m->dir, device, dtype);
    m->vision_mu = std::make_unique<std::mutex>();
    context = m->audio_text->model().max_text_tokens();
  } else if (has_video_text_model(kind)) {
    m->video_text = VideoTextEndpoint::load(m->dir, device, dtype);
    m->vision_mu = std::make_unique<std::mutex>();
    context = m->video_text->model().max_text_tokens();
  } else if (kind.family == "clip") {
    m->image_text = ImageTextEndpoint::load(m->dir, device, dtype);
    m->vision_mu = std::make_unique<std::mutex>();
    context = m->image_text->model().max_text_tokens();
  } else if (speech) {
    m->speech = SpeechRecognizer::load(m->dir, device, dtype);
    m->speech_mu = std::make_unique<std::mutex>();
  } else if (!sentence_transformers && has_causal_lm(kind)) {
    m->generator = Generator::load(m->dir, device, dtype, quant, kv_cache_dtype);
    context = m->generator->model().config().max_positions;
    try {
      m->chat_template = tok::ChatTemplate::from_tokenizer_config(m->dir);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::NotFound) throw;  // a broken template is the folder's error; none is fine
    }
  } else {
    m->embedder = EmbeddingEndpoint::load(m->dir, device, dtype, quant);
    context = m->embedder->max_length();
    m->embedding = std::make_unique<EmbeddingService>(m->embedder, options.max_queue);
    const auto& j = config.json();
    if (auto it = j.find("matryoshka_dimensions"); it != j.end() && it->is_array())
      for (const auto& d : *it)
        if (d.is_number_integer()) m->matryoshka_dimensions.push_back(d.get<int64_t>());
    if (auto it = j.find("is_matryoshka"); it != j.end() && it->is_boolean()) m->matryoshka_any = it->get<bool>();
  }
  m->max_model_len = options.max_model_len ? std::min(*options.max_model_len, context) : context;
  if (options.max_model_len && *options.max_model_len > context)
    spdlog::warn("serve: {}: --max-model-len {} is more than the model's {} tokens; using {}", m->name,
                 *options.max_model_len, context, context);
  if (m->generator) {
    BatchedGenerationOptions b;
    b.engine.max_num_seqs = options.max_num_seqs;
    b.engine.max_batch_tokens = options.max_batch_tokens;
    b.engine.max_model_len = m->max_model_len;
    // The KV pool holds kv_sequences() sequences of the context (fewer with --low-memory), within
    // what the memory limit leaves beside the weights just loaded (measured, when in the pool).
    BatchEngineOptions sizing = b.engine;
    sizing.max_num_seqs = static_cast<int>(kv_sequences(options));
    std::optional<int64_t> kv_limit;
    if (room) kv_limit = *room - (m->memory ? m->memory->bytes_on(device) : 0);
    try {
      b.engine.num_blocks = kv_pool_blocks(m->generator->model(), sizing, device_memory_info(device),
                                           gpu_memory_fraction(), m->generator->kv_cache_dtype(), kv_limit);
    } catch (const Error& e) {
      fail(e.kind(), "model `{}`: {}", m->name, e.what());
    }
    m->kv_cache_bytes = b.engine.num_blocks * b.engine.block_size *
                        m->generator->model().kv_layout().bytes_per_token(m->generator->kv_cache_dtype());
    b.max_queue = options.max_queue;
    b.step_delay = options.test_token_delay;
    m->generation = make_batched_generation_service(m->generator, b, metrics, m->name);
    spdlog::info("serve: {}: KV pool of {} blocks of {} tokens ({}); up to {} sequences and {} tokens a step", m->name,
                 b.engine.num_blocks, b.engine.block_size, kv_cache_dtype_name(kv_cache_dtype), b.engine.max_num_seqs,
                 b.engine.max_batch_tokens);
  }
  m->created =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  spdlog::info("serve: loaded {} ({}, {} on {}, {} tokens) from {} in {:.2f} s", m->name, m->serves(), m->dtype,
               m->device, m->max_model_len, m->dir,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return m;
}

}  // namespace ia::server
