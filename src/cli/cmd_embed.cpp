// `embed`: text embeddings from a model folder.
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "router/result_json.h"

namespace ia::cli {

namespace {

struct EmbedArgs {
  std::string model;
  std::string device = "auto";
  std::string dtype = "auto";
  std::string pooling;
  int batch_size = 32;
  bool no_truncate = false;
  bool normalize = false;
  bool no_normalize = false;
  std::vector<std::string> texts;
};

int run_embed(Context& ctx, const EmbedArgs& args) {
  std::vector<std::string> texts = args.texts;
  if (texts.empty()) {  // one text per line on stdin
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
  if (!args.pooling.empty()) opts.pooling = args.pooling;
  if (args.normalize) opts.normalize = true;
  if (args.no_normalize) opts.normalize = false;
  opts.batch_size = args.batch_size;
  opts.truncate = !args.no_truncate;
  ipfs_accelerate::EmbedResult r = ctx.accelerator().embed(args.model, texts, opts);
  std::cout << json_text(router::embed_result_json(r)) + "\n";
  return 0;
}

}  // namespace

void register_embed(CLI::App& app, Context& ctx, Action& action) {
  auto args = std::make_shared<EmbedArgs>();
  CLI::App* sub =
      app.add_subcommand("embed", "Embed texts with a model folder (one text per line on stdin when no TEXT)");
  sub->add_option("-m,--model", args->model, "Hugging Face model folder")->required();
  sub->add_option("--device", args->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  sub->add_option("--dtype", args->dtype,
                  "Compute dtype: auto (the checkpoint's config.json dtype; float16 runs as bf16) | f32 | bf16")
      ->capture_default_str();
  sub->add_option("--pooling", args->pooling,
                  "cls | mean | max | mean_sqrt_len | lasttoken (default: the model folder's)")
      ->check(CLI::IsMember({"cls", "mean", "max", "mean_sqrt_len"}));
  sub->add_flag("--normalize", args->normalize, "L2-normalize the embeddings");
  sub->add_flag("--no-normalize", args->no_normalize, "Do not L2-normalize, whatever the model folder says");
  sub->add_option("--batch-size", args->batch_size, "Texts per forward pass")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_flag("--no-truncate", args->no_truncate, "Refuse texts longer than the model's limit instead of truncating");
  sub->add_option("text", args->texts, "Texts to embed");
  sub->callback([&ctx, &action, args] { action = [&ctx, args] { return run_embed(ctx, *args); }; });
}

}  // namespace ia::cli
