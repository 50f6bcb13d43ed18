// The benchmark runner: plans the cases of a suite for a model, loads it once, times each case.
#include "benchmarks/benchmark_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <random>

#include "backends/backend.h"
#include "benchmarks/bench_suite.h"
#include "benchmarks/run_environment.h"
#include "benchmarks/work_estimate.h"
#include "core/error.h"
#include "core/kv_quantization.h"
#include "core/progress.h"
#include "core/quantization.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/model_registry.h"
#include "preprocess/image/rgb_image.h"
#include "router/model_placement.h"
#include "runtime/embedding_endpoint.h"
#include "runtime/generation.h"
#include "runtime/image_endpoints.h"
#include "runtime/object_detection.h"
#include "runtime/speech_recognizer.h"
#include "runtime/vision_prompt.h"

namespace ia::benchmarks {

namespace {

namespace fs = std::filesystem;

// Bounds on what one request may ask for: a typo (a batch of 1e9) is refused, not attempted.
constexpr int64_t kMaxBatch = 4096, kMaxNewTokens = 1 << 16, kMaxAudioSeconds = 3600, kMaxConcurrency = 1024;
constexpr int kMaxRepetitions = 10000;
// Under this many parameters a model gets the short default grid.
constexpr int64_t kSmallModelParams = 100'000'000;

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<int32_t> random_ids(int64_t n, int64_t lo, int64_t hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  const uint32_t span = static_cast<uint32_t>(std::max<int64_t>(1, hi - lo));
  for (auto& id : ids) id = static_cast<int32_t>(lo + rng() % span);
  return ids;
}

void check_range(const std::string& what, const std::vector<int64_t>& values, int64_t max) {
  for (int64_t v : values)
    if (v < 1 || v > max) fail(ErrorKind::InvalidArgument, "{} {} is out of range (1 to {})", what, v, max);
}

// Throughput and fractions of the ceilings from the median time.
void finish(const CeilingFigures& c, Measurement& m) {
  const double s = m.ms.median / 1e3;
  if (s <= 0) return;
  m.throughput = m.items_per_run / s;
  if (m.flops_per_run > 0 && c.gemm_flops_per_s > 0) m.of_gemm = m.flops_per_run / s / c.gemm_flops_per_s;
  if (m.bytes_per_run > 0 && c.copy_bytes_per_s > 0) m.of_copy = m.bytes_per_run / s / c.copy_bytes_per_s;
}

// A case's own RNG seed per repetition, so repetitions do not replay identical inputs.
uint32_t seed_of(const BenchCase& c, int rep) {
  return static_cast<uint32_t>(c.batch * 7919 + c.seq_len * 131 + c.new_tokens * 17 + rep * 1000003);
}

class EmbedSuite : public LoadedSuite {
 public:
  explicit EmbedSuite(const SuiteContext& ctx) : ctx_(ctx) {
    if (!has_encoder(ctx.kind) && !fs::exists(fs::path(ctx.dir) / "modules.json"))
      fail(ErrorKind::InvalidArgument, "{}: a {} model ({}) has no embed suite", ctx.request.model, ctx.kind.family,
           ctx.kind.task);
    endpoint_ = EmbeddingEndpoint::load(ctx.dir, ctx.device, ctx.dtype, ctx.quantization);
  }
  std::vector<BenchCase> plan() const override {
    std::vector<BenchCase> cases;
    for (int64_t b : sizes_or_defaults(ctx_.request.batches, ctx_, {1, 8}, {1, 8, 32}))
      for (int64_t s : sizes_or_defaults(ctx_.request.seq_lens, ctx_, {16, 64}, {32, 128, 512}))
        cases.push_back({"embed", b, s, 0});
    return cases;
  }
  void run(const BenchCase& c, BenchResult& row) override {
    if (c.seq_len > endpoint_->max_length())
      fail(ErrorKind::InvalidArgument, "embed: {} tokens is past the model's limit of {}", c.seq_len,
           endpoint_->max_length());
    const int64_t vocab = endpoint_->encoder().vocab_size();
    EmbeddingOptions opts;
    opts.batch_size = static_cast<int>(c.batch);
    opts.max_length = c.seq_len;
    Measurement m = repeat_case(ctx_.request, [&](int rep) {
      std::vector<std::vector<int32_t>> ids;
      for (int64_t b = 0; b < c.batch; ++b)
        ids.push_back(random_ids(c.seq_len, std::min<int64_t>(5, vocab - 1), vocab, seed_of(c, rep) + b));
      const double t0 = now_ms();
      EmbeddingResult r = endpoint_->embed_ids(ids, opts);
      const double t1 = now_ms();
      if (r.embeddings.shape()[0] != c.batch) fail(ErrorKind::Internal, "embed: wrong number of embeddings");
      return t1 - t0;
    });
    m.items_per_run = static_cast<double>(c.batch);
    m.unit = "sequences";
    m.flops_per_run = forward_flops(ctx_.shape, c.batch, c.seq_len, false, 0);
    row.measurement = m;
  }

 private:
  const SuiteContext& ctx_;
  std::shared_ptr<EmbeddingEndpoint> endpoint_;
};

// A vision-language model's prompt: one synthetic image of `image_side` pixels and a text of
// `text_tokens` tokens, as VisionPrompter prepares a user's (image features computed here: the
// time to the first token includes the vision tower).
VisionPromptInput vision_prompt(const VisionPrompter& vp, const tok::Tokenizer& tok, int64_t text_tokens,
                                int64_t image_side, uint32_t seed) {
  std::mt19937 rng(seed);
  image::RgbImage img(image_side, image_side);
  for (auto& p : img.pixels) p = static_cast<uint8_t>(rng());
  // Words that are one token each in every tokenizer we ship ("a" is): exact text lengths.
  std::string text = vp.image_token() + "\n";
  const size_t base = tok.encode(text, true).ids.size();
  while (static_cast<int64_t>(tok.encode(text, true).ids.size() - base) < text_tokens) text += " a";
  return vp.prepare(text, {img});
}

// prefill, decode, or both (generate).
class GenerateSuite : public LoadedSuite {
 public:
  GenerateSuite(const SuiteContext& ctx, std::string suite) : ctx_(ctx), suite_(std::move(suite)) {
    require_text_generator(ctx.kind, ctx.dir);
    generator_ = Generator::load(ctx.dir, ctx.device, ctx.dtype, ctx.quantization, ctx.kv_cache_dtype);
  }
  std::vector<BenchCase> plan() const override {
    const BenchRequest& req = ctx_.request;
    std::vector<BenchCase> cases;
    if (suite_ != "decode")  // prefill makes one token, recorded as none
      for (int64_t b : sizes_or_defaults(req.batches, ctx_, {1}, {1}))
        for (int64_t s : sizes_or_defaults(req.seq_lens, ctx_, {16, 64}, {128, 512}))
          cases.push_back({"prefill", b, s, 0});
    if (suite_ != "prefill")
      for (int64_t b : sizes_or_defaults(req.batches, ctx_, {1, 4}, {1, 8, 32}))
        for (int64_t s : sizes_or_defaults(req.seq_lens, ctx_, {16}, {128}))
          for (int64_t n : sizes_or_defaults(req.new_tokens, ctx_, {16}, {64})) cases.push_back({"decode", b, s, n});
    return cases;
  }
  void run(const BenchCase& c, BenchResult& row) override {
    const DecoderConfig& cfg = generator_->model().config();
    const bool decode = c.suite == "decode";
    const VisionPrompter* vp = generator_->vision();
    const int64_t new_tokens = decode ? c.new_tokens : 1;  // prefill: the one token it makes
    GenerationRequest req;
    req.max_new_tokens = new_tokens;
    req.ignore_eos = true;
    req.temperature = 0.0f;
    const int64_t vocab = cfg.vocab_size;
    int64_t decode_tokens = 0, prompt_tokens = c.batch * c.seq_len;
    Measurement m = repeat_case(ctx_.request, [&](int rep) {
      std::vector<std::vector<int32_t>> prompts;
      std::vector<std::shared_ptr<const PromptImages>> images;
      double prepare_ms = 0;
      for (int64_t b = 0; b < c.batch; ++b) {
        if (vp) {
          // Each prompt an image and seq_len text tokens; the prefill's time includes the image's
          // preprocessing and vision tower (what a user waits for before the first token).
          const double t0 = now_ms();
          VisionPromptInput in = vision_prompt(*vp, generator_->tokenizer(), c.seq_len,
                                               vp->processor().crop_size().second, seed_of(c, rep) + b);
          prepare_ms += now_ms() - t0;
          prompts.push_back(std::move(in.ids));
          images.push_back(std::move(in.images));
        } else {
          prompts.push_back(random_ids(c.seq_len, std::min<int64_t>(3, vocab - 1), vocab, seed_of(c, rep) + b));
        }
      }
      const int64_t longest = static_cast<int64_t>(prompts.front().size());
      if (cfg.max_positions > 0 && longest + new_tokens > cfg.max_positions)
        fail(ErrorKind::InvalidArgument, "{}: {} prompt + {} new tokens do not fit the model's context of {}", c.suite,
             longest, new_tokens, cfg.max_positions);
      GenerationStats stats;
      generator_->generate_ids(prompts, req, {}, &stats, images);
      decode_tokens = stats.decode_tokens;
      prompt_tokens = stats.prompt_tokens;
      return decode ? stats.decode_ms : prepare_ms + stats.prefill_ms;
    });
    if (decode) {
      // Steps after the prefill's token; every step streams each weight once for the whole batch.
      m.items_per_run = static_cast<double>(decode_tokens);
      m.bytes_per_run = static_cast<double>(generator_->model().weight_bytes_per_token()) *
                        static_cast<double>(decode_tokens) / static_cast<double>(c.batch);
    } else {
      m.items_per_run = static_cast<double>(prompt_tokens);
      if (!vp) m.flops_per_run = forward_flops(ctx_.shape, c.batch, c.seq_len, true, c.batch);
    }
    m.unit = "tokens";
    row.measurement = m;
  }

 private:
  const SuiteContext& ctx_;
  std::string suite_;
  std::shared_ptr<Generator> generator_;
};

// An encoder-decoder's whole generate call (encoder, cross-attention cache, every decoder step):
// generated tokens per second of wall time, as a user of generate sees it.
class Seq2SeqSuite : public LoadedSuite {
 public:
  explicit Seq2SeqSuite(const SuiteContext& ctx) : ctx_(ctx) {
    require_text_generator(ctx.kind, ctx.dir);
    generator_ = Generator::load(ctx.dir, ctx.device, ctx.dtype);
    if (!generator_->encoder_decoder())
      fail(ErrorKind::InvalidArgument, "{}: the seq2seq suite is for encoder-decoders (T5); use generate", ctx.dir);
  }
  std::vector<BenchCase> plan() const override {
    const BenchRequest& req = ctx_.request;
    std::vector<BenchCase> cases;
    for (int64_t b : sizes_or_defaults(req.batches, ctx_, {1, 4}, {1, 8}))
      for (int64_t s : sizes_or_defaults(req.seq_lens, ctx_, {16}, {64}))
        for (int64_t n : sizes_or_defaults(req.new_tokens, ctx_, {16}, {64})) cases.push_back({"seq2seq", b, s, n});
    return cases;
  }
  void run(const BenchCase& c, BenchResult& row) override {
    GenerationRequest req;
    req.max_new_tokens = c.new_tokens;
    req.ignore_eos = true;
    req.temperature = 0.0f;
    const int64_t vocab = generator_->model().config().vocab_size;
    int64_t tokens = 0;
    Measurement m = repeat_case(ctx_.request, [&](int rep) {
      std::vector<std::vector<int32_t>> prompts;
      for (int64_t b = 0; b < c.batch; ++b)
        prompts.push_back(random_ids(c.seq_len, std::min<int64_t>(3, vocab - 1), vocab, seed_of(c, rep) + b));
      const double t0 = now_ms();
      const auto results = generator_->generate_ids(prompts, req);
      const double t1 = now_ms();
      tokens = 0;
      for (const auto& r : results) tokens += static_cast<int64_t>(r.ids.size());
      return t1 - t0;
    });
    m.items_per_run = static_cast<double>(tokens);
    m.unit = "tokens";
    row.measurement = m;
  }

 private:
  const SuiteContext& ctx_;
  std::shared_ptr<Generator> generator_;
};

// Synthetic images of `width` x `height`: noise, deterministic per seed.
std::vector<image::RgbImage> noise_images(int64_t count, int64_t width, int64_t height, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<image::RgbImage> images;
  for (int64_t b = 0; b < count; ++b) {
    image::RgbImage img(width, height);
    for (auto& p : img.pixels) p = static_cast<uint8_t>(rng());
    images.push_back(std::move(img));
  }
  return images;
}

// An image suite: batch synthetic images of one size through one endpoint call, preprocessing
// (and post-processing) included: ViT classification and CLIP image embeddings of 224x224
// images, DETR detection of 1066x800 ones (its processor keeps that size: shortest edge 800).
class ImageSuite : public LoadedSuite {
 public:
  ImageSuite(const SuiteContext& ctx, const std::string& suite) : ctx_(ctx), suite_(suite) {
    if (suite == "image-classification") {
      require_image_classifier(ctx.kind, ctx.dir);
      auto e = ImageClassificationEndpoint::load(ctx.dir, ctx.device, ctx.dtype);
      call_ = [e](const std::vector<image::RgbImage>& images) { e->classify(images, 1); };
      const HfConfig cfg = HfConfig::load(ctx.dir);
      const int64_t image = cfg.get_int("image_size", 0), patch = cfg.get_int("patch_size", 0);
      if (image > 0 && patch > 0) tokens_ = (image / patch) * (image / patch) + 1;  // a ViT: patches, class token
    } else if (suite == "image-embedding") {
      require_image_text_model(ctx.kind, ctx.dir);
      auto e = ImageTextEndpoint::load(ctx.dir, ctx.device, ctx.dtype);
      call_ = [e](const std::vector<image::RgbImage>& images) { e->image_embeddings(images, true); };
    } else {
      require_object_detector(ctx.kind, ctx.dir);
      auto e = ObjectDetectionEndpoint::load(ctx.dir, ctx.device, ctx.dtype);
      call_ = [e](const std::vector<image::RgbImage>& images) { e->detect(images, 0.9f); };
      width_ = 1066;
      height_ = 800;
    }
  }
  std::vector<BenchCase> plan() const override {
    const bool classify = suite_ == "image-classification";
    std::vector<BenchCase> cases;
    for (int64_t b : sizes_or_defaults(ctx_.request.batches, ctx_, {1, 4},
                                       classify ? std::vector<int64_t>{1, 8, 32} : std::vector<int64_t>{1, 8}))
      cases.push_back({suite_, b, 0, 0});
    return cases;
  }
  void run(const BenchCase& c, BenchResult& row) override {
    Measurement m = repeat_case(ctx_.request, [&](int rep) {
      const auto images = noise_images(c.batch, width_, height_, seed_of(c, rep));
      const double t0 = now_ms();
      call_(images);
      return now_ms() - t0;
    });
    m.items_per_run = static_cast<double>(c.batch);
    m.unit = "images";
    if (tokens_ > 0) m.flops_per_run = forward_flops(ctx_.shape, c.batch, tokens_, false, c.batch);
    row.measurement = m;
  }

 private:
  const SuiteContext& ctx_;
  std::string suite_;
  std::function<void(const std::vector<image::RgbImage>&)> call_;
  int64_t width_ = 224, height_ = 224;
  int64_t tokens_ = 0;  // tokens per image where the FLOPs are modelled (ViT)
};

class TranscriptionSuite : public LoadedSuite {
 public:
  explicit TranscriptionSuite(const SuiteContext& ctx) : ctx_(ctx) {
    recognizer_ = SpeechRecognizer::load(ctx.dir, ctx.device, ctx.dtype);
  }
  std::vector<BenchCase> plan() const override {
    std::vector<BenchCase> cases;
    for (int64_t s : sizes_or_defaults(ctx_.request.seq_lens, ctx_, {2}, {10, 30}))
      for (int64_t n : sizes_or_defaults(ctx_.request.new_tokens, ctx_, {32}, {32}))
        cases.push_back({"transcription", 1, s, n});
    return cases;
  }
  void run(const BenchCase& c, BenchResult& row) override {
    TranscriptionOptions opts;
    const bool whisper = recognizer_->kind() == "whisper";
    // A generator on random weights may never stop, and where it stops differs between engines:
    // each window generates exactly new_tokens (CTC models take no such option, and record none).
    if (whisper) {
      opts.max_new_tokens = c.new_tokens;
      opts.ignore_eos = true;
      opts.language = "en";
    } else {
      row.params.new_tokens = 0;
    }
    const int rate = recognizer_->sampling_rate();
    // Whisper's windows are 30 s; longer audio is timed as its 30-s windows one after another,
    // each with the same fixed work (where a long-form transcript would continue from a window's
    // last timestamp, random weights give no meaningful timestamps to continue from).
    Measurement m = repeat_case(ctx_.request, [&](int rep) {
      // A 440 Hz tone in noise: speech-like in level, deterministic per repetition.
      std::mt19937 rng(seed_of(c, rep));
      std::normal_distribution<float> noise(0, 0.05f);
      std::vector<float> samples(static_cast<size_t>(c.seq_len * rate));
      for (size_t i = 0; i < samples.size(); ++i)
        samples[i] = 0.3f * std::sin(2.0f * 3.14159265f * 440.0f * static_cast<float>(i) / static_cast<float>(rate)) +
                     noise(rng);
      const size_t window = whisper ? static_cast<size_t>(30 * rate) : samples.size();
      const double t0 = now_ms();
      for (size_t at = 0; at < samples.size(); at += window) {
        const size_t end = std::min(samples.size(), at + window);
        recognizer_->transcribe(std::vector<float>(samples.begin() + static_cast<std::ptrdiff_t>(at),
                                                   samples.begin() + static_cast<std::ptrdiff_t>(end)),
                                opts);
      }
      return now_ms() - t0;
    });
    m.items_per_run = static_cast<double>(c.seq_len);
    m.unit = "audio_s";
    row.measurement = m;
  }

 private:
  const SuiteContext& ctx_;
  std::shared_ptr<const SpeechRecognizer> recognizer_;
};

template <typename Suite, typename... Args>
std::function<std::unique_ptr<LoadedSuite>(const SuiteContext&)> loader(Args... args) {
  return [args...](const SuiteContext& ctx) -> std::unique_ptr<LoadedSuite> {
    return std::make_unique<Suite>(ctx, args...);
  };
}

// The suites, built-in ones first; register_suite adds to them.
struct SuiteRegistry {
  std::mutex mu;
  std::vector<SuiteDefinition> suites{
      {.name = "embed", .takes_quantization = true, .load = loader<EmbedSuite>()},
      {.name = "prefill", .takes_quantization = true, .load = loader<GenerateSuite>(std::string("prefill"))},
      {.name = "decode", .takes_quantization = true, .load = loader<GenerateSuite>(std::string("decode"))},
      {.name = "generate", .takes_quantization = true, .load = loader<GenerateSuite>(std::string("generate"))},
      {.name = "seq2seq", .load = loader<Seq2SeqSuite>()},
      {.name = "image-classification", .load = loader<ImageSuite>(std::string("image-classification"))},
      {.name = "image-embedding", .load = loader<ImageSuite>(std::string("image-embedding"))},
      {.name = "object-detection", .load = loader<ImageSuite>(std::string("object-detection"))},
      {.name = "transcription",
       .seq_len_meaning = "audio seconds",
       .max_seq_len = kMaxAudioSeconds,
       .load = loader<TranscriptionSuite>()},
  };
};

SuiteRegistry& registry() {
  static SuiteRegistry r;
  return r;
}

std::optional<SuiteDefinition> find_suite(const std::string& name) {
  SuiteRegistry& r = registry();
  std::lock_guard lock(r.mu);
  for (const SuiteDefinition& s : r.suites)
    if (s.name == name) return s;
  return std::nullopt;
}

// The names of the registered suites `which` keeps, comma-separated.
std::string suite_list(const std::function<bool(const SuiteDefinition&)>& which) {
  std::string out;
  SuiteRegistry& r = registry();
  std::lock_guard lock(r.mu);
  for (const SuiteDefinition& s : r.suites)
    if (which(s)) out += (out.empty() ? "" : ", ") + s.name;
  return out;
}

std::string suite_list() {
  std::string out;
  for (const std::string& n : suite_names()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

void register_suite(SuiteDefinition suite) {
  SuiteRegistry& r = registry();
  std::lock_guard lock(r.mu);
  for (SuiteDefinition& s : r.suites)
    if (s.name == suite.name) {
      s = std::move(suite);
      return;
    }
  r.suites.push_back(std::move(suite));
}

std::vector<std::string> suite_names() {
  SuiteRegistry& r = registry();
  std::lock_guard lock(r.mu);
  std::vector<std::string> names;
  for (const SuiteDefinition& s : r.suites) names.push_back(s.name);
  return names;
}

Measurement repeat_case(const BenchRequest& request, const std::function<double(int)>& body) {
  for (int i = 0; i < request.warmup; ++i) body(-1 - i);
  std::vector<double> samples;
  for (int i = 0; i < request.repetitions; ++i) samples.push_back(body(i));
  Measurement m;
  m.ms = sample_stats(samples);
  return m;
}

std::vector<int64_t> sizes_or_defaults(const std::vector<int64_t>& given, const SuiteContext& ctx,
                                       std::vector<int64_t> small, std::vector<int64_t> large) {
  if (!given.empty()) return given;
  return ctx.shape.parameters < kSmallModelParams ? small : large;
}

std::string default_suite(const std::string& task, const std::string& model_dir) {
  std::error_code ec;
  if (fs::exists(fs::path(model_dir) / "modules.json", ec)) return "embed";  // a sentence-transformers folder
  if (task == "text2text-generation") return "seq2seq";
  if (task.find("generation") != std::string::npos || task == "image-text-to-text") return "generate";
  if (task == "feature-extraction" || task == "fill-mask" || task == "text-classification" ||
      task == "token-classification" || task == "sentence-similarity")
    return "embed";
  if (task == "image-classification") return "image-classification";
  if (task == "automatic-speech-recognition") return "transcription";
  if (task == "zero-shot-image-classification") return "image-embedding";
  if (task == "object-detection") return "object-detection";
  fail(ErrorKind::Unsupported, "no benchmark suite for task \"{}\" yet (suites: {})", task, suite_list());
}

std::vector<BenchResult> run_benchmarks(const BenchRequest& request) {
  if (request.repetitions < 1 || request.repetitions > kMaxRepetitions)
    fail(ErrorKind::InvalidArgument, "repetitions {} is out of range (1 to {})", request.repetitions, kMaxRepetitions);
  if (request.warmup < 0 || request.warmup > kMaxRepetitions)
    fail(ErrorKind::InvalidArgument, "warmup {} is out of range (0 to {})", request.warmup, kMaxRepetitions);
  check_range("batch", request.batches, kMaxBatch);
  check_range("new tokens", request.new_tokens, kMaxNewTokens);
  check_range("concurrency", request.concurrency, kMaxConcurrency);
  std::optional<SuiteDefinition> named;
  if (!request.suite.empty() && !(named = find_suite(request.suite)))
    fail(ErrorKind::InvalidArgument, "unknown suite \"{}\" ({})", request.suite, suite_list());

  const std::string dir = router::resolve_model_dir(request.model);
  const HfConfig config = HfConfig::load(dir);
  const ModelKind kind = classify_model(config.json(), config.path());
  const SuiteDefinition suite = named ? *named : *find_suite(default_suite(kind.task, dir));
  if (suite.by_concurrency && !request.batches.empty())
    fail(ErrorKind::InvalidArgument,
         "the {} suite takes concurrency levels, not batch sizes (its rows' batch is the "
         "concurrency)",
         suite.name);
  if (!suite.by_concurrency && !request.concurrency.empty())
    fail(ErrorKind::InvalidArgument, "concurrency levels are for the suites that send requests ({}), not {}",
         suite_list([](const SuiteDefinition& s) { return s.by_concurrency; }), suite.name);
  check_range(suite.seq_len_meaning, request.seq_lens, suite.max_seq_len);
  const WeightQuantization quantization = weight_quantization(request.quantize);
  const DType kv_cache_dtype = parse_kv_cache_dtype(request.kv_cache_dtype);
  if ((quantization.enabled() || kv_cache_dtype != DType::F32) && !suite.takes_quantization)
    fail(ErrorKind::InvalidArgument, "--quantize and --kv-cache-dtype are for the {} suites, not {}",
         suite_list([](const SuiteDefinition& s) { return s.takes_quantization; }), suite.name);
  std::vector<std::string> warnings;
  const DType dtype = router::resolve_compute_dtype(request.dtype, dir, warnings);
  const SuiteContext ctx{.request = request,
                         .dir = dir,
                         .device = router::placement_device(request.device, dir, dtype, quantization, kv_cache_dtype),
                         .dtype = dtype,
                         .quantization = quantization,
                         .kv_cache_dtype = kv_cache_dtype,
                         .kind = kind,
                         .shape = model_shape(config, *WeightStore::open(dir))};

  BenchResult base;
  base.run_id = new_run_id();
  base.started_at = utc_timestamp_now();
  base.machine = this_machine();
  base.build = this_build(ctx.device);
  base.model.name = request.model;
  base.model.path = ctx.dir;
  base.model.family = kind.family;
  base.model.task = kind.task;
  base.model.parameters = ctx.shape.parameters;
  base.model.dtype = dtype_name(ctx.dtype);
  base.model.quantization = quantization.enabled() ? quantization.method : "none";
  if (kv_cache_dtype != DType::F32)
    base.model.quantization += std::string("+kv-") + kv_cache_dtype_name(kv_cache_dtype);
  base.params.device = ctx.device.str();
  base.params.warmup = request.warmup;
  base.params.repetitions = request.repetitions;

  // The ceilings are measured before the cases and again after them, and the better of the two
  // counts: a burst of load from elsewhere during one measurement does not inflate the fractions.
  auto measure = [&] {
    if (!request.measure_ceilings) return;
    const Ceilings c = measure_ceilings(ctx.device, {base.model.dtype}, request.ceiling_options);
    base.ceilings.copy_bytes_per_s = std::max(base.ceilings.copy_bytes_per_s, c.copy_bytes_per_s);
    base.ceilings.gemm_flops_per_s = std::max(base.ceilings.gemm_flops_per_s, c.gemm_for(base.model.dtype));
  };
  measure();

  std::unique_ptr<LoadedSuite> loaded = suite.load(ctx);
  const std::vector<BenchCase> cases = loaded->plan();
  ProgressTask progress("bench " + fs::path(ctx.dir).filename().string(), cases.size(), ProgressUnit::Cases);
  std::vector<BenchResult> results;
  for (const BenchCase& c : cases) {
    BenchResult r = base;
    r.params.suite = c.suite;
    r.params.batch = c.batch;
    r.params.seq_len = c.seq_len;
    r.params.new_tokens = c.new_tokens;
    loaded->run(c, r);
    results.push_back(r);
    progress.advance(1);
  }
  loaded.reset();  // its model (or server) gone before the ceilings are measured again
  measure();
  for (BenchResult& r : results) {
    r.ceilings = base.ceilings;
    finish(base.ceilings, r.measurement);
  }
  progress.finish();
  return results;
}

}  // namespace ia::benchmarks
