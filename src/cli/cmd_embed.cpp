// `embed`: text embeddings from a model folder.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "cli/audio_text_calls.h"
#include "cli/cli_common.h"
#include "router/result_json.h"

namespace ia::cli {

namespace {

struct EmbedArgs {
  std::string model;
  std::string device = "auto";
  std::string dtype = "auto";
  std::string quantize;
  std::string pooling;
  int batch_size = 32;
  int max_length = 0;
  std::string prompt_name;
  std::string prompt;
  bool has_prompt = false;
  bool no_truncate = false;
  bool normalize = false;
  bool no_normalize = false;
  bool jsonl = false;
  std::vector<std::string> texts;
  std::vector<std::string> images;  // --image: image embeddings (CLIP) instead of texts
  std::vector<std::string> audios;  // --audio: audio embeddings (CLAP) instead of texts
};

int run_embed_images(Context& ctx, const EmbedArgs& args) {
  if (!args.texts.empty()) throw ipfs_accelerate::Error("invalid_argument", "give --image files or texts, not both");
  if (!args.quantize.empty() && args.quantize != "none")
    throw ipfs_accelerate::Error("invalid_argument", "--quantize applies to text models, not to --image embeddings");
  ipfs_accelerate::ImageEmbedOptions opts;
  opts.device = args.device;
  opts.dtype = args.dtype;
  opts.normalize = !args.no_normalize;
  std::vector<ipfs_accelerate::ImageInput> images;
  for (const auto& p : args.images) images.push_back(ipfs_accelerate::ImageInput::file(p));
  ipfs_accelerate::ImageEmbedResult r = ctx.accelerator().embed_images(args.model, images, opts);
  std::cout << json_text(router::image_embed_result_json(r)) + "\n";
  return 0;
}

int run_embed(Context& ctx, const EmbedArgs& args) {
  if (!args.audios.empty()) {
    if (!args.images.empty()) throw ipfs_accelerate::Error("invalid_argument", "give --image or --audio, not both");
    AudioCallArgs a{args.model, args.device, args.dtype, args.audios, args.texts};
    a.normalize = !args.no_normalize;
    return run_embed_audio(a);
  }
  if (!args.images.empty()) return run_embed_images(ctx, args);
  if (!args.texts.empty() && is_clap_folder(args.model)) {  // CLAP's text tower (ClapModel's text_embeds)
    AudioCallArgs a{args.model, args.device, args.dtype, {}, args.texts};
    a.normalize = !args.no_normalize;
    return run_embed_clap_texts(a);
  }
  std::vector<std::string> texts = args.texts;
  if (texts.empty()) {  // one text per line on stdin
    if (isatty(STDIN_FILENO) && !ctx.quiet)
      std::cerr << "embed: reading texts from the terminal, one per line; end with Ctrl-D (or give TEXT arguments)\n";
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      texts.push_back(line);
    }
    if (texts.empty()) throw ipfs_accelerate::Error("invalid_argument", "no texts given (arguments or stdin)");
  }
  ipfs_accelerate::EmbedOptions opts;
  opts.device = args.device;
  opts.dtype = args.dtype;
  opts.quantize = args.quantize;
  if (!args.pooling.empty()) opts.pooling = args.pooling;
  if (args.normalize) opts.normalize = true;
  if (args.no_normalize) opts.normalize = false;
  opts.batch_size = args.batch_size;
  opts.truncate = !args.no_truncate;
  if (args.max_length > 0) opts.max_length = args.max_length;
  if (!args.prompt_name.empty()) opts.prompt_name = args.prompt_name;
  if (args.has_prompt) opts.prompt = args.prompt;
  ipfs_accelerate::EmbedResult r = ctx.accelerator().embed(args.model, texts, opts);
  if (args.jsonl) {
    std::string out;
    for (size_t i = 0; i < r.embeddings.size(); ++i) out += json_text(router::embed_line_json(r, i)) + "\n";
    std::cout << out;
  } else {
    std::cout << json_text(router::embed_result_json(r)) + "\n";
  }
  return 0;
}

}  // namespace

void register_embed(CLI::App& app, Context& ctx, Action& action) {
  auto args = std::make_shared<EmbedArgs>();
  CLI::App* sub =
      app.add_subcommand("embed",
                         "Embed texts (or, with --image, images: CLIP) with a model folder (one text per line on stdin "
                         "when no TEXT)");
  sub->add_option("-m,--model", args->model, "Hugging Face model folder")->required();
  sub->add_option("--device", args->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  sub->add_option("--dtype", args->dtype,
                  "Compute dtype: auto (the checkpoint's config.json dtype; float16 runs as bf16) | f32 | bf16")
      ->capture_default_str();
  sub->add_option("--quantize", args->quantize,
                  "Pack weights at load: int8 | q4 | q4_128 | q4z | q4z_128 | none (CPU; docs/quantization.md)");
  sub->add_option("--pooling", args->pooling,
                  "cls | mean | max | mean_sqrt_len | lasttoken (default: the model folder's)")
      ->check(CLI::IsMember({"cls", "mean", "max", "mean_sqrt_len", "lasttoken"}));
  sub->add_flag("--normalize", args->normalize, "L2-normalize the embeddings");
  sub->add_flag("--no-normalize", args->no_normalize, "Do not L2-normalize, whatever the model folder says");
  sub->add_option("--batch-size", args->batch_size, "Texts per forward pass")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--max-length", args->max_length,
                  "Tokens per text, special tokens included (default: the folder's max_seq_length, else the "
                  "model's limit)")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--no-truncate", args->no_truncate, "Refuse texts longer than the limit instead of truncating");
  CLI::Option* name =
      sub->add_option("--prompt-name", args->prompt_name,
                      "A prompt of the folder's config_sentence_transformers.json, put before each text");
  CLI::Option* prompt =
      sub->add_option("--prompt", args->prompt, "Text put before each text (\"\" for none, over a default prompt)");
  name->excludes(prompt);
  sub->add_flag("--jsonl", args->jsonl,
                "One JSON object per text, in input order: {\"index\",\"tokens\",\"truncated\"?,\"embedding\"}");
  sub->add_option("text", args->texts, "Texts to embed");
  sub->add_option("-i,--image", args->images,
                  "Image files to embed instead of texts (CLIP folders; normalized unless --no-normalize)");
  sub->add_option("--audio", args->audios,
                  "Audio files (WAV, FLAC, OGG, MP3) to embed instead of texts (CLAP folders; normalized unless "
                  "--no-normalize)");
  sub->callback([&ctx, &action, args, prompt] {
    args->has_prompt = prompt->count() > 0;
    action = [&ctx, args] { return run_embed(ctx, *args); };
  });
}

}  // namespace ia::cli
