#include "preprocess/image/image_processor.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "preprocess/processor_config.h"

namespace ia::image {

namespace {

constexpr int64_t kMaxSide = 65535;

struct ClassDefaults {
  const char* type;
  bool size_default_to_square;  // an int `size` means height = width (ViT) or the shortest edge (CLIP, DETR)
  ResizeSize size;
  Resample resample;
  bool do_center_crop;
  int64_t crop;
  std::array<float, 3> mean, std;
  bool do_pad = false;  // DETR: a batch padded to its largest image, with a pixel mask
};

// transformers' IMAGENET_STANDARD_MEAN / _STD and OPENAI_CLIP_MEAN / _STD.
constexpr std::array<float, 3> kStandardMean{0.5f, 0.5f, 0.5f}, kStandardStd{0.5f, 0.5f, 0.5f};
constexpr std::array<float, 3> kClipMean{0.48145466f, 0.4578275f, 0.40821073f};
constexpr std::array<float, 3> kClipStd{0.26862954f, 0.26130258f, 0.27577711f};
// IMAGENET_DEFAULT_MEAN / _STD (DETR).
constexpr std::array<float, 3> kImagenetMean{0.485f, 0.456f, 0.406f}, kImagenetStd{0.229f, 0.224f, 0.225f};

const ClassDefaults kClasses[] = {
    {"ViTImageProcessor", true, {224, 224, 0, 0}, Resample::Bilinear, false, 0, kStandardMean, kStandardStd},
    {"CLIPImageProcessor", false, {0, 0, 224, 0}, Resample::Bicubic, true, 224, kClipMean, kClipStd},
    // X-CLIP's processor, applied to each frame of a video.
    {"VideoMAEImageProcessor", false, {0, 0, 224, 0}, Resample::Bilinear, true, 224, kStandardMean, kStandardStd},
    {"DetrImageProcessor", false, {0, 0, 800, 1333}, Resample::Bilinear, false, 0, kImagenetMean, kImagenetStd, true},
    // Its per-crop steps are CLIP's (the crops and pinpoints: preprocess/image/llava_processor.h).
    {"LlavaNextImageProcessor", false, {0, 0, 224, 0}, Resample::Bicubic, true, 224, kClipMean, kClipStd},
};

// The class a config names: "...ImageProcessorFast" and "...ImageProcessorPil" are the same
// processor on another backend, "...FeatureExtractor" its older name.
std::string canonical_type(std::string t) {
  for (const char* suffix : {"Fast", "Pil"}) {
    const std::string s(suffix);
    if (t.size() > s.size() && t.compare(t.size() - s.size(), s.size(), s) == 0) t.resize(t.size() - s.size());
  }
  const std::string fe = "FeatureExtractor";
  if (t.size() > fe.size() && t.compare(t.size() - fe.size(), fe.size(), fe) == 0)
    t = t.substr(0, t.size() - fe.size()) + "ImageProcessor";
  return t;
}

int64_t side(const HfConfig& c, const nlohmann::json& v, const std::string& key) {
  if (!v.is_number_integer() && !(v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()))
    fail(ErrorKind::Corrupt, "{}: '{}' must hold whole numbers, got {}", c.path(), key, v.dump());
  const double d = v.get<double>();
  if (d < 1 || d > kMaxSide) fail(ErrorKind::Corrupt, "{}: '{}' is {}, outside [1, {}]", c.path(), key, d, kMaxSide);
  return static_cast<int64_t>(d);
}

// get_size_dict: an int (square, or the shortest edge), [height, width], or a dict.
ResizeSize parse_size(const HfConfig& c, const std::string& key, bool default_to_square) {
  const nlohmann::json& v = c.json().at(key);
  ResizeSize s;
  if (v.is_number()) {
    const int64_t n = side(c, v, key);
    if (default_to_square) {
      s.height = s.width = n;
    } else {
      s.shortest_edge = n;
    }
    return s;
  }
  if (v.is_array() && v.size() == 2) {
    s.height = side(c, v[0], key);
    s.width = side(c, v[1], key);
    return s;
  }
  if (!v.is_object())
    fail(ErrorKind::Corrupt, "{}: '{}' must be a number, [height, width] or an object", c.path(), key);
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it.value().is_null()) continue;
    const std::string& k = it.key();
    if (k == "height") {
      s.height = side(c, it.value(), key + ".height");
    } else if (k == "width") {
      s.width = side(c, it.value(), key + ".width");
    } else if (k == "shortest_edge") {
      s.shortest_edge = side(c, it.value(), key + ".shortest_edge");
    } else if (k == "longest_edge") {
      s.longest_edge = side(c, it.value(), key + ".longest_edge");
    } else {
      fail(ErrorKind::Unsupported, "{}: '{}' has the key '{}' (height/width, shortest_edge and longest_edge are read)",
           c.path(), key, k);
    }
  }
  const bool exact = s.height > 0 && s.width > 0;
  if (exact == (s.shortest_edge > 0) || (s.height > 0) != (s.width > 0) || (s.longest_edge > 0 && !s.shortest_edge))
    fail(ErrorKind::Corrupt, "{}: '{}' must give height and width, or shortest_edge (and longest_edge), got {}",
         c.path(), key, v.dump());
  return s;
}

std::array<float, 3> parse_triple(const HfConfig& c, const std::string& key, std::array<float, 3> def) {
  if (!c.has(key)) return def;
  const nlohmann::json& v = c.json().at(key);
  std::array<float, 3> out{};
  if (v.is_number()) {
    out.fill(v.get<float>());
  } else if (v.is_array() && v.size() == 3 && v[0].is_number() && v[1].is_number() && v[2].is_number()) {
    for (size_t i = 0; i < 3; ++i) out[i] = v[i].get<float>();
  } else {
    fail(ErrorKind::Corrupt, "{}: '{}' must be a number or three numbers, got {}", c.path(), key, v.dump());
  }
  for (float f : out)
    if (!std::isfinite(f)) fail(ErrorKind::Corrupt, "{}: '{}' holds a non-finite number", c.path(), key);
  return out;
}

}  // namespace

std::pair<int64_t, int64_t> shortest_edge_size(int64_t h, int64_t w, int64_t size, int64_t max_size) {
  if (max_size <= 0) {
    // get_resize_output_image_size(default_to_square=False)
    const int64_t shorter = std::min(h, w), longer = std::max(h, w);
    const auto new_long = static_cast<int64_t>(static_cast<double>(size * longer) / static_cast<double>(shorter));
    return w <= h ? std::pair{new_long, size} : std::pair{size, new_long};
  }
  // get_size_with_aspect_ratio
  double raw = 0;
  bool have_raw = false;
  const double min_o = static_cast<double>(std::min(h, w)), max_o = static_cast<double>(std::max(h, w));
  if (max_o / min_o * static_cast<double>(size) > static_cast<double>(max_size)) {
    raw = static_cast<double>(max_size) * min_o / max_o;
    have_raw = true;
    size = static_cast<int64_t>(std::nearbyint(raw));  // Python's round: half to even
  }
  if ((h <= w && h == size) || (w <= h && w == size)) return {h, w};
  if (w < h) {
    const double oh = have_raw ? raw * static_cast<double>(h) / static_cast<double>(w)
                               : static_cast<double>(size * h) / static_cast<double>(w);
    return {static_cast<int64_t>(oh), size};
  }
  const double ow = have_raw ? raw * static_cast<double>(w) / static_cast<double>(h)
                             : static_cast<double>(size * w) / static_cast<double>(h);
  return {size, static_cast<int64_t>(ow)};
}

ImageProcessorConfig ImageProcessorConfig::from(const HfConfig& c, const std::string& default_type) {
  std::string type = c.get_string("image_processor_type", "");
  if (type.empty()) type = c.get_string("feature_extractor_type", "");
  if (type.empty()) type = default_type;
  const std::string canon = canonical_type(type);
  const ClassDefaults* d = nullptr;
  for (const auto& k : kClasses)
    if (canon == k.type) d = &k;
  if (!d)
    fail(ErrorKind::Unsupported,
         "{}: image processor {} is not implemented (ViTImageProcessor, CLIPImageProcessor, "
         "VideoMAEImageProcessor, DetrImageProcessor, LlavaNextImageProcessor are)",
         c.path(), type);
  ImageProcessorConfig out;
  out.type = d->type;
  out.path = c.path();
  out.do_resize = c.get_bool("do_resize", true);
  out.size = c.has("size") ? parse_size(c, "size", d->size_default_to_square) : d->size;
  // DETR's older configs give the longest edge as "max_size" beside an integer size.
  if (d->do_pad && c.has("max_size") && out.size.shortest_edge > 0 && !out.size.longest_edge)
    out.size.longest_edge = side(c, c.json().at("max_size"), "max_size");
  const int64_t resample = c.get_int("resample", static_cast<int64_t>(d->resample));
  if (resample < 0 || resample > 5)
    fail(ErrorKind::Corrupt, "{}: 'resample' is {}, not a PIL filter (0-5)", c.path(), resample);
  out.resample = static_cast<Resample>(resample);
  out.do_center_crop = c.get_bool("do_center_crop", d->do_center_crop);
  out.crop_height = out.crop_width = d->crop;
  if (c.has("crop_size")) {
    ResizeSize crop = parse_size(c, "crop_size", true);
    if (!crop.height) fail(ErrorKind::Corrupt, "{}: 'crop_size' must give height and width", c.path());
    out.crop_height = crop.height;
    out.crop_width = crop.width;
  }
  if (out.do_center_crop && out.crop_height <= 0)
    fail(ErrorKind::Corrupt, "{}: do_center_crop without a crop_size", c.path());
  out.do_rescale = c.get_bool("do_rescale", true);
  out.rescale_factor = c.get_float("rescale_factor", 1.0 / 255.0);
  if (!std::isfinite(out.rescale_factor))
    fail(ErrorKind::Corrupt, "{}: 'rescale_factor' is not a finite number", c.path());
  out.do_normalize = c.get_bool("do_normalize", true);
  out.do_pad = d->do_pad && c.get_bool("do_pad", true);
  if (out.do_pad && c.has("pad_size")) {
    ResizeSize pad = parse_size(c, "pad_size", true);
    if (!pad.height) fail(ErrorKind::Corrupt, "{}: 'pad_size' must give height and width", c.path());
    out.pad_height = pad.height;
    out.pad_width = pad.width;
  }
  out.image_mean = parse_triple(c, "image_mean", d->mean);
  out.image_std = parse_triple(c, "image_std", d->std);
  if (out.do_normalize)
    for (float s : out.image_std)
      if (s == 0.0f) fail(ErrorKind::Corrupt, "{}: 'image_std' holds a zero", c.path());
  return out;
}

ImageProcessor::ImageProcessor(ImageProcessorConfig config) : config_(std::move(config)) {
  // The PIL backend's arithmetic, per channel value: rescale in float64 then float32, normalize in float32.
  for (size_t ch = 0; ch < 3; ++ch) {
    for (int v = 0; v < 256; ++v) {
      float f = config_.do_rescale ? static_cast<float>(static_cast<double>(v) * config_.rescale_factor)
                                   : static_cast<float>(v);
      if (config_.do_normalize) f = (f - config_.image_mean[ch]) / config_.image_std[ch];
      lut_[ch][static_cast<size_t>(v)] = f;
    }
  }
}

ImageProcessor ImageProcessor::load(const std::string& model_dir, const std::string& default_type) {
  return ImageProcessor(
      ImageProcessorConfig::from(load_processor_part(model_dir, {"image_processor"}, "image processor"), default_type));
}

std::pair<int64_t, int64_t> ImageProcessor::resized_size(int64_t h, int64_t w) const {
  if (!config_.do_resize) return {h, w};
  const ResizeSize& s = config_.size;
  if (s.height > 0) return {s.height, s.width};
  return shortest_edge_size(h, w, s.shortest_edge, s.longest_edge);
}

std::pair<int64_t, int64_t> ImageProcessor::output_size(int64_t h, int64_t w) const {
  if (config_.do_center_crop) return {config_.crop_height, config_.crop_width};
  return resized_size(h, w);
}

void ImageProcessor::preprocess_into(const RgbImage& image, float* out) const {
  IA_CHECK(!image.empty(), "image processor: an empty image");
  auto [rh, rw] = resized_size(image.height, image.width);
  if (rh < 1 || rw < 1)
    fail(ErrorKind::InvalidArgument, "a {}x{} image resizes to nothing ({}x{}) with {}", image.width, image.height, rw,
         rh, config_.path);
  RgbImage resized;
  const RgbImage* src = &image;
  if (rh != image.height || rw != image.width) {
    resized = resize(image, rw, rh, config_.resample);
    src = &resized;
  }
  auto [oh, ow] = output_size(image.height, image.width);
  // numpy's center_crop: the window starts at floor((size - crop) / 2), zeros where it leaves the image.
  auto floor_half = [](int64_t d) { return d >= 0 ? d / 2 : -((-d + 1) / 2); };
  const int64_t top = config_.do_center_crop ? floor_half(src->height - oh) : 0;
  const int64_t left = config_.do_center_crop ? floor_half(src->width - ow) : 0;
  const int64_t plane = oh * ow;
  for (int64_t y = 0; y < oh; ++y) {
    const int64_t sy = y + top;
    const bool row_in = sy >= 0 && sy < src->height;
    for (int64_t x = 0; x < ow; ++x) {
      const int64_t sx = x + left;
      const bool in = row_in && sx >= 0 && sx < src->width;
      const uint8_t* p = in ? src->at(sx, sy) : nullptr;
      for (size_t ch = 0; ch < 3; ++ch) out[static_cast<int64_t>(ch) * plane + y * ow + x] = lut_[ch][in ? p[ch] : 0];
    }
  }
}

PaddedBatch ImageProcessor::pad(const std::vector<Tensor>& pixel_values) const {
  IA_CHECK(!pixel_values.empty(), "pad: no images");
  int64_t H = config_.pad_height, W = config_.pad_width;
  if (!H)
    for (const Tensor& t : pixel_values) {
      H = std::max(H, t.size(1));
      W = std::max(W, t.size(2));
    }
  const auto B = static_cast<int64_t>(pixel_values.size());
  PaddedBatch out;
  out.pixel_values = Tensor::zeros({B, 3, H, W}, DType::F32);
  out.pixel_mask = Tensor::zeros({B, H, W}, DType::I64);
  for (int64_t b = 0; b < B; ++b) {
    const Tensor t = pixel_values[static_cast<size_t>(b)].contiguous();
    const int64_t h = t.size(1), w = t.size(2);
    if (h > H || w > W)
      fail(ErrorKind::InvalidArgument, "a {}x{} image does not fit pad_size {}x{} ({})", w, h, W, H, config_.path);
    for (int64_t ch = 0; ch < 3; ++ch)
      for (int64_t y = 0; y < h; ++y)
        std::copy_n(t.data<float>() + (ch * h + y) * w, w, out.pixel_values.data<float>() + ((b * 3 + ch) * H + y) * W);
    for (int64_t y = 0; y < h; ++y) std::fill_n(out.pixel_mask.data<int64_t>() + (b * H + y) * W, w, int64_t{1});
  }
  return out;
}

Tensor ImageProcessor::preprocess(const RgbImage& image) const {
  auto [oh, ow] = output_size(image.height, image.width);
  Tensor t = Tensor::empty({3, oh, ow}, DType::F32);
  preprocess_into(image, t.data<float>());
  return t;
}

}  // namespace ia::image
