#include "runtime/embedding_endpoint.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>

#include "core/logging.h"
#include "formats/hf_config.h"
#include "models/model_registry.h"
#include "ops/ops.h"
#include "runtime/sequence_pooling.h"
#include "runtime/step_builder.h"
#include "tokenizers/unicode.h"

namespace ia {

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Python's str.lower(), as sentence-transformers lowercases texts for do_lower_case.
std::string lowercase(const std::string& text) {
  const std::string s = tok::uni::sanitize_utf8(text);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t len = 0;
    const char32_t c = tok::uni::decode(s, i, &len);
    char32_t lower[3];
    const int n = tok::uni::to_lower_full(c, lower);
    for (int k = 0; k < n; ++k) tok::uni::append_utf8(out, lower[k]);
    i += len;
  }
  return out;
}

}  // namespace

PoolMode supported_pool_mode(PoolMode mode) {
  if (mode == PoolMode::WeightedMean)
    fail(ErrorKind::Unsupported, "pooling \"{}\" is not supported yet (cls, mean, max, mean_sqrt_len, lasttoken are)",
         pool_mode_name(mode));
  return mode;
}

PoolMode parse_pool_mode(const std::string& s) {
  const std::optional<PoolMode> mode = pool_mode_from_name(s);
  if (!mode)
    fail(ErrorKind::InvalidArgument, "unknown pooling \"{}\" (expected cls, mean, max, mean_sqrt_len or lasttoken)", s);
  return supported_pool_mode(*mode);
}

std::shared_ptr<EmbeddingEndpoint> EmbeddingEndpoint::load(const std::string& dir, Device device, DType dtype,
                                                           const WeightQuantization& quantization) {
  HfConfig config = HfConfig::load(dir);
  auto ep = std::shared_ptr<EmbeddingEndpoint>(new EmbeddingEndpoint());
  ep->dir_ = dir;
  ep->kind_ = classify_model(config.json(), config.path());
  if (dtype != DType::F32 && dtype != DType::BF16) {
    fail(ErrorKind::InvalidArgument, "dtype {} is not supported for encoders (use f32 or bf16)", dtype_name(dtype));
  }
  // Before anything large is opened: what runs the texts, an encoder or (for a
  // sentence-transformers folder) a decoder's final hidden states.
  ep->st_ = load_sentence_transformer_config(dir);
  const bool decoder = !has_encoder(ep->kind_) && has_causal_lm(ep->kind_);
  if (decoder && !(ep->st_ && ep->st_->pooling)) {
    fail(ErrorKind::Unsupported,
         "{}: model_type \"{}\" ({}) is a decoder; it embeds texts only as a sentence-transformers model (modules.json "
         "with a Pooling module, e.g. lasttoken as Qwen3-Embedding has)",
         dir, ep->kind_.model_type, ep->kind_.architecture);
  }
  if (!decoder) require_encoder(ep->kind_, dir);
  ep->tokenizer_ = tok::Tokenizer::from_folder(dir);
  // The endpoint truncates texts itself and packs batches without padding; a folder's
  // Fixed padding applied per text would count pad tokens as real ones.
  ep->tokenizer_->with_padding(std::nullopt);
  ep->tokenizer_->with_truncation(std::nullopt);
  auto weights = WeightStore::open(dir);
  weights->set_quantization(quantization);
  require_packed_linears(*weights, device);
  ep->encoder_ = decoder ? load_causal_lm_as_encoder(config, *weights, dtype, device)
                         : load_encoder(config, *weights, dtype, device);

  const int64_t model_limit = ep->encoder_->max_input_tokens();
  ep->max_length_ = model_limit;
  if (const auto& st = ep->st_) {
    ep->default_pooling_ = st->pooling ? supported_pool_mode(*st->pooling) : PoolMode::Mean;
    ep->pooling_source_ = "sentence-transformers config";
    ep->modules_ = SentenceModules::load(*st, ep->encoder_->hidden_size(), dir);
    if (st->max_seq_length) {
      if (*st->max_seq_length > model_limit)
        spdlog::warn("{}: max_seq_length {} is more than the model's {} positions; texts are cut to {} tokens", dir,
                     *st->max_seq_length, model_limit, model_limit);
      ep->max_length_ = std::min(*st->max_seq_length, model_limit);
    }
  } else {
    ep->default_pooling_ = PoolMode::Mean;
    ep->pooling_source_ = "default (mean, no sentence-transformers config)";
    ep->modules_ = SentenceModules::load(SentenceTransformerConfig{}, ep->encoder_->hidden_size(), dir);
  }
  // Without max_seq_length, sentence-transformers takes the smaller of the positions and
  // the tokenizer's model_max_length.
  if (!ep->st_ || !ep->st_->max_seq_length) {
    const std::optional<TokenizerConfigInfo> tc = load_tokenizer_config_info(dir);
    if (tc && tc->model_max_length && *tc->model_max_length > 0)
      ep->max_length_ = std::min(ep->max_length_, *tc->model_max_length);
  }
  return ep;
}

std::string EmbeddingEndpoint::resolve_prompt(const EmbeddingOptions& options) const {
  if (options.prompt && options.prompt_name)
    fail(ErrorKind::InvalidArgument, "give a prompt or a prompt name, not both");
  if (options.prompt) return *options.prompt;
  std::optional<std::string> name = options.prompt_name;
  if (!name && st_) name = st_->default_prompt_name;
  if (!name) return "";
  if (st_) {
    if (const std::string* p = st_->prompt(*name)) return *p;
  }
  std::string known;
  if (st_)
    for (const auto& [n, text] : st_->prompts) known += (known.empty() ? "" : ", ") + n;
  if (known.empty())
    fail(ErrorKind::InvalidArgument,
         "unknown prompt name \"{}\": {} has no prompts (config_sentence_transformers.json)", *name, dir_);
  fail(ErrorKind::InvalidArgument, "unknown prompt name \"{}\" (the model's prompts: {})", *name, known);
}

EncodedTexts EmbeddingEndpoint::encode(const std::vector<std::string>& texts, const EmbeddingOptions& options) const {
  const int64_t model_limit = encoder_->max_input_tokens();
  EncodedTexts enc;
  enc.max_length = max_length_;
  if (options.max_length) {
    if (*options.max_length < 1 || *options.max_length > model_limit)
      fail(ErrorKind::InvalidArgument, "max length {} is outside 1..{} (the model's limit)", *options.max_length,
           model_limit);
    enc.max_length = *options.max_length;
  }
  const int64_t limit = enc.max_length;
  const std::string prompt = resolve_prompt(options);
  // As sentence-transformers: the prompt goes before the text, then lowercasing (do_lower_case).
  const bool lower = st_ && st_->do_lower_case;
  std::vector<std::string> inputs;
  inputs.reserve(texts.size());
  for (const std::string& t : texts) inputs.push_back(lower ? lowercase(prompt + t) : prompt + t);
  enc.encodings = tokenizer_->encode_batch(inputs, true);
  for (size_t i = 0; i < enc.encodings.size(); ++i) {
    tok::Encoding& e = enc.encodings[i];
    if (e.ids.empty())
      fail(ErrorKind::InvalidArgument, "text {} has no tokens (it is empty and the tokenizer adds no special tokens)",
           i);
    if (static_cast<int64_t>(e.ids.size()) <= limit) continue;
    if (!options.truncate) {
      fail(ErrorKind::InvalidArgument, "text {} has {} tokens, more than the limit of {} (truncation is off)", i,
           e.ids.size(), limit);
    }
    // As transformers truncates: the text's tokens are cut before the post-processor adds its special tokens.
    e = tokenizer_->encode_truncated(inputs[i], static_cast<size_t>(limit), true);
    enc.truncated.push_back(static_cast<int>(i));
  }
  // include_prompt false: the prompt's tokens stay out of the pool, counted as
  // sentence-transformers counts them (the prompt tokenized alone, minus one special token).
  if (!prompt.empty() && st_ && !st_->include_prompt) {
    const std::string p = lower ? lowercase(prompt) : prompt;
    enc.prompt_tokens = std::min<int64_t>(static_cast<int64_t>(tokenizer_->encode(p, true).ids.size()), limit) - 1;
  }
  return enc;
}

EmbeddingResult EmbeddingEndpoint::embed(const std::vector<std::string>& texts, const EmbeddingOptions& options) const {
  if (texts.empty()) fail(ErrorKind::InvalidArgument, "no texts to embed");
  auto t0 = std::chrono::steady_clock::now();
  EncodedTexts enc = encode(texts, options);
  return embed_encoded(std::move(enc), options, ms_since(t0));
}

EmbeddingResult EmbeddingEndpoint::embed_ids(const std::vector<std::vector<int32_t>>& ids,
                                             const EmbeddingOptions& options) const {
  if (ids.empty()) fail(ErrorKind::InvalidArgument, "no inputs to embed");
  const int64_t model_limit = encoder_->max_input_tokens();
  EncodedTexts enc;
  enc.max_length = options.max_length.value_or(max_length_);
  if (enc.max_length < 1 || enc.max_length > model_limit)
    fail(ErrorKind::InvalidArgument, "max length {} is outside 1..{} (the model's limit)", enc.max_length, model_limit);
  const auto vocab = static_cast<int64_t>(encoder_->vocab_size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i].empty()) fail(ErrorKind::InvalidArgument, "input {} has no tokens", i);
    for (int32_t id : ids[i])
      if (id < 0 || id >= vocab)
        fail(ErrorKind::InvalidArgument, "input {}: token id {} is outside the vocabulary of {}", i, id, vocab);
    tok::Encoding e;
    e.ids = ids[i];
    if (static_cast<int64_t>(e.ids.size()) > enc.max_length) {
      if (!options.truncate)
        fail(ErrorKind::InvalidArgument, "input {} has {} tokens, more than the limit of {} (truncation is off)", i,
             e.ids.size(), enc.max_length);
      e.ids.resize(static_cast<size_t>(enc.max_length));
      enc.truncated.push_back(static_cast<int>(i));
    }
    e.type_ids.assign(e.ids.size(), 0);
    enc.encodings.push_back(std::move(e));
  }
  return embed_encoded(std::move(enc), options, 0.0);
}

EmbeddingResult EmbeddingEndpoint::embed_encoded(EncodedTexts enc, const EmbeddingOptions& options,
                                                 double tokenize_ms) const {
  if (options.batch_size < 1)
    fail(ErrorKind::InvalidArgument, "batch size must be at least 1, got {}", options.batch_size);
  EmbeddingResult result;
  result.pooling = options.pooling.value_or(default_pooling_);
  result.normalized = modules_.normalizes(options.normalize);
  const std::vector<tok::Encoding>& encodings = enc.encodings;
  const size_t count = encodings.size();
  result.max_length = enc.max_length;
  result.truncated = enc.truncated;
  if (!result.truncated.empty()) {
    std::string w =
        fmt::format("{} of {} texts were truncated to {} tokens", result.truncated.size(), count, enc.max_length);
    spdlog::warn("{}", w);
    result.warnings.push_back(std::move(w));
  }
  result.tokenize_ms = tokenize_ms;

  // Similar lengths batch together (sequences of one batch share the attention
  // tasks' schedule); results go back to input order.
  std::vector<size_t> order(count);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return encodings[a].ids.size() > encodings[b].ids.size(); });

  auto t1 = std::chrono::steady_clock::now();
  StepBuilder builder(encoder_->device());
  const int64_t D = modules_.output_dim();
  result.embeddings = Tensor::empty({static_cast<int64_t>(count), D}, DType::F32);
  result.token_counts.resize(count);
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(options.batch_size)) {
    size_t end = std::min(order.size(), start + static_cast<size_t>(options.batch_size));
    std::vector<std::span<const int32_t>> ids, types;
    for (size_t j = start; j < end; ++j) {
      const tok::Encoding& e = encodings[order[j]];
      ids.emplace_back(e.ids);
      types.emplace_back(e.type_ids);
    }
    StepInputs step = builder.encoder_step(ids, types, encoder_->vocab_size());
    EncoderOutput out = encoder_->forward(step);
    Tensor pooled = pool_sequences(result.pooling, out.last_hidden_state, step, enc.prompt_tokens);
    // The modules after pooling (Dense, Normalize) run on the host: a few rows.
    Tensor host = modules_.apply(ops::to_device(pooled, Device::cpu()), options.normalize);
    for (size_t j = start; j < end; ++j) {
      size_t idx = order[j];
      std::memcpy(result.embeddings.data<float>() + static_cast<int64_t>(idx) * D,
                  host.data<float>() + static_cast<int64_t>(j - start) * D, static_cast<size_t>(D) * sizeof(float));
      result.token_counts[idx] = static_cast<int>(encodings[idx].ids.size());
    }
  }
  result.inference_ms = ms_since(t1);
  return result;
}

}  // namespace ia
