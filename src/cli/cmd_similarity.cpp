// `similarity`: image-text similarity (CLIP) of images and texts, video-text similarity (X-CLIP,
// --video) or audio-text similarity (CLAP, --audio), with a model folder.
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
  std::vector<std::string> videos;
  std::vector<std::string> texts;
  std::vector<std::string> audios;  // --audio: CLAP
};

int run_similarity(Context& ctx, const SimilarityArgs& args) {
  if (!args.audios.empty()) {
    if (!args.images.empty() || !args.videos.empty())
      throw ipfs_accelerate::Error("invalid_argument", "give --image, --video or --audio files, one kind at a time");
    return run_audio_similarity({args.model, args.device, args.dtype, args.audios, args.texts});
  }
  ipfs_accelerate::VisionOptions opts;
  opts.device = args.device;
  opts.dtype = args.dtype;
  if (!args.videos.empty()) {
    std::vector<ipfs_accelerate::VideoInput> videos;
    for (const auto& p : args.videos) videos.push_back(ipfs_accelerate::VideoInput::file(p));
    ipfs_accelerate::VideoSimilarityResult r = ctx.accelerator().video_similarity(args.model, videos, args.texts, opts);
    std::cout << json_text(router::video_similarity_result_json(r)) + "\n";
    return 0;
  }
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
      "Image-text similarity with a CLIP model folder (logits_per_image, probs_per_image, text_embeds, image_embeds), "
      "video-text similarity with an X-CLIP folder (--video: logits_per_video, probs_per_video, per-video "
      "text_embeds, video_embeds) or audio-text similarity with a CLAP folder (--audio)");
  sub->add_option("-m,--model", args->model, "Hugging Face model folder")->required();
  sub->add_option("--device", args->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  sub->add_option("--dtype", args->dtype, "Compute dtype: auto (the checkpoint's) | f32 | bf16")->capture_default_str();
  CLI::Option* image =
      sub->add_option("-i,--image", args->images, "Image files (PNG, JPEG, WebP, GIF, BMP); repeat or list several");
  CLI::Option* video = sub->add_option(
      "--video", args->videos,
      "Video files (MP4/MOV, Matroska/WebM, AVI) or folders of frame images; the model's num_frames are sampled "
      "evenly from each; repeat or list several");
  CLI::Option* audio = sub->add_option("--audio", args->audios,
                                       "Audio files (WAV, FLAC, OGG, MP3) for a CLAP folder: logits_per_audio, "
                                       "probs_per_audio (zero-shot audio classification), logits_per_text, "
                                       "text_embeds, audio_embeds");
  image->excludes(video);
  audio->excludes(image);
  audio->excludes(video);
  sub->add_option("--text", args->texts, "Texts (candidate labels); repeat or list several")->required();
  sub->callback([&ctx, &action, args] {
    if (args->images.empty() && args->videos.empty() && args->audios.empty())
      throw CLI::RequiredError("--image, --video or --audio");  // a ParseError: one line, exit 2
    action = [&ctx, args] { return run_similarity(ctx, *args); };
  });
}

}  // namespace ia::cli
