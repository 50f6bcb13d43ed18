// `classify`: image classification (ViT) of image files with a model folder.
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/cli_common.h"
#include "router/result_json.h"

namespace ia::cli {

namespace {

struct ClassifyArgs {
  std::string model;
  std::string device = "auto";
  std::string dtype = "auto";
  int top_k = 5;
  bool json = false;
  std::vector<std::string> images;
};

int run_classify(Context& ctx, const ClassifyArgs& args) {
  ipfs_accelerate::ClassifyOptions opts;
  opts.device = args.device;
  opts.dtype = args.dtype;
  opts.top_k = args.top_k;
  std::vector<ipfs_accelerate::ImageInput> images;
  for (const auto& p : args.images) images.push_back(ipfs_accelerate::ImageInput::file(p));
  ipfs_accelerate::ClassifyResult r = ctx.accelerator().classify(args.model, images, opts);
  std::string out;
  for (size_t i = 0; i < r.labels.size(); ++i) {
    if (args.json) {
      out += json_text(router::classify_result_json(r, i, args.images.size() > 1 ? args.images[i] : "")) + "\n";
      continue;
    }
    if (args.images.size() > 1) out += args.images[i] + ":\n";
    for (const auto& l : r.labels[i]) out += fmt::format("{:.4f}  {}\n", l.score, l.label);
  }
  std::cout << out;
  return 0;
}

}  // namespace

void register_classify(CLI::App& app, Context& ctx, Action& action) {
  auto args = std::make_shared<ClassifyArgs>();
  CLI::App* sub = app.add_subcommand(
      "classify", "Classify images with an image-classification model folder (ViT): the top labels and their scores");
  sub->add_option("-m,--model", args->model, "Hugging Face model folder")->required();
  sub->add_option("--device", args->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  sub->add_option("--dtype", args->dtype, "Compute dtype: auto (the checkpoint's) | f32 | bf16")->capture_default_str();
  sub->add_option("-k,--top-k", args->top_k, "Labels per image, highest score first")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_flag("--json", args->json,
                "One JSON object per image: {model, device, dtype, image?, labels: [{id, label, score}], timings, "
                "logits}");
  sub->add_option("image", args->images, "Image files (PNG, JPEG, WebP, GIF, BMP)")->required();
  sub->callback([&ctx, &action, args] { action = [&ctx, args] { return run_classify(ctx, *args); }; });
}

}  // namespace ia::cli
