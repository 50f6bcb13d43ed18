// libFuzzer target for the in-memory image decoder (what an upload reaches): PNG, JPEG, WebP, GIF
// and BMP through their libraries and the BMP parser, the EXIF orientation, then the ViT, CLIP and
// DETR processors' resize, crop, normalize and pad. Any input must either decode into an RGB image within
// the limits or throw ia::Error; any other exception, a crash, a hang or a sanitizer report is a bug.
// DETR's processor (shortest / longest edge, then the pad step) runs on a small size too.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/hf_config.h"
#include "preprocess/image/image_decoder.h"
#include "preprocess/image/image_processor.h"

namespace {

volatile double g_sink = 0;

const ia::image::ImageProcessor& processor(bool clip) {
  static const ia::image::ImageProcessor vit(ia::image::ImageProcessorConfig::from(
      ia::HfConfig::from_json(nlohmann::json::object(), "fuzz"), "ViTImageProcessor"));
  static const ia::image::ImageProcessor clip_p(ia::image::ImageProcessorConfig::from(
      ia::HfConfig::from_json(nlohmann::json::object(), "fuzz"), "CLIPImageProcessor"));
  return clip ? clip_p : vit;
}

const ia::image::ImageProcessor& detr_processor() {
  static const ia::image::ImageProcessor detr(ia::image::ImageProcessorConfig::from(
      ia::HfConfig::from_json(nlohmann::json{{"size", {{"shortest_edge", 64}, {"longest_edge", 96}}}}, "fuzz"),
      "DetrImageProcessor"));
  return detr;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ia::image::ImageLimits limits;
  limits.max_pixels = 1 << 16;  // bounds memory and time per input (the resize to 224x224 follows)
  limits.max_side = 2048;
  try {
    ia::image::DecodedImage d =
        ia::image::decode_image_bytes(std::span<const uint8_t>(data, size), "fuzz-input", limits);
    const auto& im = d.image;
    if (im.width < 1 || im.height < 1 || im.width * im.height > limits.max_pixels) __builtin_trap();
    if (im.pixels.size() != static_cast<size_t>(im.width * im.height * 3)) __builtin_trap();
    if (d.orientation < 1 || d.orientation > 8) __builtin_trap();
    double acc = 0;
    for (bool clip : {false, true}) {
      ia::Tensor px = processor(clip).preprocess(im);
      if (px.size(0) != 3 || px.size(1) != 224 || px.size(2) != 224) __builtin_trap();
      const float* v = px.data<float>();
      for (int64_t i = 0; i < px.numel(); ++i) {
        if (!std::isfinite(v[i])) __builtin_trap();
        acc += v[i];
      }
    }
    ia::Tensor dx = detr_processor().preprocess(im);
    if (dx.size(0) != 3 || dx.size(1) < 1 || dx.size(2) < 1 || dx.size(1) > 96 || dx.size(2) > 96) __builtin_trap();
    ia::image::PaddedBatch padded = detr_processor().pad({dx});
    if (padded.pixel_mask.numel() != dx.size(1) * dx.size(2)) __builtin_trap();
    acc += padded.pixel_values.data<float>()[0];
    g_sink = g_sink + acc;
  } catch (const ia::Error&) {
    // Expected for malformed input.
  }
  return 0;
}
