#include "runtime/video_endpoints.h"

#include <chrono>
#include <cmath>

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

Tensor on_host(const Tensor& t) {
  return t.device().is_cpu() ? t.contiguous() : ops::to_device(t, Device::cpu()).contiguous();
}

// Each row divided by its L2 norm, as XCLIPModel does (x / x.norm(dim=-1, keepdim=True)).
std::vector<float> normalized(const float* v, int64_t n) {
  double ss = 0;
  for (int64_t c = 0; c < n; ++c) ss += static_cast<double>(v[c]) * v[c];
  const auto norm = static_cast<float>(std::sqrt(ss));
  std::vector<float> out(v, v + n);
  if (norm > 0)
    for (float& x : out) x /= norm;
  return out;
}

}  // namespace

std::shared_ptr<VideoTextEndpoint> VideoTextEndpoint::load(const std::string& dir, Device device, DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    fail(ErrorKind::InvalidArgument, "dtype {} is not supported for vision models (use f32 or bf16)",
         dtype_name(dtype));
  HfConfig config = HfConfig::load(dir);
  auto ep = std::shared_ptr<VideoTextEndpoint>(new VideoTextEndpoint());
  ep->kind_ = classify_model(config.json(), config.path());
  require_video_text_model(ep->kind_, dir);
  ep->processor_ = std::make_unique<image::ImageProcessor>(image::ImageProcessor::load(dir, "VideoMAEImageProcessor"));
  ep->tokenizer_ = load_text_tower_tokenizer(dir);
  auto weights = WeightStore::open(dir);
  ep->model_ = load_video_text_model(config, *weights, dtype, device);
  return ep;
}

std::vector<tok::Encoding> VideoTextEndpoint::tokenize(const std::vector<std::string>& texts) const {
  return tokenize_texts(*tokenizer_, texts, model_->max_text_tokens());
}

Tensor VideoTextEndpoint::pixel_values(const std::vector<image::RgbImage>& frames) const {
  const int64_t F = model_->num_frames();
  if (static_cast<int64_t>(frames.size()) != F)
    fail(ErrorKind::InvalidArgument, "a video of {} frames; the model takes {} (its num_frames)", frames.size(), F);
  auto [h, w] = processor_->output_size(frames[0].height, frames[0].width);
  Tensor px = Tensor::empty({F, 3, h, w}, DType::F32);
  for (int64_t f = 0; f < F; ++f) {
    const image::RgbImage& frame = frames[static_cast<size_t>(f)];
    if (processor_->output_size(frame.height, frame.width) != std::pair{h, w})
      fail(ErrorKind::InvalidArgument, "frame {} ({}x{}) comes out at another size than frame 0 ({}x{})", f,
           frame.width, frame.height, frames[0].width, frames[0].height);
    processor_->preprocess_into(frame, px.data<float>() + f * 3 * h * w);
  }
  return px;
}

VideoTextSimilarity VideoTextEndpoint::similarity_of(const Tensor& pixel_values,
                                                     const std::vector<std::vector<int32_t>>& ids) const {
  const std::vector<std::span<const int32_t>> spans = text_token_spans(ids, model_->max_text_tokens());
  StepBuilder builder(model_->device());
  StepInputs step = builder.encoder_step(spans, {}, model_->vocab_size());
  const Tensor text = model_->text_features(step, spans);
  const VideoFeatures video = model_->video_features(pixel_values);
  const Tensor conditioned = on_host(model_->video_text_features(text, video));  // [V * S, P]
  const Tensor video_embeds = on_host(video.video_embeds);                       // [V, P]

  VideoTextSimilarity r;
  const int64_t V = video.videos, S = static_cast<int64_t>(ids.size()), P = model_->projection_dim();
  const float scale = model_->logit_scale();
  for (int64_t v = 0; v < V; ++v) {
    r.video_embeds.push_back(normalized(video_embeds.data<float>() + v * P, P));
    std::vector<std::vector<float>> texts;
    std::vector<float> logits;
    for (int64_t s = 0; s < S; ++s) {
      texts.push_back(normalized(conditioned.data<float>() + (v * S + s) * P, P));
      // einsum("bd,bkd->bk", video, scale * text): the scale multiplies the text first.
      float dot = 0;
      for (int64_t c = 0; c < P; ++c)
        dot += r.video_embeds.back()[static_cast<size_t>(c)] * (scale * texts.back()[static_cast<size_t>(c)]);
      logits.push_back(dot);
    }
    r.text_embeds.push_back(std::move(texts));
    r.logits_per_video.push_back(std::move(logits));
  }
  return r;
}

VideoTextSimilarity VideoTextEndpoint::similarity(const std::vector<std::vector<image::RgbImage>>& videos,
                                                  const std::vector<std::string>& texts) const {
  if (videos.empty()) fail(ErrorKind::InvalidArgument, "no videos given");
  if (texts.empty()) fail(ErrorKind::InvalidArgument, "no texts given");
  VideoTextSimilarity out;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<int32_t>> ids;
  for (auto& e : tokenize(texts)) ids.push_back(std::move(e.ids));
  out.tokenize_ms = ms_since(t0);
  // One forward per video: videos of different sizes cannot share a batch, and the texts are
  // conditioned on each video anyway.
  for (const auto& frames : videos) {
    auto t1 = std::chrono::steady_clock::now();
    Tensor px = pixel_values(frames);
    out.preprocess_ms += ms_since(t1);
    auto t2 = std::chrono::steady_clock::now();
    VideoTextSimilarity one = similarity_of(px, ids);
    out.inference_ms += ms_since(t2);
    out.logits_per_video.push_back(std::move(one.logits_per_video[0]));
    out.text_embeds.push_back(std::move(one.text_embeds[0]));
    out.video_embeds.push_back(std::move(one.video_embeds[0]));
  }
  return out;
}

}  // namespace ia
