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

namespace ia {

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
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

std::shared_ptr<EmbeddingEndpoint> EmbeddingEndpoint::load(const std::string& dir, Device device, DType dtype) {
  HfConfig config = HfConfig::load(dir);
  auto ep = std::shared_ptr<EmbeddingEndpoint>(new EmbeddingEndpoint());
  ep->dir_ = dir;
  ep->kind_ = classify_model(config.json(), config.path());
  if (dtype != DType::F32 && dtype != DType::BF16) {
    fail(ErrorKind::InvalidArgument, "dtype {} is not supported for encoders (use f32 or bf16)", dtype_name(dtype));
  }
  require_encoder(ep->kind_, dir);  // before anything is opened
  ep->tokenizer_ = tok::Tokenizer::from_folder(dir);
  // The endpoint truncates texts itself and packs batches without padding; a folder's
  // Fixed padding applied per text would count pad tokens as real ones.
  ep->tokenizer_->with_padding(std::nullopt);
  ep->tokenizer_->with_truncation(std::nullopt);
  auto weights = WeightStore::open(dir);
  ep->encoder_ = load_encoder(config, *weights, dtype, device);

  auto st = load_sentence_transformer_config(dir);
  if (st) {
    if (!st->dense_paths.empty()) {
      fail(ErrorKind::Unsupported, "{}: sentence-transformers Dense modules ({}) are not supported yet", dir,
           st->dense_paths.front());
    }
    ep->default_pooling_ = st->pooling ? supported_pool_mode(*st->pooling) : PoolMode::Mean;
    ep->default_normalize_ = st->normalize;
    ep->pooling_source_ = "sentence-transformers config";
  } else {
    ep->default_pooling_ = PoolMode::Mean;
    ep->default_normalize_ = false;
    ep->pooling_source_ = "default (mean, no sentence-transformers config)";
  }
  return ep;
}

EmbeddingResult EmbeddingEndpoint::embed(const std::vector<std::string>& texts, const EmbeddingOptions& options) const {
  if (texts.empty()) fail(ErrorKind::InvalidArgument, "no texts to embed");
  if (options.batch_size < 1)
    fail(ErrorKind::InvalidArgument, "batch size must be at least 1, got {}", options.batch_size);
  EmbeddingResult result;
  result.pooling = options.pooling.value_or(default_pooling_);
  result.normalized = options.normalize.value_or(default_normalize_);

  auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].empty()) fail(ErrorKind::InvalidArgument, "text {} is empty", i);
  }
  std::vector<tok::Encoding> encodings = tokenizer_->encode_batch(texts, true);
  const size_t limit = static_cast<size_t>(encoder_->max_input_tokens());
  for (size_t i = 0; i < encodings.size(); ++i) {
    tok::Encoding& e = encodings[i];
    if (e.ids.size() <= limit) continue;
    if (!options.truncate) {
      fail(ErrorKind::InvalidArgument, "text {} has {} tokens, more than the model's limit of {} (truncation is off)",
           i, e.ids.size(), limit);
    }
    // Keep the leading tokens and the closing special token ([SEP] / </s>), as HF truncation does.
    bool closing_special = !e.special_tokens_mask.empty() && e.special_tokens_mask.back() != 0;
    size_t keep = closing_special ? limit - 1 : limit;
    auto trim = [&](auto& v) {
      if (v.size() != e.ids.size()) return;
      auto last = v.back();
      v.resize(keep);
      if (closing_special) v.push_back(last);
    };
    size_t original = e.ids.size();
    trim(e.type_ids);
    trim(e.special_tokens_mask);
    trim(e.attention_mask);
    trim(e.tokens);
    trim(e.offsets);
    trim(e.ids);
    std::string w = fmt::format("text {} truncated from {} to {} tokens", i, original, limit);
    spdlog::warn("{}", w);
    result.warnings.push_back(std::move(w));
  }
  result.tokenize_ms = ms_since(t0);

  // Similar lengths batch together (sequences of one batch share the attention
  // tasks' schedule); results go back to input order.
  std::vector<size_t> order(texts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return encodings[a].ids.size() > encodings[b].ids.size(); });

  auto t1 = std::chrono::steady_clock::now();
  StepBuilder builder(encoder_->device());
  const int64_t H = encoder_->hidden_size();
  result.embeddings = Tensor::empty({static_cast<int64_t>(texts.size()), H}, DType::F32);
  result.token_counts.resize(texts.size());
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
    Tensor pooled = pool_sequences(result.pooling, out.last_hidden_state, step);
    if (result.normalized) pooled = ops::l2_normalize(pooled);
    Tensor host = ops::to_device(pooled, Device::cpu());
    for (size_t j = start; j < end; ++j) {
      size_t idx = order[j];
      std::memcpy(result.embeddings.data<float>() + static_cast<int64_t>(idx) * H,
                  host.data<float>() + static_cast<int64_t>(j - start) * H, static_cast<size_t>(H) * sizeof(float));
      result.token_counts[idx] = static_cast<int>(encodings[idx].ids.size());
    }
  }
  result.inference_ms = ms_since(t1);
  return result;
}

}  // namespace ia
