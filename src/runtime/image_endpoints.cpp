#include "runtime/image_endpoints.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <map>
#include <mutex>
#include <numeric>

#include "core/error.h"
#include "core/thread_pool.h"
#include "formats/hf_config.h"
#include "ops/ops.h"
#include "runtime/step_builder.h"
#include "runtime/text_tower.h"

namespace ia {

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void check_dtype(DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    fail(ErrorKind::InvalidArgument, "dtype {} is not supported for vision models (use f32 or bf16)",
         dtype_name(dtype));
}

std::vector<std::vector<float>> rows_of(const Tensor& t) {
  Tensor h = t.device().is_cpu() ? t.contiguous() : ops::to_device(t, Device::cpu());
  const int64_t R = h.size(0), C = h.size(1);
  std::vector<std::vector<float>> out(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r)
    out[static_cast<size_t>(r)].assign(h.data<float>() + r * C, h.data<float>() + (r + 1) * C);
  return out;
}

// The rows of `parts` (each [n_i, C]) placed at `order`'s positions: results back in input order.
Tensor scatter_rows(const std::vector<Tensor>& parts, const std::vector<std::vector<size_t>>& order, int64_t n) {
  const int64_t C = parts.front().size(1);
  Tensor out = Tensor::empty({n, C}, DType::F32);
  for (size_t g = 0; g < parts.size(); ++g) {
    Tensor h = parts[g].device().is_cpu() ? parts[g].contiguous() : ops::to_device(parts[g], Device::cpu());
    for (size_t i = 0; i < order[g].size(); ++i)
      std::copy_n(h.data<float>() + static_cast<int64_t>(i) * C, C,
                  out.data<float>() + static_cast<int64_t>(order[g][i]) * C);
  }
  return out;
}

Tensor batch_pixels(const image::ImageProcessor& p, const std::vector<const image::RgbImage*>& images) {
  IA_CHECK(!images.empty(), "pixel_values: no images");
  auto [h, w] = p.output_size(images[0]->height, images[0]->width);
  const auto B = static_cast<int64_t>(images.size());
  Tensor px = Tensor::empty({B, 3, h, w}, DType::F32);
  for (int64_t b = 0; b < B; ++b) {
    auto [hb, wb] = p.output_size(images[static_cast<size_t>(b)]->height, images[static_cast<size_t>(b)]->width);
    IA_CHECK(hb == h && wb == w, "pixel_values: images of different sizes in one batch");
  }
  // One image per task on the thread pool: on a GPU the host's resize and normalisation of a
  // batch otherwise takes longer than the model (ViT-base, 32 images on an H100). The pool does
  // not carry exceptions across threads, so the first is kept and rethrown here.
  std::exception_ptr error;
  std::mutex error_mu;
  parallel_for(B, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      try {
        p.preprocess_into(*images[static_cast<size_t>(b)], px.data<float>() + b * 3 * h * w);
      } catch (...) {
        std::lock_guard lock(error_mu);
        if (!error) error = std::current_exception();
      }
    }
  });
  if (error) std::rethrow_exception(error);
  return px;
}

void l2_normalize_rows(Tensor& t) {
  const int64_t R = t.size(0), C = t.size(1);
  for (int64_t r = 0; r < R; ++r) {
    float* v = t.data<float>() + r * C;
    // transformers divides by the norm (x / x.norm(p=2, dim=-1, keepdim=True)); the sum in double.
    double ss = 0;
    for (int64_t c = 0; c < C; ++c) ss += static_cast<double>(v[c]) * v[c];
    const auto norm = static_cast<float>(std::sqrt(ss));
    if (norm > 0)
      for (int64_t c = 0; c < C; ++c) v[c] /= norm;
  }
}

}  // namespace

std::vector<std::vector<size_t>> group_by_output_size(const image::ImageProcessor& p,
                                                      const std::vector<image::RgbImage>& images) {
  std::map<std::pair<int64_t, int64_t>, std::vector<size_t>> groups;
  std::vector<std::pair<int64_t, int64_t>> first_seen;
  for (size_t i = 0; i < images.size(); ++i) {
    auto size = p.output_size(images[i].height, images[i].width);
    if (!groups.count(size)) first_seen.push_back(size);
    groups[size].push_back(i);
  }
  std::vector<std::vector<size_t>> out;
  for (const auto& s : first_seen) out.push_back(groups[s]);
  return out;
}

// ------------------------------------------------------------------ classification

std::shared_ptr<ImageClassificationEndpoint> ImageClassificationEndpoint::load(const std::string& dir, Device device,
                                                                               DType dtype) {
  check_dtype(dtype);
  HfConfig config = HfConfig::load(dir);
  auto ep = std::shared_ptr<ImageClassificationEndpoint>(new ImageClassificationEndpoint());
  ep->kind_ = classify_model(config.json(), config.path());
  require_image_classifier(ep->kind_, dir);
  ep->processor_ = std::make_unique<image::ImageProcessor>(image::ImageProcessor::load(dir, "ViTImageProcessor"));
  auto weights = WeightStore::open(dir);
  ep->model_ = load_image_classifier(config, *weights, dtype, device);
  if (ep->model_->num_labels() == 0)
    fail(ErrorKind::Unsupported, "{}: {} has no classifier head (a {} checkpoint gives features, not labels)", dir,
         ep->kind_.model_type, ep->kind_.architecture);
  ep->multi_label_ =
      config.get_string("problem_type", "") == "multi_label_classification" || ep->model_->num_labels() == 1;
  return ep;
}

Tensor ImageClassificationEndpoint::pixel_values(const std::vector<const image::RgbImage*>& images) const {
  return batch_pixels(*processor_, images);
}

ImageClassification ImageClassificationEndpoint::classify(const std::vector<image::RgbImage>& images,
                                                          int64_t top_k) const {
  if (images.empty()) fail(ErrorKind::InvalidArgument, "classify: no images");
  if (top_k < 1) fail(ErrorKind::InvalidArgument, "top_k must be at least 1, got {}", top_k);
  ImageClassification r;
  const auto n = static_cast<int64_t>(images.size());
  const int64_t L = model_->num_labels();
  std::vector<Tensor> parts;
  const auto groups = group_by_output_size(*processor_, images);
  for (const auto& g : groups) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<const image::RgbImage*> batch;
    for (size_t i : g) batch.push_back(&images[i]);
    Tensor px = pixel_values(batch);
    r.preprocess_ms += ms_since(t0);
    auto t1 = std::chrono::steady_clock::now();
    parts.push_back(ops::to_device(model_->forward(px).logits, Device::cpu()));
    r.inference_ms += ms_since(t1);
  }
  r.logits = rows_of(scatter_rows(parts, groups, n));
  const int64_t k = std::min(top_k, L);
  for (const auto& row : r.logits) {
    std::vector<float> scores(row.size());
    if (multi_label_) {
      for (size_t i = 0; i < row.size(); ++i) scores[i] = 1.0f / (1.0f + std::exp(-row[i]));
    } else {
      const float mx = *std::max_element(row.begin(), row.end());
      double sum = 0;
      for (size_t i = 0; i < row.size(); ++i) sum += std::exp(static_cast<double>(row[i]) - mx);
      for (size_t i = 0; i < row.size(); ++i)
        scores[i] = static_cast<float>(std::exp(static_cast<double>(row[i]) - mx) / sum);
    }
    std::vector<int64_t> ids(row.size());
    std::iota(ids.begin(), ids.end(), 0);
    std::stable_sort(ids.begin(), ids.end(), [&](int64_t a, int64_t b) {
      return scores[static_cast<size_t>(a)] > scores[static_cast<size_t>(b)];
    });
    std::vector<LabelScore> top;
    for (int64_t i = 0; i < k; ++i) {
      const int64_t id = ids[static_cast<size_t>(i)];
      top.push_back({id, model_->labels()[static_cast<size_t>(id)], scores[static_cast<size_t>(id)]});
    }
    r.top.push_back(std::move(top));
  }
  return r;
}

// ------------------------------------------------------------------ image-text (CLIP)

std::shared_ptr<ImageTextEndpoint> ImageTextEndpoint::load(const std::string& dir, Device device, DType dtype) {
  check_dtype(dtype);
  HfConfig config = HfConfig::load(dir);
  auto ep = std::shared_ptr<ImageTextEndpoint>(new ImageTextEndpoint());
  ep->kind_ = classify_model(config.json(), config.path());
  require_image_text_model(ep->kind_, dir);
  ep->processor_ = std::make_unique<image::ImageProcessor>(image::ImageProcessor::load(dir, "CLIPImageProcessor"));
  ep->tokenizer_ = load_text_tower_tokenizer(dir);
  auto weights = WeightStore::open(dir);
  ep->model_ = load_image_text_model(config, *weights, dtype, device);
  return ep;
}

std::vector<tok::Encoding> ImageTextEndpoint::tokenize(const std::vector<std::string>& texts) const {
  return tokenize_texts(*tokenizer_, texts, model_->max_text_tokens());
}

Tensor ImageTextEndpoint::text_embeddings_of_ids(const std::vector<std::vector<int32_t>>& ids, bool normalize) const {
  const std::vector<std::span<const int32_t>> spans = text_token_spans(ids, model_->max_text_tokens());
  StepBuilder builder(model_->device());
  StepInputs step = builder.encoder_step(spans, {}, model_->vocab_size());
  Tensor t = ops::to_device(model_->text_features(step, spans), Device::cpu()).contiguous();
  if (normalize) l2_normalize_rows(t);
  return t;
}

Tensor ImageTextEndpoint::text_embeddings(const std::vector<std::string>& texts, bool normalize, double* tokenize_ms,
                                          double* inference_ms) const {
  if (texts.empty()) fail(ErrorKind::InvalidArgument, "no texts to embed");
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<int32_t>> ids;
  for (auto& e : tokenize(texts)) ids.push_back(std::move(e.ids));
  if (tokenize_ms) *tokenize_ms += ms_since(t0);
  auto t1 = std::chrono::steady_clock::now();
  Tensor out = text_embeddings_of_ids(ids, normalize);
  if (inference_ms) *inference_ms += ms_since(t1);
  return out;
}

Tensor ImageTextEndpoint::image_embeddings_of(const Tensor& pixel_values, bool normalize) const {
  Tensor t = ops::to_device(model_->image_features(pixel_values), Device::cpu()).contiguous();
  if (normalize) l2_normalize_rows(t);
  return t;
}

Tensor ImageTextEndpoint::image_embeddings(const std::vector<image::RgbImage>& images, bool normalize,
                                           double* preprocess_ms, double* inference_ms) const {
  if (images.empty()) fail(ErrorKind::InvalidArgument, "no images to embed");
  std::vector<Tensor> parts;
  const auto groups = group_by_output_size(*processor_, images);
  for (const auto& g : groups) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<const image::RgbImage*> batch;
    for (size_t i : g) batch.push_back(&images[i]);
    Tensor px = batch_pixels(*processor_, batch);
    if (preprocess_ms) *preprocess_ms += ms_since(t0);
    auto t1 = std::chrono::steady_clock::now();
    parts.push_back(image_embeddings_of(px, normalize));
    if (inference_ms) *inference_ms += ms_since(t1);
  }
  return scatter_rows(parts, groups, static_cast<int64_t>(images.size()));
}

ImageTextSimilarity ImageTextEndpoint::similarity(const std::vector<image::RgbImage>& images,
                                                  const std::vector<std::string>& texts) const {
  ImageTextSimilarity r;
  double text_ms = 0, image_ms = 0;
  Tensor te = text_embeddings(texts, true, &r.tokenize_ms, &text_ms);
  Tensor ie = image_embeddings(images, true, &r.preprocess_ms, &image_ms);
  r.inference_ms = text_ms + image_ms;
  r.text_embeds = rows_of(te);
  r.image_embeds = rows_of(ie);
  const float scale = model_->logit_scale();
  for (const auto& iv : r.image_embeds) {
    std::vector<float> row;
    for (const auto& tv : r.text_embeds) {
      float dot = 0;
      for (size_t c = 0; c < iv.size(); ++c) dot += iv[c] * tv[c];
      row.push_back(dot * scale);
    }
    r.logits_per_image.push_back(std::move(row));
  }
  return r;
}

}  // namespace ia
