#include "router/vision_calls.h"

#include <chrono>
#include <cmath>

#include "core/logging.h"
#include "formats/hf_config.h"
#include "models/clip_towers.h"
#include "models/model_registry.h"
#include "preprocess/video/video_decoder.h"
#include "router/model_placement.h"
#include "runtime/zero_shot.h"

namespace ia::router {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

template <class Load>
auto logged_load(const char* what, const std::string& dir, Device device, DType dtype, Load load) {
  spdlog::info("loading {} from {} ({}, {})", what, dir, dtype_name(dtype), device.str());
  const auto start = Clock::now();
  auto loaded = load();
  spdlog::info("loaded {} from {} in {:.2f} s", what, dir, ms_since(start) / 1000.0);
  return loaded;
}

struct Placement {
  std::string dir;
  DType dtype;
  Device device;
  std::vector<std::string> warnings;
};

Placement place(const std::string& model, const ipfs_accelerate::VisionOptions& options) {
  Placement p;
  p.dir = resolve_model_dir(model);
  p.dtype = resolve_compute_dtype(options.dtype, p.dir, p.warnings);
  p.device = placement_device(options.device, p.dir, p.dtype);
  return p;
}

void check_images(const std::vector<ipfs_accelerate::ImageInput>& images) {
  if (images.empty()) fail(ErrorKind::InvalidArgument, "no images given");
}

}  // namespace

std::shared_ptr<ImageClassificationEndpoint> VisionEndpoints::classifier(const std::string& dir, Device device,
                                                                         DType dtype) {
  return classifiers_.get(Key{dir, device.str(), static_cast<int>(dtype)}, [&] {
    return logged_load("image classifier", dir, device, dtype,
                       [&] { return ImageClassificationEndpoint::load(dir, device, dtype); });
  });
}

std::shared_ptr<ImageTextEndpoint> VisionEndpoints::image_text(const std::string& dir, Device device, DType dtype) {
  return image_text_.get(Key{dir, device.str(), static_cast<int>(dtype)}, [&] {
    return logged_load("image-text model", dir, device, dtype,
                       [&] { return ImageTextEndpoint::load(dir, device, dtype); });
  });
}

std::shared_ptr<VideoTextEndpoint> VisionEndpoints::video_text(const std::string& dir, Device device, DType dtype) {
  return video_text_.get(Key{dir, device.str(), static_cast<int>(dtype)}, [&] {
    return logged_load("video-text model", dir, device, dtype,
                       [&] { return VideoTextEndpoint::load(dir, device, dtype); });
  });
}

std::shared_ptr<ObjectDetectionEndpoint> VisionEndpoints::detector(const std::string& dir, Device device, DType dtype) {
  return detectors_.get(Key{dir, device.str(), static_cast<int>(dtype)}, [&] {
    return logged_load("object detector", dir, device, dtype,
                       [&] { return ObjectDetectionEndpoint::load(dir, device, dtype); });
  });
}

std::vector<image::RgbImage> decode_images(const std::vector<ipfs_accelerate::ImageInput>& images,
                                           const image::ImageLimits& limits, double* decode_ms) {
  const auto t0 = Clock::now();
  std::vector<image::RgbImage> out;
  for (const auto& in : images) {
    if (in.bytes) {
      const auto* p = reinterpret_cast<const uint8_t*>(in.bytes->data());
      out.push_back(image::decode_image_bytes(std::span<const uint8_t>(p, in.bytes->size()), in.path, limits).image);
    } else {
      out.push_back(image::decode_image_file(in.path, limits).image);
    }
  }
  if (decode_ms) *decode_ms += ms_since(t0);
  return out;
}

ipfs_accelerate::ClassifyResult classify(VisionEndpoints& v, const std::string& model,
                                         const std::vector<ipfs_accelerate::ImageInput>& images,
                                         const ipfs_accelerate::ClassifyOptions& options) {
  check_images(images);
  if (options.top_k < 1) fail(ErrorKind::InvalidArgument, "top_k must be at least 1, got {}", options.top_k);
  ipfs_accelerate::ClassifyResult r;
  // Bad images are refused before any model loads.
  std::vector<image::RgbImage> decoded = decode_images(images, {}, &r.decode_ms);
  Placement p = place(model, options);
  auto ep = v.classifier(p.dir, p.device, p.dtype);
  r.model = model;
  r.device = p.device.str();
  r.dtype = dtype_name(p.dtype);
  r.warnings = std::move(p.warnings);
  ImageClassification c = ep->classify(decoded, options.top_k);
  r.logits = std::move(c.logits);
  for (const auto& top : c.top) {
    std::vector<ipfs_accelerate::ImageLabel> labels;
    for (const auto& l : top) labels.push_back({static_cast<int>(l.id), l.label, l.score});
    r.labels.push_back(std::move(labels));
  }
  r.preprocess_ms = c.preprocess_ms;
  r.inference_ms = c.inference_ms;
  return r;
}

ipfs_accelerate::DetectResult detect(VisionEndpoints& v, const std::string& model,
                                     const std::vector<ipfs_accelerate::ImageInput>& images,
                                     const ipfs_accelerate::DetectOptions& options) {
  check_images(images);
  if (!(options.threshold >= 0.0 && options.threshold <= 1.0))
    fail(ErrorKind::InvalidArgument, "threshold must be in [0, 1], got {}", options.threshold);
  ipfs_accelerate::DetectResult r;
  std::vector<image::RgbImage> decoded = decode_images(images, {}, &r.decode_ms);
  Placement p = place(model, options);
  auto ep = v.detector(p.dir, p.device, p.dtype);
  r.model = model;
  r.device = p.device.str();
  r.dtype = dtype_name(p.dtype);
  r.threshold = options.threshold;
  r.warnings = std::move(p.warnings);
  // Compared with the f32 scores in f32, as torch compares a float32 tensor with a Python float.
  ObjectDetectionResult d = ep->detect(decoded, static_cast<float>(options.threshold));
  for (size_t i = 0; i < decoded.size(); ++i) {
    std::vector<ipfs_accelerate::ObjectDetection> found;
    for (const auto& e : d.detections[i]) found.push_back({static_cast<int>(e.label_id), e.label, e.score, e.box});
    r.detections.push_back(std::move(found));
    r.image_sizes.emplace_back(static_cast<int>(decoded[i].width), static_cast<int>(decoded[i].height));
  }
  r.preprocess_ms = d.preprocess_ms;
  r.inference_ms = d.inference_ms;
  return r;
}

ipfs_accelerate::SimilarityResult similarity(VisionEndpoints& v, const std::string& model,
                                             const std::vector<ipfs_accelerate::ImageInput>& images,
                                             const std::vector<std::string>& texts,
                                             const ipfs_accelerate::VisionOptions& options) {
  check_images(images);
  if (texts.empty()) fail(ErrorKind::InvalidArgument, "no texts given");
  ipfs_accelerate::SimilarityResult r;
  std::vector<image::RgbImage> decoded = decode_images(images, {}, &r.decode_ms);
  Placement p = place(model, options);
  const HfConfig config = HfConfig::load(p.dir);
  if (has_video_text_model(classify_model(config.json(), config.path())))
    fail(ErrorKind::InvalidArgument,
         "{}: a video-text model (X-CLIP) compares videos, not images, with texts (give "
         "it videos: similarity --video)",
         p.dir);
  auto ep = v.image_text(p.dir, p.device, p.dtype);
  r.model = model;
  r.device = p.device.str();
  r.dtype = dtype_name(p.dtype);
  r.warnings = std::move(p.warnings);
  r.logit_scale = ep->model().logit_scale();
  ImageTextSimilarity s = ep->similarity(decoded, texts);
  for (const auto& e : ep->tokenize(texts)) r.token_counts.push_back(static_cast<int>(e.ids.size()));
  r.logits_per_image = s.logits_per_image;
  r.probs_per_image = softmax_rows(s.logits_per_image);
  r.text_embeds = std::move(s.text_embeds);
  r.image_embeds = std::move(s.image_embeds);
  r.tokenize_ms = s.tokenize_ms;
  r.preprocess_ms = s.preprocess_ms;
  r.inference_ms = s.inference_ms;
  return r;
}

ipfs_accelerate::VideoSimilarityResult video_similarity(VisionEndpoints& v, const std::string& model,
                                                        const std::vector<ipfs_accelerate::VideoInput>& videos,
                                                        const std::vector<std::string>& texts,
                                                        const ipfs_accelerate::VisionOptions& options) {
  if (videos.empty()) fail(ErrorKind::InvalidArgument, "no videos given");
  if (texts.empty()) fail(ErrorKind::InvalidArgument, "no texts given");
  ipfs_accelerate::VideoSimilarityResult r;
  Placement p = place(model, options);
  const HfConfig config = HfConfig::load(p.dir);
  const ModelKind kind = classify_model(config.json(), config.path());
  require_video_text_model(kind, p.dir);
  // The frames the model takes, from its config, so bad videos are refused before it loads.
  const int64_t frames = clip_config_int(clip_sub_config(config, "vision_config"), "num_frames", 8, 1 << 12);
  std::vector<std::vector<image::RgbImage>> decoded;
  const auto t0 = Clock::now();
  for (const auto& in : videos) {
    video::DecodedVideo d =
        in.bytes ? video::decode_video_bytes(
                       std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(in.bytes->data()), in.bytes->size()),
                       in.path, frames)
                 : video::load_video(in.path, frames);
    ipfs_accelerate::VideoSampling s;
    s.path = in.path;
    s.format = d.format;
    s.codec = d.codec;
    s.total_frames = d.total_frames;
    s.indices.assign(d.indices.begin(), d.indices.end());
    s.fps = d.fps;
    r.videos.push_back(std::move(s));
    decoded.push_back(std::move(d.frames));
  }
  r.decode_ms = ms_since(t0);
  auto ep = v.video_text(p.dir, p.device, p.dtype);
  r.model = model;
  r.device = p.device.str();
  r.dtype = dtype_name(p.dtype);
  r.warnings = std::move(p.warnings);
  r.logit_scale = ep->model().logit_scale();
  VideoTextSimilarity s = ep->similarity(decoded, texts);
  for (const auto& e : ep->tokenize(texts)) r.token_counts.push_back(static_cast<int>(e.ids.size()));
  r.probs_per_video = softmax_rows(s.logits_per_video);
  r.logits_per_video = std::move(s.logits_per_video);
  r.text_embeds = std::move(s.text_embeds);
  r.video_embeds = std::move(s.video_embeds);
  r.tokenize_ms = s.tokenize_ms;
  r.preprocess_ms = s.preprocess_ms;
  r.inference_ms = s.inference_ms;
  return r;
}

ipfs_accelerate::ImageEmbedResult embed_images(VisionEndpoints& v, const std::string& model,
                                               const std::vector<ipfs_accelerate::ImageInput>& images,
                                               const ipfs_accelerate::ImageEmbedOptions& options) {
  check_images(images);
  ipfs_accelerate::ImageEmbedResult r;
  std::vector<image::RgbImage> decoded = decode_images(images, {}, &r.decode_ms);
  Placement p = place(model, options);
  const ModelKind kind = classify_model(HfConfig::load(p.dir).json(), p.dir + "/config.json");
  if (!has_image_text_model(kind))
    fail(ErrorKind::Unsupported, "{}: model_type \"{}\" ({}) gives no image embeddings in this build (CLIP folders do)",
         p.dir, kind.model_type, kind.architecture);
  auto ep = v.image_text(p.dir, p.device, p.dtype);
  r.model = model;
  r.device = p.device.str();
  r.dtype = dtype_name(p.dtype);
  r.warnings = std::move(p.warnings);
  r.normalized = options.normalize;
  Tensor e = ep->image_embeddings(decoded, options.normalize, &r.preprocess_ms, &r.inference_ms);
  r.dimensions = static_cast<int>(e.size(1));
  for (int64_t i = 0; i < e.size(0); ++i)
    r.embeddings.emplace_back(e.data<float>() + i * e.size(1), e.data<float>() + (i + 1) * e.size(1));
  return r;
}

bool is_image_text_folder(const std::string& dir) {
  try {
    const HfConfig c = HfConfig::load(dir);
    return has_image_text_model(classify_model(c.json(), c.path()));
  } catch (const Error&) {
    return false;  // the text path reports what is wrong with the folder
  }
}

ipfs_accelerate::EmbedResult embed_clip_texts(VisionEndpoints& v, const std::string& model, const std::string& dir,
                                              const std::vector<std::string>& texts,
                                              const ipfs_accelerate::EmbedOptions& options) {
  if (options.pooling)
    fail(ErrorKind::InvalidArgument,
         "{}: a CLIP text embedding is pooled at the end-of-text token and projected; --pooling does not apply", dir);
  if (options.prompt || options.prompt_name)
    fail(ErrorKind::InvalidArgument, "{}: CLIP folders have no prompts; put the text you want in the text", dir);
  std::vector<std::string> warnings;
  const DType dtype = resolve_compute_dtype(options.dtype, dir, warnings);
  const Device device = placement_device(options.device, dir, dtype);
  auto ep = v.image_text(dir, device, dtype);
  ipfs_accelerate::EmbedResult r;
  r.model = model;
  r.device = device.str();
  r.dtype = dtype_name(dtype);
  r.pooling = "eos";
  r.normalized = options.normalize.value_or(true);
  const int64_t limit = options.max_length ? std::min<int64_t>(*options.max_length, ep->model().max_text_tokens())
                                           : ep->model().max_text_tokens();
  const auto t0 = Clock::now();
  std::vector<std::vector<int32_t>> ids;
  for (size_t i = 0; i < texts.size(); ++i) {
    tok::Encoding full = ep->tokenizer().encode(texts[i]);
    if (static_cast<int64_t>(full.ids.size()) > limit) {
      if (!options.truncate)
        fail(ErrorKind::InvalidArgument, "text {} has {} tokens, more than the limit of {} (truncation is off)", i,
             full.ids.size(), limit);
      r.truncated.push_back(static_cast<int>(i));
      full = ep->tokenizer().encode_truncated(texts[i], static_cast<size_t>(limit));
    }
    r.token_counts.push_back(static_cast<int>(full.ids.size()));
    ids.push_back(std::move(full.ids));
  }
  r.tokenize_ms = ms_since(t0);
  if (!r.truncated.empty())
    warnings.push_back(fmt::format("{} text(s) truncated to {} tokens", r.truncated.size(), limit));
  const auto t1 = Clock::now();
  Tensor e = ep->text_embeddings_of_ids(ids, r.normalized);
  r.inference_ms = ms_since(t1);
  r.dimensions = static_cast<int>(e.size(1));
  for (int64_t i = 0; i < e.size(0); ++i)
    r.embeddings.emplace_back(e.data<float>() + i * e.size(1), e.data<float>() + (i + 1) * e.size(1));
  r.max_length = static_cast<int>(limit);
  r.warnings = std::move(warnings);
  return r;
}

}  // namespace ia::router
