// `eval --kl-divergence`: how far a model's next-token distributions are from a base model's
// over a text (a quantized model against the unquantized one: docs/quantization.md), as
// `llama-perplexity --kl-divergence` reports it. Prints one JSON object.
#include <algorithm>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "core/error.h"
#include "core/quantization.h"
#include "formats/hf_config.h"
#include "models/model_registry.h"
#include "router/model_placement.h"
#include "runtime/generation.h"
#include "runtime/next_token_comparison.h"

namespace ia::cli {

void register_eval(CLI::App& app, Context& ctx, Action& action) {
  struct Args {
    std::string model, base, text, device = "auto", dtype = "auto", quantize;
    bool kl_divergence = false;
    int64_t window = 512, max_tokens = 0;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "eval", "Compare a model's next-token distributions with a base model's over a text (KL divergence, top-1)");
  sub->add_option("-m,--model", a->model, "Decoder model folder, CID, registered name or HF id")->required();
  sub->add_flag("--kl-divergence", a->kl_divergence, "KL divergence and top-1 agreement against --base (required)");
  sub->add_option("--base", a->base, "The reference model (default: --model without --quantize)");
  sub->add_option("--text", a->text, "Text file (- for standard input)")->required();
  sub->add_option("--quantize", a->quantize,
                  "Pack --model's weights at load: int8 | q4 | q4_128 | q4z | q4z_128 (docs/quantization.md)");
  sub->add_option("--window", a->window, "Tokens per forward pass; each window starts a fresh sequence")
      ->capture_default_str();
  sub->add_option("--max-tokens", a->max_tokens, "Evaluate at most this many tokens of the text (0: all)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--device", a->device, "auto | cpu")->capture_default_str();
  sub->add_option("--dtype", a->dtype, "auto | f32 | bf16 (both models)")->capture_default_str();
  sub->callback([&ctx, &action, a] {
    action = [&ctx, a] {
      (void)ctx;
      if (!a->kl_divergence)
        throw ipfs_accelerate::Error("invalid_argument", "eval: give --kl-divergence (the one measure so far)");
      const WeightQuantization quant = weight_quantization(a->quantize);
      const std::string dir = router::resolve_model_dir(a->model);
      const std::string base_dir = a->base.empty() ? dir : router::resolve_model_dir(a->base);
      if (base_dir == dir && !quant.enabled())
        throw ipfs_accelerate::Error("invalid_argument",
                                     "eval: --model is its own base; give --quantize or another --base");
      for (const std::string& d : {dir, base_dir}) {
        const HfConfig config = HfConfig::load(d);
        require_causal_lm(classify_model(config.json(), config.path()), d);
      }
      const std::string text = read_input_text(a->text, "--text");
      std::vector<std::string> warnings;
      const DType dtype = router::resolve_compute_dtype(a->dtype, dir, warnings);
      const Device device = router::placement_device(a->device, dir, dtype, quant);
      for (const auto& w : warnings) std::cerr << "ipfs-accelerate eval: " << w << "\n";
      const auto model = Generator::load(dir, device, dtype, quant);
      const auto base = Generator::load(base_dir, device, dtype);
      std::vector<int32_t> ids = model->tokenizer().encode(text).ids;
      if (a->max_tokens > 0 && static_cast<int64_t>(ids.size()) > a->max_tokens)
        ids.resize(static_cast<size_t>(a->max_tokens));
      const int64_t context = std::min(model->model().config().max_positions, base->model().config().max_positions);
      const NextTokenComparison r =
          compare_next_tokens(base->model(), model->model(), ids, std::min(a->window, context));
      nlohmann::ordered_json j;
      j["model"] = a->model;
      j["base"] = a->base.empty() ? a->model : a->base;
      j["quantize"] = quant.enabled() ? quant.method : "none";
      j["dtype"] = dtype_name(dtype);
      j["device"] = device.str();
      j["tokens"] = ids.size();
      j["positions"] = r.positions;
      j["windows"] = r.windows;
      j["kl_divergence"] = {{"mean", r.kl_mean}, {"median", r.kl_median}, {"p99", r.kl_p99}, {"max", r.kl_max}};
      j["top1_agreement"] = r.top1_agreement;
      j["perplexity"] = {{"base", r.base_perplexity}, {"model", r.perplexity}};
      std::cout << json_text(j.dump()) << "\n";
      return 0;
    };
  });
}

}  // namespace ia::cli
