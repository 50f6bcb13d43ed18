#include "runtime/object_detection.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "formats/hf_config.h"

namespace ia {

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::vector<Detection> post_process_object_detection(const Tensor& logits, const Tensor& pred_boxes, float threshold,
                                                     int64_t height, int64_t width,
                                                     const std::vector<std::string>& labels) {
  const Tensor lg = logits.contiguous(), bx = pred_boxes.contiguous();
  IA_CHECK(lg.dim() == 2 && bx.dim() == 2 && bx.size(1) == 4 && lg.size(0) == bx.size(0) &&
               lg.size(1) == static_cast<int64_t>(labels.size()) + 1,
           "post_process_object_detection: logits {} and boxes {} for {} labels", lg.describe(), bx.describe(),
           labels.size());
  const int64_t Q = lg.size(0), C = lg.size(1);
  const auto w = static_cast<float>(width), h = static_cast<float>(height);
  std::vector<Detection> out;
  for (int64_t q = 0; q < Q; ++q) {
    const float* row = lg.data<float>() + q * C;
    // softmax over every class (no-object included), as torch computes it in f32.
    const float mx = *std::max_element(row, row + C);
    float sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += std::exp(row[c] - mx);
    int64_t best = 0;
    for (int64_t c = 1; c < C - 1; ++c)
      if (row[c] > row[best]) best = c;
    const float score = std::exp(row[best] - mx) / sum;
    if (!(score > threshold)) continue;
    const float* b = bx.data<float>() + q * 4;
    Detection d;
    d.label_id = best;
    d.label = labels[static_cast<size_t>(best)];
    d.score = score;
    d.box = {(b[0] - 0.5f * b[2]) * w, (b[1] - 0.5f * b[3]) * h, (b[0] + 0.5f * b[2]) * w, (b[1] + 0.5f * b[3]) * h};
    out.push_back(std::move(d));
  }
  std::stable_sort(out.begin(), out.end(), [](const Detection& a, const Detection& b) { return a.score > b.score; });
  return out;
}

std::shared_ptr<ObjectDetectionEndpoint> ObjectDetectionEndpoint::load(const std::string& dir, Device device,
                                                                       DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    fail(ErrorKind::InvalidArgument, "dtype {} is not supported for vision models (use f32 or bf16)",
         dtype_name(dtype));
  HfConfig config = HfConfig::load(dir);
  auto ep = std::shared_ptr<ObjectDetectionEndpoint>(new ObjectDetectionEndpoint());
  ep->kind_ = classify_model(config.json(), config.path());
  require_object_detector(ep->kind_, dir);
  ep->processor_ = std::make_unique<image::ImageProcessor>(image::ImageProcessor::load(dir, "DetrImageProcessor"));
  auto weights = WeightStore::open(dir);
  ep->model_ = load_object_detector(config, *weights, dtype, device);
  return ep;
}

ObjectDetectionResult ObjectDetectionEndpoint::detect(const std::vector<image::RgbImage>& images,
                                                      float threshold) const {
  if (images.empty()) fail(ErrorKind::InvalidArgument, "detect: no images");
  if (!(threshold >= 0.0f && threshold <= 1.0f))
    fail(ErrorKind::InvalidArgument, "threshold must be in [0, 1], got {}", threshold);
  ObjectDetectionResult r;
  auto t0 = std::chrono::steady_clock::now();
  // Each image at its own size, unpadded: what transformers computes for it alone (a padded
  // batch lets the backbone see the padding, which changes the smaller images' features).
  std::vector<Tensor> pixels;
  for (const auto& im : images) pixels.push_back(processor_->preprocess(im));
  r.preprocess_ms = ms_since(t0);
  auto t1 = std::chrono::steady_clock::now();
  ObjectDetectorOutput o = model_->forward(pixels);
  r.inference_ms = ms_since(t1);
  for (size_t i = 0; i < images.size(); ++i) {
    const auto b = static_cast<int64_t>(i);
    r.detections.push_back(post_process_object_detection(o.logits.select(0, b), o.pred_boxes.select(0, b), threshold,
                                                         images[i].height, images[i].width, model_->labels()));
  }
  return r;
}

}  // namespace ia
