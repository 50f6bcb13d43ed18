// The Accelerator facade: one call per task. Today every call runs on a local
// endpoint; remote providers join here later as a fallback chain.
#include "ipfs_accelerate/accelerator.h"

#include <chrono>
#include <filesystem>
#include <map>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/kv_quantization.h"
#include "core/logging.h"
#include "core/thread_pool.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/model_registry.h"
#include "preprocess/image/image_decoder.h"
#include "router/load_once_cache.h"
#include "router/model_placement.h"
#include "router/model_source.h"
#include "router/vision_calls.h"
#include "runtime/chat_session.h"
#include "runtime/device_selection.h"
#include "runtime/embedding_endpoint.h"
#include "runtime/generation.h"
#include "runtime/hardware.h"
#include "runtime/vision_prompt.h"
#include "tokenizers/chat_template/chat_template.h"
#include "tokenizers/tokenizer.h"

namespace ipfs_accelerate {

namespace fs = std::filesystem;
using ia::router::resolve_compute_dtype;
using ia::router::resolve_model_dir;

namespace {

// Runs fn, translating internal errors into the public Error type.
template <typename Fn>
auto translate_errors(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const ia::Error& e) {
    throw Error(ia::error_kind_name(e.kind()), e.what());
  } catch (const nlohmann::json::exception& e) {
    throw Error("corrupt", e.what());
  } catch (const std::bad_alloc&) {
    throw Error("unavailable", "out of memory");
  }
}

// With -v: what loads, from where, in which dtype, on which device, and how long it took.
template <class Load>
auto logged_load(const char* what, const std::string& dir, ia::Device device, ia::DType dtype, Load load) {
  spdlog::info("loading {} from {} ({}, {})", what, dir, ia::dtype_name(dtype), device.str());
  const auto start = std::chrono::steady_clock::now();
  auto loaded = load();
  spdlog::info("loaded {} from {} in {:.2f} s", what, dir,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return loaded;
}

}  // namespace

struct Accelerator::Impl {
  // folder, device, dtype, --quantize, --kv-cache-dtype (generators; F32 for the rest)
  using PlacedKey = std::tuple<std::string, std::string, int, std::string, int>;

  // Loaded things are kept for reuse, each loaded once; a load holds no lock
  // another model's call needs (load_once_cache.h).
  ia::router::LoadOnceCache<PlacedKey, ia::EmbeddingEndpoint> endpoints;
  ia::router::LoadOnceCache<PlacedKey, ia::Generator> generators;
  ia::router::LoadOnceCache<std::string, ia::tok::Tokenizer> tokenizers;
  ia::router::VisionEndpoints vision;  // classify, similarity, embed_images, a CLIP folder's embed

  std::shared_ptr<ia::EmbeddingEndpoint> endpoint(const std::string& dir, ia::Device device, ia::DType dtype,
                                                  const ia::WeightQuantization& quant) {
    return endpoints.get(PlacedKey{dir, device.str(), static_cast<int>(dtype), quant.method, 0}, [&] {
      return logged_load(quant.enabled() ? "embedding model, quantized" : "embedding model", dir, device, dtype,
                         [&] { return ia::EmbeddingEndpoint::load(dir, device, dtype, quant); });
    });
  }

  std::shared_ptr<ia::Generator> generator(const std::string& dir, ia::Device device, ia::DType dtype,
                                           const ia::WeightQuantization& quant, ia::DType kv_cache_dtype) {
    const PlacedKey key{dir, device.str(), static_cast<int>(dtype), quant.method, static_cast<int>(kv_cache_dtype)};
    return generators.get(key, [&] {
      return logged_load(quant.enabled() ? "generator, quantized" : "generator", dir, device, dtype,
                         [&] { return ia::Generator::load(dir, device, dtype, quant, kv_cache_dtype); });
    });
  }

  // What generate and chat share: the model's generator on the chosen device and dtype, the
  // request, and the streaming callback.
  struct GenerationSetup {
    ia::Device device;
    ia::DType dtype;
    std::vector<std::string> warnings;  // the dtype resolution's
    std::shared_ptr<ia::Generator> gen;
    ia::GenerationRequest req;
    ia::StreamCallback on_text;
  };
  GenerationSetup setup_generation(const std::string& model, const GenerateOptions& options);

  std::shared_ptr<ia::tok::Tokenizer> tokenizer(const std::string& dir) {
    return tokenizers.get(dir, [&] { return ia::tok::Tokenizer::from_folder(dir); });
  }
};

Accelerator::Accelerator(AcceleratorOptions options) : impl_(std::make_unique<Impl>()) {
  ia::ensure_logging();
  ia::set_num_threads(options.threads);
}

Accelerator::~Accelerator() = default;

EmbedResult Accelerator::embed(const std::string& model, const std::vector<std::string>& texts,
                               const EmbedOptions& options) {
  return translate_errors([&] {
    std::string dir = resolve_model_dir(model);
    if (ia::router::is_image_text_folder(dir))
      return ia::router::embed_clip_texts(impl_->vision, model, dir, texts, options);
    std::vector<std::string> dtype_warnings;
    ia::DType dtype = resolve_compute_dtype(options.dtype, dir, dtype_warnings);
    const ia::WeightQuantization quant = ia::weight_quantization(options.quantize);
    ia::Device device = ia::router::placement_device(options.device, dir, dtype, quant);
    ia::EmbeddingOptions eo;
    if (options.pooling) eo.pooling = ia::parse_pool_mode(*options.pooling);
    eo.normalize = options.normalize;
    eo.batch_size = options.batch_size;
    eo.truncate = options.truncate;
    if (options.max_length) eo.max_length = *options.max_length;
    eo.prompt_name = options.prompt_name;
    eo.prompt = options.prompt;
    auto ep = impl_->endpoint(dir, device, dtype, quant);
    ia::EmbeddingResult r = ep->embed(texts, eo);

    EmbedResult out;
    out.model = model;
    out.device = device.str();
    out.dtype = ia::dtype_name(dtype);
    out.pooling = ia::pool_mode_name(r.pooling);
    out.normalized = r.normalized;
    out.dimensions = static_cast<int>(r.embeddings.size(1));
    const float* p = r.embeddings.data<float>();
    for (int64_t i = 0; i < r.embeddings.size(0); ++i) {
      out.embeddings.emplace_back(p + i * out.dimensions, p + (i + 1) * out.dimensions);
    }
    out.token_counts = r.token_counts;
    out.truncated = r.truncated;
    out.max_length = static_cast<int>(r.max_length);
    out.warnings = std::move(dtype_warnings);
    out.warnings.insert(out.warnings.end(), r.warnings.begin(), r.warnings.end());
    out.tokenize_ms = r.tokenize_ms;
    out.inference_ms = r.inference_ms;
    return out;
  });
}

ClassifyResult Accelerator::classify(const std::string& model, const std::vector<ImageInput>& images,
                                     const ClassifyOptions& options) {
  return translate_errors([&] { return ia::router::classify(impl_->vision, model, images, options); });
}

DetectResult Accelerator::detect(const std::string& model, const std::vector<ImageInput>& images,
                                 const DetectOptions& options) {
  return translate_errors([&] { return ia::router::detect(impl_->vision, model, images, options); });
}

SimilarityResult Accelerator::similarity(const std::string& model, const std::vector<ImageInput>& images,
                                         const std::vector<std::string>& texts, const VisionOptions& options) {
  return translate_errors([&] { return ia::router::similarity(impl_->vision, model, images, texts, options); });
}

VideoSimilarityResult Accelerator::video_similarity(const std::string& model, const std::vector<VideoInput>& videos,
                                                    const std::vector<std::string>& texts,
                                                    const VisionOptions& options) {
  return translate_errors([&] { return ia::router::video_similarity(impl_->vision, model, videos, texts, options); });
}

ImageEmbedResult Accelerator::embed_images(const std::string& model, const std::vector<ImageInput>& images,
                                           const ImageEmbedOptions& options) {
  return translate_errors([&] { return ia::router::embed_images(impl_->vision, model, images, options); });
}

TokenizeResult Accelerator::tokenize(const std::string& model, const std::string& text, bool add_special_tokens,
                                     const std::optional<std::string>& pair) {
  return translate_errors([&] {
    auto tok = impl_->tokenizer(resolve_model_dir(model));
    ia::tok::Encoding e =
        pair ? tok->encode_pair(text, *pair, add_special_tokens) : tok->encode(text, add_special_tokens);
    TokenizeResult r;
    r.ids.assign(e.ids.begin(), e.ids.end());
    r.type_ids.assign(e.type_ids.begin(), e.type_ids.end());
    r.tokens = e.tokens;
    r.offsets = e.offsets;
    return r;
  });
}

std::vector<TokenizeResult> Accelerator::tokenize_batch(
    const std::string& model, const std::vector<std::pair<std::string, std::optional<std::string>>>& inputs,
    bool add_special_tokens) {
  return translate_errors([&] {
    auto tok = impl_->tokenizer(resolve_model_dir(model));
    // Singles and pairs go through encode_batch / encode_batch_pairs separately, then back into input order.
    std::vector<std::string> singles;
    std::vector<std::pair<std::string, std::string>> pairs;
    std::vector<std::pair<bool, size_t>> where;
    for (const auto& [text, pair] : inputs) {
      if (pair) {
        where.emplace_back(true, pairs.size());
        pairs.emplace_back(text, *pair);
      } else {
        where.emplace_back(false, singles.size());
        singles.push_back(text);
      }
    }
    const auto enc_s = tok->encode_batch(singles, add_special_tokens);
    const auto enc_p = tok->encode_batch_pairs(pairs, add_special_tokens);
    std::vector<TokenizeResult> out;
    out.reserve(inputs.size());
    for (const auto& [is_pair, k] : where) {
      const ia::tok::Encoding& e = is_pair ? enc_p[k] : enc_s[k];
      TokenizeResult r;
      r.ids.assign(e.ids.begin(), e.ids.end());
      r.type_ids.assign(e.type_ids.begin(), e.type_ids.end());
      r.tokens = e.tokens;
      r.offsets = e.offsets;
      out.push_back(std::move(r));
    }
    return out;
  });
}

std::string Accelerator::detokenize(const std::string& model, const std::vector<int>& ids, bool skip_special_tokens) {
  return translate_errors([&] {
    auto tok = impl_->tokenizer(resolve_model_dir(model));
    std::vector<int32_t> v(ids.begin(), ids.end());
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] < 0 || static_cast<size_t>(v[i]) >= tok->vocab_size()) {
        ia::fail(ia::ErrorKind::InvalidArgument, "token id {} (position {}) is outside the vocabulary of {} tokens",
                 v[i], i, tok->vocab_size());
      }
    }
    return tok->decode(v, skip_special_tokens);
  });
}

namespace {

// The one place the public sampling struct becomes the internal one (the
// public API cannot include runtime headers).
ia::SamplingOptions sampling_options(const SamplingOptions& o) {
  ia::SamplingOptions s;
  s.temperature = o.temperature;
  if (o.top_k) s.top_k = *o.top_k;
  s.top_p = o.top_p;
  s.min_p = o.min_p;
  s.repetition_penalty = o.repetition_penalty;
  s.presence_penalty = o.presence_penalty;
  s.frequency_penalty = o.frequency_penalty;
  s.logit_bias.insert(o.logit_bias.begin(), o.logit_bias.end());
  s.seed = o.seed;
  s.logprobs = o.logprobs;
  if (o.no_repeat_ngram_size) s.no_repeat_ngram_size = *o.no_repeat_ngram_size;
  return s;
}

ia::GenerationRequest generation_request(const GenerateOptions& options) {
  ia::GenerationRequest req;
  static_cast<ia::SamplingOptions&>(req) = sampling_options(options);
  if (options.max_new_tokens) req.max_new_tokens = *options.max_new_tokens;
  req.stop = options.stop;
  req.ignore_eos = options.ignore_eos;
  req.truncate_prompt = options.truncate;
  if (options.num_beams) req.num_beams = *options.num_beams;
  req.length_penalty = options.length_penalty;
  if (options.early_stopping) req.early_stopping = ia::parse_early_stopping(*options.early_stopping);
  return req;
}

GenerateResult generate_result(const std::string& model, ia::Device device, ia::DType dtype,
                               const ia::GenerationResult& r, const ia::GenerationStats& st,
                               const std::vector<std::string>& setup_warnings) {
  GenerateResult out;
  out.model = model;
  out.device = device.str();
  out.dtype = ia::dtype_name(dtype);
  out.prompt_ids.assign(r.prompt_ids.begin(), r.prompt_ids.end());
  out.ids.assign(r.ids.begin(), r.ids.end());
  out.text = r.text;
  out.finish_reason = r.finish_reason;
  for (const auto& t : r.logprobs) {
    TokenLogprobs lp{t.id, t.logprob, {}};
    for (const auto& e : t.top) lp.top.emplace_back(e.id, e.logprob);
    out.logprobs.push_back(std::move(lp));
  }
  out.warnings = setup_warnings;
  out.warnings.insert(out.warnings.end(), r.warnings.begin(), r.warnings.end());
  out.prefill_ms = st.prefill_ms;
  out.decode_ms = st.decode_ms;
  out.decode_tokens_per_s = st.decode_ms > 0 ? static_cast<double>(st.decode_tokens) * 1000.0 / st.decode_ms : 0.0;
  out.cached_prompt_tokens = static_cast<int>(st.cached_tokens);
  out.beam_score = r.beam_score;
  return out;
}

}  // namespace

Accelerator::Impl::GenerationSetup Accelerator::Impl::setup_generation(const std::string& model,
                                                                       const GenerateOptions& options) {
  GenerationSetup g;
  const std::string dir = resolve_model_dir(model);
  g.dtype = resolve_compute_dtype(options.dtype, dir, g.warnings);
  const ia::WeightQuantization quant = ia::weight_quantization(options.quantize);
  const ia::DType kv_cache_dtype = ia::parse_kv_cache_dtype(options.kv_cache_dtype);
  g.device = ia::router::placement_device(options.device, dir, g.dtype, quant, kv_cache_dtype);
  g.req = generation_request(options);
  g.gen = generator(dir, g.device, g.dtype, quant, kv_cache_dtype);
  if (options.on_text) g.on_text = [cb = options.on_text](size_t, const std::string& delta) { cb(delta); };
  g.req.cancelled = options.cancelled;
  return g;
}

namespace {

// The options' image files through the model's processor: the prompt's ids and image features.
// InvalidArgument for images to a model that takes none.
ia::VisionPromptInput vision_prompt(const ia::Generator& gen, const std::string& model, const std::string& prompt,
                                    const std::vector<std::string>& files, bool add_special_tokens, bool images_first) {
  const ia::VisionPrompter* vp = gen.vision();
  if (!vp)
    ia::fail(ia::ErrorKind::InvalidArgument, "{}: this model takes no images (images are for LLaVA-family models)",
             model);
  std::vector<ia::image::RgbImage> images;
  if (static_cast<int64_t>(files.size()) > ia::kMaxImagesPerPrompt)
    ia::fail(ia::ErrorKind::InvalidArgument, "{} images; at most {} are accepted in one prompt", files.size(),
             ia::kMaxImagesPerPrompt);
  for (const auto& f : files) images.push_back(ia::image::decode_image_file(f).image);
  if (!images_first && vp->placeholders(prompt) != static_cast<int64_t>(images.size()))
    ia::fail(ia::ErrorKind::InvalidArgument, "the conversation has {} image items for {} images",
             vp->placeholders(prompt), images.size());
  return vp->prepare(prompt, images, add_special_tokens);
}

}  // namespace

GenerateResult Accelerator::generate(const std::string& model, const std::string& prompt,
                                     const GenerateOptions& options) {
  return translate_errors([&] {
    Impl::GenerationSetup g = impl_->setup_generation(model, options);
    ia::GenerationStats st;
    ia::GenerationResult r;
    if (!options.images.empty()) {
      const ia::VisionPromptInput in = vision_prompt(*g.gen, model, prompt, options.images, true, true);
      r = std::move(g.gen->generate_ids({in.ids}, g.req, g.on_text, &st, {in.images}).at(0));
    } else {
      r = std::move(g.gen->generate({prompt}, g.req, g.on_text, &st).at(0));
    }
    return generate_result(model, g.device, g.dtype, r, st, g.warnings);
  });
}

struct ChatSession::Impl {
  Accelerator* accelerator = nullptr;
  std::string model;
  std::shared_ptr<ia::Generator> generator;  // the one `session` runs on
  std::unique_ptr<ia::ChatSession> session;
};

ChatSession::ChatSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChatSession::~ChatSession() = default;

GenerateResult ChatSession::chat(const std::string& messages_json, const GenerateOptions& options,
                                 const ChatTemplateOptions& template_options) {
  return impl_->accelerator->chat_turn(impl_->model, messages_json, options, template_options, impl_.get());
}

void ChatSession::prepare(const GenerateOptions& options, const ChatTemplateOptions& template_options) {
  impl_->accelerator->prepare_chat(impl_->model, options, template_options);
}

ChatSession::Fit ChatSession::fit(const std::string& messages_json, const GenerateOptions& options,
                                  const ChatTemplateOptions& template_options) {
  return impl_->accelerator->chat_fit(impl_->model, messages_json, options, template_options);
}

void ChatSession::reset() {
  if (impl_->session) impl_->session->reset();
}

std::unique_ptr<ChatSession> Accelerator::chat_session(const std::string& model) {
  auto impl = std::make_unique<ChatSession::Impl>();
  impl->accelerator = this;
  impl->model = model;
  return std::unique_ptr<ChatSession>(new ChatSession(std::move(impl)));
}

GenerateResult Accelerator::chat(const std::string& model, const std::string& messages_json,
                                 const GenerateOptions& options, const ChatTemplateOptions& template_options) {
  return chat_turn(model, messages_json, options, template_options, nullptr);
}

namespace {

nlohmann::ordered_json parse_user_json(const std::string& text, const char* what) {
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    ia::fail(ia::ErrorKind::InvalidArgument, "{} is not valid JSON: {}", what, e.what());
  }
}

// The template's variables from the public options: tools and documents must be JSON lists.
ia::tok::ChatRenderOptions render_options(const ChatTemplateOptions& options) {
  ia::tok::ChatRenderOptions o;
  o.add_generation_prompt = options.add_generation_prompt;
  o.template_name = options.template_name;
  if (options.tools_json) {
    o.tools = parse_user_json(*options.tools_json, "tools");
    if (!o.tools.is_array()) ia::fail(ia::ErrorKind::InvalidArgument, "tools must be a JSON list");
  }
  if (options.documents_json) {
    o.documents = parse_user_json(*options.documents_json, "documents");
    if (!o.documents.is_array()) ia::fail(ia::ErrorKind::InvalidArgument, "documents must be a JSON list");
  }
  if (options.extra_json) o.extra = parse_user_json(*options.extra_json, "extra variables");
  return o;
}

}  // namespace

void Accelerator::prepare_chat(const std::string& model, const GenerateOptions& options,
                               const ChatTemplateOptions& template_options) {
  translate_errors([&] {
    const std::string dir = resolve_model_dir(model);
    // The template first: a folder without one is not for chat, whatever the options say.
    ia::tok::ChatTemplate::from_tokenizer_config(dir, template_options.template_name);
    render_options(template_options);
    Impl::GenerationSetup g = impl_->setup_generation(model, options);
    g.gen->resolve(g.req);
    return 0;
  });
}

ChatSession::Fit Accelerator::chat_fit(const std::string& model, const std::string& messages_json,
                                       const GenerateOptions& options, const ChatTemplateOptions& template_options) {
  ChatTemplateOptions t = template_options;
  t.add_generation_prompt = true;
  const std::string prompt = render_chat_template(model, messages_json, t);
  return translate_errors([&] {
    Impl::GenerationSetup g = impl_->setup_generation(model, options);
    const auto tokens =
        static_cast<int64_t>(g.gen->tokenizer().encode(prompt, /*add_special_tokens=*/false).ids.size());
    ChatSession::Fit f;
    // Each image placeholder (one token as text) becomes its image's tokens.
    int64_t image_tokens = 0;
    if (const ia::VisionPrompter* vp = g.gen->vision())
      for (const auto& file : options.images) {
        const ia::image::RgbImage im = ia::image::decode_image_file(file).image;
        image_tokens += vp->processor().image_tokens(im.height, im.width) - 1;
      }
    f.prompt_tokens = static_cast<int>(tokens + image_tokens);
    f.max_new_tokens = static_cast<int>(g.gen->requested_new_tokens(g.req, tokens));
    f.context_tokens = static_cast<int>(g.gen->model().config().max_positions);
    return f;
  });
}

GenerateResult Accelerator::chat_turn(const std::string& model, const std::string& messages_json,
                                      const GenerateOptions& options, const ChatTemplateOptions& template_options,
                                      ChatSession::Impl* session) {
  ChatTemplateOptions t = template_options;
  t.add_generation_prompt = true;
  const std::string prompt = render_chat_template(model, messages_json, t);
  return translate_errors([&] {
    Impl::GenerationSetup g = impl_->setup_generation(model, options);
    std::vector<int32_t> ids;
    std::shared_ptr<const ia::PromptImages> images;
    if (!options.images.empty()) {
      ia::VisionPromptInput in = vision_prompt(*g.gen, model, prompt, options.images, false, false);
      ids = std::move(in.ids);
      images = std::move(in.images);
    } else {
      const ia::tok::Encoding enc = g.gen->tokenizer().encode(prompt, /*add_special_tokens=*/false);
      ids.assign(enc.ids.begin(), enc.ids.end());
    }
    ia::GenerationStats st;
    ia::GenerationResult r;
    if (session) {
      // Another model folder, device or dtype cannot use the cached K/V.
      if (session->generator != g.gen) {
        session->session = std::make_unique<ia::ChatSession>(g.gen);
        session->generator = g.gen;
      }
      r = session->session->turn(std::move(ids), g.req, g.on_text, &st, images);
    } else {
      r = std::move(g.gen->generate_ids({ids}, g.req, g.on_text, &st, {images}).at(0));
    }
    return generate_result(model, g.device, g.dtype, r, st, g.warnings);
  });
}

std::string Accelerator::render_chat_template(const std::string& model, const std::string& messages_json,
                                              const ChatTemplateOptions& options) {
  return translate_errors([&] {
    std::string dir = resolve_model_dir(model);
    nlohmann::ordered_json messages = parse_user_json(messages_json, "messages");
    // An OpenAI-style request body carries the list under "messages".
    if (messages.is_object() && messages.contains("messages")) messages = messages["messages"];
    if (!messages.is_array()) ia::fail(ia::ErrorKind::InvalidArgument, "messages must be a JSON list of messages");
    for (size_t i = 0; i < messages.size(); ++i) {
      if (!messages[i].is_object()) ia::fail(ia::ErrorKind::InvalidArgument, "message {} is not a JSON object", i);
    }
    return ia::tok::ChatTemplate::from_tokenizer_config(dir, options.template_name)
        .render(messages, render_options(options));
  });
}

std::string Accelerator::inspect(const std::string& model) {
  return translate_errors([&] {
    std::string dir = resolve_model_dir(model);
    ia::HfConfig config = ia::HfConfig::load(dir);
    ia::ModelKind kind = ia::classify_model(config.json(), config.path());
    nlohmann::json j;
    j["model"] = model;
    j["path"] = dir;
    j["model_type"] = kind.model_type;
    j["family"] = kind.family;
    j["architecture"] = kind.architecture;
    j["task"] = kind.task;
    j["modality"] = kind.modality;
    j["implemented"] = kind.implemented;
    auto weights = ia::WeightStore::open(dir);
    int64_t params = 0;
    for (const auto& name : weights->names()) params += weights->info(name).numel();
    j["parameters"] = params;
    j["weight_bytes"] = weights->total_bytes();
    j["sharded"] = weights->sharded();
    j["dtypes"] = weights->dtype_counts();
    j["tensors"] = weights->names().size();
    nlohmann::json files = nlohmann::json::array();
    std::vector<fs::directory_entry> entries;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (e.is_regular_file()) entries.push_back(e);
    }
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.path() < b.path(); });
    for (const auto& e : entries) {
      files.push_back({{"name", fs::relative(e.path(), dir).string()}, {"bytes", e.file_size()}});
    }
    j["files"] = files;
    j["has_tokenizer"] = fs::exists(fs::path(dir) / "tokenizer.json");
    auto st = ia::load_sentence_transformer_config(dir);
    if (st) {
      nlohmann::json& js = j["sentence_transformers"];
      js = {{"pooling", st->pooling ? ia::pool_mode_name(*st->pooling) : "mean"}, {"normalize", st->normalize}};
      if (st->max_seq_length) js["max_seq_length"] = *st->max_seq_length;
      if (!st->dense_paths.empty()) js["dense_modules"] = st->dense_paths.size();
      if (!st->prompts.empty()) {
        js["prompts"] = nlohmann::json::object();
        for (const auto& [name, text] : st->prompts) js["prompts"][name] = text;
      }
      if (st->default_prompt_name) js["default_prompt_name"] = *st->default_prompt_name;
    }
    return j.dump(2);
  });
}

std::string Accelerator::hardware_json() {
  return translate_errors([&] { return ia::hardware_report().dump(2); });
}

}  // namespace ipfs_accelerate
