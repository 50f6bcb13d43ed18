#include "runtime/audio_text_endpoint.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "formats/hf_config.h"
#include "ops/ops.h"
#include "runtime/step_builder.h"
#include "runtime/text_tower.h"

namespace ia {

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<std::vector<float>> rows_of(const Tensor& t) {
  Tensor h = t.device().is_cpu() ? t.contiguous() : ops::to_device(t, Device::cpu());
  const int64_t R = h.size(0), C = h.size(1);
  std::vector<std::vector<float>> out(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r)
    out[static_cast<size_t>(r)].assign(h.data<float>() + r * C, h.data<float>() + (r + 1) * C);
  return out;
}

// transformers divides by the norm (x / x.norm(p=2, dim=-1, keepdim=True)); the sum in double.
void l2_normalize_rows(Tensor& t) {
  const int64_t R = t.size(0), C = t.size(1);
  for (int64_t r = 0; r < R; ++r) {
    float* v = t.data<float>() + r * C;
    double ss = 0;
    for (int64_t c = 0; c < C; ++c) ss += static_cast<double>(v[c]) * v[c];
    const auto norm = static_cast<float>(std::sqrt(ss));
    if (norm > 0)
      for (int64_t c = 0; c < C; ++c) v[c] /= norm;
  }
}

float dot(const std::vector<float>& a, const std::vector<float>& b) {
  float s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

std::shared_ptr<AudioTextEndpoint> AudioTextEndpoint::load(const std::string& dir, Device device, DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    fail(ErrorKind::InvalidArgument, "dtype {} is not supported for CLAP (use f32 or bf16)", dtype_name(dtype));
  HfConfig config = HfConfig::load(dir);
  auto ep = std::shared_ptr<AudioTextEndpoint>(new AudioTextEndpoint());
  ep->kind_ = classify_model(config.json(), config.path());
  require_audio_text_model(ep->kind_, dir);
  ep->features_ = std::make_unique<audio::ClapFeatureExtractor>(audio::ClapFeatureExtractor::load(dir));
  if (ep->features_->config().truncation == audio::ClapTruncation::Fusion)
    fail(ErrorKind::Unsupported,
         "{}: the feature extractor's truncation is \"fusion\" (4-channel features for a fused HTSAT), which this "
         "build's unfused CLAP does not take; use truncation \"rand_trunc\"",
         dir);
  ep->tokenizer_ = load_text_tower_tokenizer(dir);
  auto weights = WeightStore::open(dir);
  ep->model_ = load_audio_text_model(config, *weights, dtype, device);
  return ep;
}

std::vector<tok::Encoding> AudioTextEndpoint::tokenize(const std::vector<std::string>& texts) const {
  return tokenize_texts(*tokenizer_, texts, model_->max_text_tokens());
}

Tensor AudioTextEndpoint::text_embeddings_of_ids(const std::vector<std::vector<int32_t>>& ids, bool normalize) const {
  const std::vector<std::span<const int32_t>> spans = text_token_spans(ids, model_->max_text_tokens());
  StepBuilder builder(model_->device());
  StepInputs step = builder.encoder_step(spans, {}, model_->vocab_size());
  Tensor t = ops::to_device(model_->text_features(step), Device::cpu()).contiguous();
  if (normalize) l2_normalize_rows(t);
  return t;
}

Tensor AudioTextEndpoint::text_embeddings(const std::vector<std::string>& texts, bool normalize, double* tokenize_ms,
                                          double* inference_ms, std::vector<int>* token_counts) const {
  if (texts.empty()) fail(ErrorKind::InvalidArgument, "no texts to embed");
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<int32_t>> ids;
  for (auto& e : tokenize(texts)) {
    if (token_counts) token_counts->push_back(static_cast<int>(e.ids.size()));
    ids.push_back(std::move(e.ids));
  }
  if (tokenize_ms) *tokenize_ms += ms_since(t0);
  auto t1 = std::chrono::steady_clock::now();
  Tensor out = text_embeddings_of_ids(ids, normalize);
  if (inference_ms) *inference_ms += ms_since(t1);
  return out;
}

Tensor AudioTextEndpoint::input_features(const std::vector<std::vector<float>>& clips) const {
  if (clips.empty()) fail(ErrorKind::InvalidArgument, "no audio to embed");
  Tensor out;
  for (size_t i = 0; i < clips.size(); ++i) {
    if (clips[i].empty()) fail(ErrorKind::InvalidArgument, "audio clip {} has no samples", i);
    const Tensor f = features_->compute(clips[i]).input_features.contiguous();  // [channels, frames, mel]
    if (!out.defined())
      out = Tensor::empty({static_cast<int64_t>(clips.size()), f.size(0), f.size(1), f.size(2)}, DType::F32);
    IA_CHECK(f.numel() * static_cast<int64_t>(clips.size()) == out.numel(), "clap: clips of different feature sizes");
    std::memcpy(out.data<float>() + static_cast<int64_t>(i) * f.numel(), f.data<float>(), f.nbytes());
  }
  return out;
}

Tensor AudioTextEndpoint::audio_embeddings_of(const Tensor& input_features, bool normalize) const {
  Tensor t = ops::to_device(model_->audio_features(input_features), Device::cpu()).contiguous();
  if (normalize) l2_normalize_rows(t);
  return t;
}

Tensor AudioTextEndpoint::audio_embeddings(const std::vector<std::vector<float>>& clips, bool normalize,
                                           double* preprocess_ms, double* inference_ms) const {
  auto t0 = std::chrono::steady_clock::now();
  Tensor features = input_features(clips);
  if (preprocess_ms) *preprocess_ms += ms_since(t0);
  auto t1 = std::chrono::steady_clock::now();
  Tensor out = audio_embeddings_of(features, normalize);
  if (inference_ms) *inference_ms += ms_since(t1);
  return out;
}

void AudioTextEndpoint::score(AudioTextSimilarity& r) const {
  const float sa = model_->logit_scale_audio(), st = model_->logit_scale_text();
  r.logits_per_audio.clear();
  r.logits_per_text.clear();
  r.probs_per_audio.clear();
  for (const auto& av : r.audio_embeds) {
    std::vector<float> row;
    for (const auto& tv : r.text_embeds) row.push_back(dot(av, tv) * sa);
    const float mx = *std::max_element(row.begin(), row.end());
    double sum = 0;
    for (float v : row) sum += std::exp(static_cast<double>(v) - mx);
    std::vector<float> probs;
    for (float v : row) probs.push_back(static_cast<float>(std::exp(static_cast<double>(v) - mx) / sum));
    r.logits_per_audio.push_back(std::move(row));
    r.probs_per_audio.push_back(std::move(probs));
  }
  for (const auto& tv : r.text_embeds) {
    std::vector<float> row;
    for (const auto& av : r.audio_embeds) row.push_back(dot(tv, av) * st);
    r.logits_per_text.push_back(std::move(row));
  }
}

AudioTextSimilarity AudioTextEndpoint::similarity(const std::vector<std::vector<float>>& clips,
                                                  const std::vector<std::string>& texts) const {
  AudioTextSimilarity r;
  double text_ms = 0, audio_ms = 0;
  r.text_embeds = rows_of(text_embeddings(texts, true, &r.tokenize_ms, &text_ms, &r.token_counts));
  r.audio_embeds = rows_of(audio_embeddings(clips, true, &r.preprocess_ms, &audio_ms));
  r.inference_ms = text_ms + audio_ms;
  score(r);
  return r;
}

}  // namespace ia
