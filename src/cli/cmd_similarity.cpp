// `similarity`: image-text similarity (CLIP) of images and texts, or audio-text similarity (CLAP,
// --audio) of audio files and texts, with a model folder.
#include <iostream>
#include <string>
#include <vector>

#include "cli/audio_text_calls.h"
#include "cli/cli_common.h"
#include "router/result_json.h"

namespace ia::cli {

namespace {

struct SimilarityArgs {
  std::string model;
  std::string device = "auto";
  std::string dtype = "auto";
  std::vector<std::string> images;
  std::vector<std::string> texts;
  std::vector<std::string> audios;  // --audio: CLAP
};

int run_similarity(Context& ctx, const SimilarityArgs& args) {
  if (!args.audios.empty()) {
    if (!args.images.empty()) throw ipfs_accelerate::Error("invalid_argument", "give --image or --audio, not both");
    return run_audio_similarity({args.model, args.device, args.dtype, args.audios, args.texts});
  }
  if (args.images.empty())
    throw ipfs_accelerate::Error("invalid_argument", "give --image files (CLIP) or --audio files (CLAP)");
  ipfs_accelerate::VisionOptions opts;
  opts.device = args.device;
  opts.dtype = args.dtype;
  std::vector<ipfs_accelerate::ImageInput> images;
  for (const auto& p : args.images) images.push_back(ipfs_accelerate::ImageInput::file(p));
  ipfs_accelerate::SimilarityResult r = ctx.accelerator().similarity(args.model, images, args.texts, opts);
  std::cout << json_text(router::similarity_result_json(r)) + "\n";
  return 0;
}

}  // namespace

void register_similarity(CLI::App& app, Context& ctx, Action& action) {
  auto args = std::make_shared<SimilarityArgs>();
  CLI::App* sub = app.add_subcommand(
      "similarity",
      "Image-text similarity with a CLIP model folder: logits_per_image (and each image's softmax over the texts, "
      "zero-shot labels), text_embeds, image_embeds; with --audio, audio-text similarity with a CLAP folder");
  sub->add_option("-m,--model", args->model, "Hugging Face model folder")->required();
  sub->add_option("--device", args->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  sub->add_option("--dtype", args->dtype, "Compute dtype: auto (the checkpoint's) | f32 | bf16")->capture_default_str();
  sub->add_option("-i,--image", args->images, "Image files (PNG, JPEG, WebP, GIF, BMP); repeat or list several");
  sub->add_option("--audio", args->audios,
                  "Audio files (WAV, FLAC, OGG, MP3) for a CLAP folder: logits_per_audio, probs_per_audio "
                  "(zero-shot audio classification), logits_per_text, text_embeds, audio_embeds");
  sub->add_option("--text", args->texts, "Texts (candidate labels); repeat or list several")->required();
  sub->callback([&ctx, &action, args] { action = [&ctx, args] { return run_similarity(ctx, *args); }; });
}

}  // namespace ia::cli
