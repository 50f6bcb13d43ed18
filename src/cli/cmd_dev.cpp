// `dev`: developer tools. `dev random-model` writes a loadable model folder
// (config.json, model.safetensors, tokenizer.json, generation_config.json)
// with random weights, shaped like a real checkpoint, so benchmarks and tests
// need no download.
#include <cstdint>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "core/error.h"
#include "models/decoder_random.h"

namespace ia::cli {

namespace {

using Json = nlohmann::json;

struct RandomModelArgs {
  std::string like, dtype = "bf16", out;
  int layers = 0;  // 0: as the preset
  uint64_t seed = 0;
};

int run_random_model(const RandomModelArgs& a) {
  DType dt;
  if (a.dtype == "bf16")
    dt = DType::BF16;
  else if (a.dtype == "f32")
    dt = DType::F32;
  else
    throw ipfs_accelerate::Error("invalid_argument", "--dtype must be f32 or bf16, got \"" + a.dtype + "\"");
  RandomDecoderInfo info = write_random_decoder(random_decoder_preset(a.like), dt, a.out, a.seed, a.layers);
  std::cout << json_text(Json{{"out", a.out},
                              {"model_type", info.model_type},
                              {"parameters", info.parameters},
                              {"dtype", a.dtype}})
            << "\n";
  return 0;
}

}  // namespace

void register_dev(CLI::App& app, Context& ctx, Action& action) {
  CLI::App* dev = app.add_subcommand("dev", "Developer tools");
  dev->require_subcommand(1);
  auto a = std::make_shared<RandomModelArgs>();
  CLI::App* rm = dev->add_subcommand("random-model", "Write a random-weight decoder model folder (for benchmarks)");
  rm->add_option("--like", a->like, "CONFIG.json | llama-1b | qwen2-0.5b | gpt2")->required();
  rm->add_option("--dtype", a->dtype, "Weight dtype: bf16 | f32")->capture_default_str();
  rm->add_option("--out", a->out, "Output folder")->required();
  rm->add_option("--layers", a->layers, "Override the number of layers (smaller test models)")
      ->check(CLI::NonNegativeNumber);
  rm->add_option("--seed", a->seed, "Weight seed")->capture_default_str();
  rm->callback([&action, a] { action = [a] { return run_random_model(*a); }; });
}

}  // namespace ia::cli
