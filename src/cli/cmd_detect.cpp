// `detect`: object detection (DETR) of image files with a model folder.
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/cli_common.h"
#include "router/result_json.h"

namespace ia::cli {

namespace {

struct DetectArgs {
  std::string model;
  std::string device = "auto";
  std::string dtype = "auto";
  double threshold = 0.5;
  bool json = false;
  std::vector<std::string> images;
};

int run_detect(Context& ctx, const DetectArgs& args) {
  ipfs_accelerate::DetectOptions opts;
  opts.device = args.device;
  opts.dtype = args.dtype;
  opts.threshold = args.threshold;
  std::vector<ipfs_accelerate::ImageInput> images;
  for (const auto& p : args.images) images.push_back(ipfs_accelerate::ImageInput::file(p));
  ipfs_accelerate::DetectResult r = ctx.accelerator().detect(args.model, images, opts);
  std::string out;
  for (size_t i = 0; i < r.detections.size(); ++i) {
    if (args.json) {
      out += json_text(router::detect_result_json(r, i, args.images.size() > 1 ? args.images[i] : "")) + "\n";
      continue;
    }
    if (args.images.size() > 1) out += args.images[i] + ":\n";
    for (const auto& d : r.detections[i])
      out += fmt::format("{:.4f}  {}  [{:.1f}, {:.1f}, {:.1f}, {:.1f}]\n", d.score, d.label, d.box[0], d.box[1],
                         d.box[2], d.box[3]);
  }
  std::cout << out;
  return 0;
}

}  // namespace

void register_detect(CLI::App& app, Context& ctx, Action& action) {
  auto args = std::make_shared<DetectArgs>();
  CLI::App* sub = app.add_subcommand(
      "detect", "Detect objects in images with an object-detection model folder (DETR): labelled boxes in pixels");
  sub->add_option("-m,--model", args->model, "Hugging Face model folder")->required();
  sub->add_option("--device", args->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  sub->add_option("--dtype", args->dtype, "Compute dtype: auto (the checkpoint's) | f32 | bf16")->capture_default_str();
  sub->add_option("-t,--threshold", args->threshold, "Keep detections scoring above this (0 to 1)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub->add_flag("--json", args->json,
                "One JSON object per image: {model, device, dtype, image?, width, height, threshold, detections: "
                "[{id, label, score, box: [x0, y0, x1, y1]}], timings}");
  sub->add_option("image", args->images, "Image files (PNG, JPEG, WebP, GIF, BMP)")->required();
  sub->callback([&ctx, &action, args] { action = [&ctx, args] { return run_detect(ctx, *args); }; });
}

}  // namespace ia::cli
