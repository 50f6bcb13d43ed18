#include "preprocess/image/llava_processor.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/json_messages.h"
#include "preprocess/image/resize.h"
#include "preprocess/processor_config.h"

namespace ia::image {

std::pair<int64_t, int64_t> select_best_resolution(int64_t height, int64_t width,
                                                   const std::vector<std::pair<int64_t, int64_t>>& pinpoints) {
  IA_CHECK(!pinpoints.empty() && height > 0 && width > 0, "select_best_resolution: {}x{} among {} pinpoints", height,
           width, pinpoints.size());
  std::pair<int64_t, int64_t> best = pinpoints[0];
  int64_t max_effective = 0;
  int64_t min_wasted = std::numeric_limits<int64_t>::max();
  for (const auto& [h, w] : pinpoints) {
    // Python floats, as transformers computes them.
    const double scale = std::min(static_cast<double>(w) / static_cast<double>(width),
                                  static_cast<double>(h) / static_cast<double>(height));
    const auto dw = static_cast<int64_t>(static_cast<double>(width) * scale);
    const auto dh = static_cast<int64_t>(static_cast<double>(height) * scale);
    const int64_t effective = std::min(dw * dh, width * height);
    const int64_t wasted = w * h - effective;
    if (effective > max_effective || (effective == max_effective && wasted < min_wasted)) {
      max_effective = effective;
      min_wasted = wasted;
      best = {h, w};
    }
  }
  return best;
}

UnpaddedGrid unpad_grid(int64_t rows, int64_t cols, int64_t height, int64_t width) {
  // Python: round(x, 7) then int(); the aspect ratios compared as floats.
  auto round7 = [](double x) { return std::nearbyint(x * 1e7) / 1e7; };
  UnpaddedGrid g{0, rows, 0, cols};
  const double original = static_cast<double>(width) / static_cast<double>(height);
  const double current = static_cast<double>(cols) / static_cast<double>(rows);
  if (original > current) {
    const double scale = static_cast<double>(cols) / static_cast<double>(width);
    const auto new_height = static_cast<int64_t>(round7(static_cast<double>(height) * scale));
    const int64_t pad = (rows - new_height) / 2;
    g.r0 = pad;
    g.r1 = rows - pad;
  } else {
    const double scale = static_cast<double>(rows) / static_cast<double>(height);
    const auto new_width = static_cast<int64_t>(round7(static_cast<double>(width) * scale));
    const int64_t pad = (cols - new_width) / 2;
    g.c0 = pad;
    g.c1 = cols - pad;
  }
  return g;
}

namespace {

constexpr int64_t kMaxPinpoints = 1024;
// A pinpoint is a resolution the image is resized into before it is cut: bounded so an untrusted
// config cannot ask for a huge canvas.
constexpr int64_t kMaxPinpointSide = 8192;

std::vector<std::pair<int64_t, int64_t>> parse_pinpoints(const HfConfig& c) {
  const nlohmann::json& j = c.json();
  auto it = j.find("image_grid_pinpoints");
  std::vector<std::pair<int64_t, int64_t>> out;
  if (it == j.end()) return {{336, 672}, {672, 336}, {672, 672}, {1008, 336}, {336, 1008}};  // the class default
  if (!it->is_array() || it->empty() || static_cast<int64_t>(it->size()) > kMaxPinpoints)
    fail(ErrorKind::Corrupt, "{}: image_grid_pinpoints must be a list of [height, width]", c.path());
  for (const auto& p : *it) {
    auto side = [&](const nlohmann::json& v) {
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > kMaxPinpointSide)
        fail(ErrorKind::Corrupt, "{}: image_grid_pinpoints entry {} is not [height, width] within [1, {}]", c.path(),
             p.dump(), kMaxPinpointSide);
      return v.get<int64_t>();
    };
    if (!p.is_array() || p.size() != 2)
      fail(ErrorKind::Corrupt, "{}: image_grid_pinpoints entry {} is not [height, width]", c.path(), p.dump());
    out.emplace_back(side(p[0]), side(p[1]));
  }
  return out;
}

// get_patch_output_size: the size an image takes inside `target` keeping its aspect ratio.
std::pair<int64_t, int64_t> fitted_size(int64_t h, int64_t w, int64_t th, int64_t tw) {
  const double sw = static_cast<double>(tw) / static_cast<double>(w);
  const double sh = static_cast<double>(th) / static_cast<double>(h);
  if (sw < sh) return {std::min(static_cast<int64_t>(std::ceil(static_cast<double>(h) * sw)), th), tw};
  return {th, std::min(static_cast<int64_t>(std::ceil(static_cast<double>(w) * sh)), tw)};
}

RgbImage crop(const RgbImage& in, int64_t x0, int64_t y0, int64_t w, int64_t h) {
  RgbImage out(w, h);
  for (int64_t y = 0; y < h; ++y) std::copy_n(in.at(x0, y0 + y), w * 3, out.row(y));
  return out;
}

}  // namespace

LlavaProcessor::LlavaProcessor(LlavaProcessorConfig config, ImageProcessor images)
    : config_(std::move(config)), images_(std::move(images)) {
  if (config_.patch_size < 1) fail(ErrorKind::Corrupt, "{}: patch_size must be positive", images_.config().path);
  if (config_.anyres && config_.pinpoints.empty())
    fail(ErrorKind::Corrupt, "{}: LLaVA-NeXT needs image_grid_pinpoints", images_.config().path);
  const auto [ch, cw] = crop_size();
  for (const auto& [h, w] : config_.pinpoints)
    if (h % ch != 0 || w % cw != 0)
      fail(ErrorKind::Corrupt, "{}: image_grid_pinpoints [{}, {}] is not a whole number of {}x{} crops",
           images_.config().path, h, w, cw, ch);
}

LlavaProcessor LlavaProcessor::load(const std::string& model_dir, int64_t model_patch_size, bool anyres) {
  LlavaProcessorConfig cfg;
  cfg.anyres = anyres;
  cfg.patch_size = model_patch_size;
  const std::filesystem::path top = std::filesystem::path(model_dir) / "processor_config.json";
  std::error_code ec;
  if (std::filesystem::is_regular_file(top, ec)) {
    const HfConfig c = HfConfig::from_json(read_json_file(top.string()), top.string());
    cfg.image_token = c.get_string("image_token", cfg.image_token);
    cfg.patch_size = c.get_int("patch_size", cfg.patch_size);
    cfg.num_additional_image_tokens = c.get_int("num_additional_image_tokens", cfg.num_additional_image_tokens);
    const std::string strategy = c.get_string("vision_feature_select_strategy", "default");
    if (strategy != "default" && strategy != "full")
      fail(ErrorKind::Corrupt, "{}: vision_feature_select_strategy \"{}\" (default or full)", c.path(), strategy);
    cfg.keep_class_token = strategy == "full";
    if (cfg.image_token.empty() || cfg.num_additional_image_tokens < 0 || cfg.num_additional_image_tokens > 64 ||
        cfg.patch_size < 1 || cfg.patch_size > 4096)
      fail(ErrorKind::Corrupt, "{}: image_token, patch_size or num_additional_image_tokens out of range", c.path());
  }
  const HfConfig ip = load_processor_part(model_dir, {"image_processor"}, "image processor");
  ImageProcessor images(ImageProcessorConfig::from(ip, anyres ? "LlavaNextImageProcessor" : "CLIPImageProcessor"));
  if (anyres) cfg.pinpoints = parse_pinpoints(ip);
  return LlavaProcessor(std::move(cfg), std::move(images));
}

std::pair<int64_t, int64_t> LlavaProcessor::crop_size() const {
  // What CLIPImageProcessor makes of a square crop (the LLaVA-NeXT tiles are squares of crop_size).
  const ImageProcessorConfig& c = images_.config();
  const int64_t side = c.do_center_crop ? c.crop_height : c.size.height > 0 ? c.size.height : c.size.shortest_edge;
  return images_.output_size(side, side);
}

int64_t LlavaProcessor::image_tokens(int64_t height, int64_t width) const {
  const auto [ch, cw] = crop_size();
  const int64_t ph = ch / config_.patch_size, pw = cw / config_.patch_size;
  // LlavaProcessor: the crop's patches and the additional (class) token, less the class token the
  // default strategy drops.
  const int64_t base = ph * pw + config_.num_additional_image_tokens - (config_.keep_class_token ? 0 : 1);
  if (!config_.anyres) return base;
  // LlavaNextProcessor._get_number_of_features: the best resolution's grid of crops, unpadded,
  // one newline per row.
  const auto [bh, bw] = select_best_resolution(height, width, config_.pinpoints);
  const UnpaddedGrid g = unpad_grid(ph * (bh / ch), pw * (bw / cw), height, width);
  return base + (g.r1 - g.r0) * (g.c1 - g.c0) + (g.r1 - g.r0);
}

Tensor LlavaProcessor::preprocess(const RgbImage& image) const {
  if (image.empty()) fail(ErrorKind::InvalidArgument, "an empty image");
  const auto [oh, ow] = crop_size();
  const int64_t plane = 3 * oh * ow;
  auto check = [&, oh = oh, ow = ow](const RgbImage& im) {  // copies: C++20 lambdas cannot capture bindings in clang 14
    const auto [h, w] = images_.output_size(im.height, im.width);
    if (h != oh || w != ow)
      fail(ErrorKind::Unsupported,
           "{}: a {}x{} image gives {}x{} pixel values, not the crop size {}x{} (no center crop?)",
           images_.config().path, im.width, im.height, w, h, ow, oh);
  };
  if (!config_.anyres) {
    check(image);
    Tensor out = Tensor::empty({1, 3, oh, ow}, DType::F32);
    images_.preprocess_into(image, out.data<float>());
    return out;
  }
  const ImageProcessorConfig& c = images_.config();
  const Resample filter = c.resample;
  // The tiles are crop_size squares (the processor's patch_size is crop_size["height"]).
  const int64_t tile = c.crop_height > 0 ? c.crop_height : (c.size.height > 0 ? c.size.height : c.size.shortest_edge);
  const auto [bh, bw] = select_best_resolution(image.height, image.width, config_.pinpoints);
  const auto [nh, nw] = fitted_size(image.height, image.width, bh, bw);
  const RgbImage fitted = nh == image.height && nw == image.width ? image : resize(image, nw, nh, filter);
  RgbImage canvas(bw, bh);  // black: the padding is zeros before rescaling, as np.pad
  const int64_t top = (bh - nh) / 2, left = (bw - nw) / 2;
  for (int64_t y = 0; y < nh; ++y) std::copy_n(fitted.row(y), nw * 3, canvas.row(top + y) + left * 3);
  // The whole image resized to (shortest_edge, shortest_edge) or (height, width), then every tile.
  const int64_t base_h = c.size.height > 0 ? c.size.height : c.size.shortest_edge;
  const int64_t base_w = c.size.height > 0 ? c.size.width : c.size.shortest_edge;
  std::vector<RgbImage> crops;
  crops.push_back(base_h == image.height && base_w == image.width ? image : resize(image, base_w, base_h, filter));
  for (int64_t y = 0; y < bh; y += tile)
    for (int64_t x = 0; x < bw; x += tile)
      crops.push_back(crop(canvas, x, y, std::min(tile, bw - x), std::min(tile, bh - y)));
  Tensor out = Tensor::empty({static_cast<int64_t>(crops.size()), 3, oh, ow}, DType::F32);
  for (size_t i = 0; i < crops.size(); ++i) {
    check(crops[i]);
    images_.preprocess_into(crops[i], out.data<float>() + static_cast<int64_t>(i) * plane);
  }
  return out;
}

}  // namespace ia::image
