// `generate`: text generation with a decoder model folder.
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "core/weight_prepack.h"
#include "router/result_json.h"

namespace ia::cli {

namespace {

struct GenerateArgs {
  std::string model, prompt;
  ipfs_accelerate::GenerateOptions options;
  bool json = false, stream = false;
};

int run_generate(Context& ctx, const GenerateArgs& a) {
  // One prompt, once: reordered weight copies would cost more than they save (and double the
  // resident weights); chat and embed keep them (core/weight_prepack.h).
  ia::set_weight_prepack(false);
  ipfs_accelerate::GenerateOptions o = a.options;
  if (a.stream) {
    // Plain text as it comes, or one JSON line per delta before the final object.
    o.on_text = [&a](const std::string& delta) {
      if (a.json) {
        std::cout << json_text(nlohmann::json{{"delta", delta}}) << "\n";
      } else {
        std::cout << delta;
      }
      std::cout.flush();
    };
  }
  ipfs_accelerate::GenerateResult r = ctx.accelerator().generate(a.model, a.prompt, o);
  if (!a.json) {
    if (!a.stream) std::cout << r.text;
    std::cout << "\n";
  } else {
    std::cout << json_text(router::generate_result_json(r, /*with_logprobs=*/a.options.logprobs >= 0)) << "\n";
  }
  std::cout.flush();
  if (!ctx.quiet) std::cerr << speed_summary(r) << "\n";
  return 0;
}

}  // namespace

void register_generate(CLI::App& app, Context& ctx, Action& action) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* sub = app.add_subcommand(
      "generate", "Generate text with a decoder (GPT-2, LLaMA, Qwen2/3, Mistral) or encoder-decoder (T5) model folder");
  sub->add_option("-m,--model", a->model, "Hugging Face model folder")->required();
  sub->add_option("-p,--prompt", a->prompt, "Prompt text (tokenized as tokenizer.encode(prompt))")->required();
  add_generation_flags(sub, a->options, "Stop when the text contains STR (repeatable); the text ends before it");
  sub->add_option("--logprobs", a->options.logprobs,
                  "Log-probabilities of the sampled token and the N most likely (0..20)");
  sub->add_flag("--ignore-eos", a->options.ignore_eos, "Do not stop at the end-of-sequence token");
  sub->add_flag("--truncate", a->options.truncate,
                "Keep the end of a prompt longer than the context instead of failing");
  sub->add_option("--num-beams", a->options.num_beams,
                  "Beam search with N beams (greedy; default: generation_config.json, else 1 = no beam search)");
  sub->add_option("--length-penalty", a->options.length_penalty,
                  "Beam search: hypotheses score sum logprob / length ^ F (default 1)");
  sub->add_option("--early-stopping", a->options.early_stopping,
                  "Beam search: true (stop at N finished hypotheses) | false (heuristic) | never")
      ->check(CLI::IsMember({"true", "false", "never"}));
  sub->add_flag("--json", a->json, "Print a JSON object (ids, text, finish_reason, usage, timings)");
  sub->add_flag("--stream", a->stream, "Print text as it is generated");
  sub->callback([&ctx, &action, a] { action = [&ctx, a] { return run_generate(ctx, *a); }; });
}

}  // namespace ia::cli
