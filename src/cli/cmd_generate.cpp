// `generate`: text generation with a decoder model folder.
#include <chrono>
#include <iostream>

#include <fmt/format.h>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "core/weight_prepack.h"
#include "router/deployment_router.h"
#include "router/result_json.h"

namespace ia::cli {

namespace {

struct GenerateArgs {
  std::string model, prompt;
  std::string provider, providers_file;  // a remote provider (or a routed name) instead of a local folder
  ipfs_accelerate::GenerateOptions options;
  bool json = false, stream = false;
};

// Through a remote provider (--provider) or the router (--providers FILE with a routed model
// name): the prompt goes as one user message of the chat API, which every hosted model has.
int run_remote_generate(Context& ctx, const GenerateArgs& a) {
  std::unique_ptr<router::Router> r = open_router(a.provider, a.providers_file);
  providers::ChatCall call;
  call.model = a.model;
  call.messages = {{"user", a.prompt}};
  call.params.max_tokens = a.options.max_new_tokens;
  call.params.temperature = a.options.temperature;
  call.params.top_p = a.options.top_p;
  call.params.stop = a.options.stop;
  if (a.options.seed) call.params.seed = static_cast<int64_t>(*a.options.seed);
  providers::OnText on_text;
  if (a.stream)
    on_text = [&a](std::string_view delta) {
      if (a.json)
        std::cout << json_text(nlohmann::json{{"delta", std::string(delta)}}) << "\n";
      else
        std::cout << delta;
      std::cout.flush();
      return true;
    };
  const auto t0 = std::chrono::steady_clock::now();
  providers::TextResult result;
  std::string answered_by;
  if (!a.provider.empty()) {
    result = r->provider(a.provider).chat(call, on_text);
    answered_by = a.provider + "/" + a.model;
  } else {
    result = r->chat(a.model, call, on_text, providers::Priority::Normal, nullptr, &answered_by);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!a.json) {
    if (!a.stream) std::cout << result.text;
    std::cout << "\n";
  } else {
    std::cout << json_text(nlohmann::json{{"text", result.text},
                                          {"finish_reason", result.finish_reason},
                                          {"model", result.model},
                                          {"deployment", answered_by},
                                          {"usage",
                                           {{"prompt_tokens", result.usage.input_tokens},
                                            {"completion_tokens", result.usage.output_tokens}}},
                                          {"seconds", seconds}})
              << "\n";
  }
  std::cout.flush();
  if (!ctx.quiet)
    std::cerr << fmt::format("{}: {} prompt tokens, {} generated in {:.2f} s", answered_by, result.usage.input_tokens,
                             result.usage.output_tokens, seconds)
              << "\n";
  return 0;
}

int run_generate(Context& ctx, const GenerateArgs& a) {
  if (!a.provider.empty() || !a.providers_file.empty()) return run_remote_generate(ctx, a);
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
      "generate",
      "Generate text with a decoder (GPT-2, LLaMA, Qwen2/3, Mistral), encoder-decoder (T5) or vision-language "
      "(LLaVA, LLaVA-NeXT) model folder");
  sub->add_option("-m,--model", a->model,
                  "Hugging Face model folder (with --provider: the provider's model id; with --providers: a routed "
                  "name)")
      ->required();
  sub->add_option("--provider", a->provider,
                  "Generate with a remote provider: a type configured from its environment variables (openai, "
                  "anthropic, groq, ollama, gemini, vllm, ovms, tgi, opea) or a name in --providers FILE");
  sub->add_option("--providers", a->providers_file, "Router configuration (JSON, docs/providers.md)");
  sub->add_option("-p,--prompt", a->prompt, "Prompt text (tokenized as tokenizer.encode(prompt))")->required();
  sub->add_option("--image", a->options.images,
                  "Image file for a vision-language model (repeatable; PNG, JPEG, WebP, GIF, BMP): one per <image> "
                  "in the prompt, in order, or all at its start when it has none");
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
