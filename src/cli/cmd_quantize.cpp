// `quantize`: writes a model folder as a GPTQ checkpoint packed by one of `--quantize`'s methods
// (formats/gptq_export.h), or with --analyze compares the methods on this machine: bytes on disk
// and in memory, bits per weight, decode speed (modelled from the copy bandwidth measured in
// the same run, and measured over a few tokens) and accuracy against the unquantized model over
// a text (KL divergence and top-1 agreement, as `eval --kl-divergence`). docs/quantization.md.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "benchmarks/ceilings.h"
#include "cli/cli_common.h"
#include "core/error.h"
#include "core/quantization.h"
#include "formats/checkpoint_quantization.h"
#include "formats/gptq_export.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/model_registry.h"
#include "router/model_placement.h"
#include "runtime/generation.h"
#include "runtime/next_token_comparison.h"
#include "tokenizers/tokenizer.h"

namespace ia::cli {
namespace {

// A causal LM loaded on the CPU with `method`'s packing, and the layer matrices that packing
// took (what a GPTQ folder stores packed).
struct RecordedLoad {
  std::shared_ptr<WeightStore> store;
  std::shared_ptr<const CausalLM> model;
  std::vector<WeightStore::PackedLayer> layers;
};

RecordedLoad load_recording(const std::string& dir, const std::string& method, DType dtype) {
  const HfConfig config = HfConfig::load(dir);
  require_causal_lm(classify_model(config.json(), config.path()), dir);
  RecordedLoad r;
  r.store = WeightStore::open(dir);
  r.store->set_quantization(weight_quantization(method));
  r.store->record_packed_layers_to(&r.layers);
  try {
    r.model = load_causal_lm(config, *r.store, dtype, Device::cpu());
  } catch (...) {
    r.store->record_packed_layers_to(nullptr);
    throw;
  }
  r.store->record_packed_layers_to(nullptr);
  return r;
}

std::vector<std::string> split_methods(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  for (std::string m; std::getline(ss, m, ',');) {
    if (m.empty()) continue;
    (void)weight_quantization(m);  // InvalidArgument naming the choices
    out.push_back(m);
  }
  if (out.empty()) fail(ErrorKind::InvalidArgument, "--methods: give at least one method");
  return out;
}

// Decode tokens per second over `tokens` greedy tokens after a short prompt.
double measured_decode_rate(const std::shared_ptr<const CausalLM>& model, const std::shared_ptr<tok::Tokenizer>& tok,
                            const std::string& dir, const std::vector<int32_t>& ids, int64_t tokens) {
  if (tokens <= 0 || ids.empty()) return 0;
  Generator gen(model, tok, GenerationDefaults::load(dir, model->config()));
  std::vector<int32_t> prompt(ids.begin(), ids.begin() + std::min<std::ptrdiff_t>(8, std::ssize(ids)));
  GenerationRequest req;
  req.max_new_tokens = tokens;
  req.ignore_eos = true;
  req.temperature = 0.0f;
  GenerationStats stats;
  gen.generate_ids({prompt}, req, {}, &stats);
  return stats.decode_ms > 0 ? 1000.0 * static_cast<double>(stats.decode_tokens) / stats.decode_ms : 0;
}

}  // namespace

void register_quantize(CLI::App& app, Context& ctx, Action& action) {
  struct Args {
    std::string model, out, method, text, methods = "int8,q4,q4_128,q4z,q4z_128", dtype = "auto", format = "table";
    bool force = false, analyze = false;
    int64_t window = 512, max_tokens = 2048, decode_tokens = 16, bandwidth_mib = 256;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "quantize", "Write a model as a GPTQ checkpoint (--method, --out), or compare the methods (--analyze)");
  sub->add_option("-m,--model", a->model, "Decoder model folder, CID, registered name or HF id")->required();
  sub->add_option("--method", a->method, "int8 | q4 | q4_128 | q4z | q4z_128 (docs/quantization.md)");
  sub->add_option("--out", a->out, "The folder to write (a GPTQ checkpoint)");
  sub->add_flag("--force", a->force, "Replace --out when it exists and is not empty");
  sub->add_flag("--analyze", a->analyze, "Compare methods: size, bits per weight, decode speed, KL over --text");
  sub->add_option("--text", a->text, "--analyze: text file (- for standard input)");
  sub->add_option("--methods", a->methods, "--analyze: comma-separated methods")->capture_default_str();
  sub->add_option("--window", a->window, "--analyze: tokens per forward pass")->capture_default_str();
  sub->add_option("--max-tokens", a->max_tokens, "--analyze: evaluate at most this many tokens of the text (0: all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--decode-tokens", a->decode_tokens, "--analyze: tokens of measured decode per method (0: none)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--bandwidth-mib", a->bandwidth_mib, "--analyze: MiB per buffer of the copy-bandwidth measurement")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--dtype", a->dtype, "--analyze: compute dtype, auto | f32 | bf16")->capture_default_str();
  sub->add_option("--format", a->format, "--analyze: table | json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  sub->callback([&ctx, &action, a] {
    action = [&ctx, a] {
      (void)ctx;
      const std::string dir = router::resolve_model_dir(a->model);
      if (!a->analyze) {
        if (a->method.empty() || a->out.empty())
          fail(ErrorKind::InvalidArgument, "quantize: give --method and --out (or --analyze --text FILE)");
        if (!weight_quantization(a->method).enabled())
          fail(ErrorKind::InvalidArgument, "quantize: --method none writes nothing; give a method");
        if (const CheckpointQuantization* cq = WeightStore::open(dir)->checkpoint_quantization())
          fail(ErrorKind::InvalidArgument,
               "{}: is already quantized (quant_method {}); quantize a model with float weights", dir, cq->method);
        RecordedLoad r = load_recording(dir, a->method, DType::F32);
        r.model.reset();
        const GptqExportSummary s = write_gptq_folder(*r.store, r.layers, a->method, a->out, a->force);
        if (s.checkpoint_format != "gptq")
          std::cerr << "ipfs-accelerate quantize: a zero point of 0 cannot be stored in the \"gptq\" format; wrote "
                       "checkpoint_format \"gptq_v2\" (GPTQModel loads it; vLLM wants \"gptq\")\n";
        nlohmann::ordered_json j;
        j["model"] = a->model;
        j["out"] = a->out;
        j["method"] = s.method;
        j["quant_method"] = "gptq";
        j["bits"] = s.bits;
        j["group_size"] = s.group_size;
        j["checkpoint_format"] = s.checkpoint_format;
        j["packed_layers"] = s.packed.size();
        j["kept_layers"] = s.kept;
        j["bytes"] = s.bytes;
        std::cout << json_text(j.dump()) << "\n";
        return 0;
      }

      if (a->text.empty()) fail(ErrorKind::InvalidArgument, "quantize --analyze: give --text FILE");
      const std::vector<std::string> methods = split_methods(a->methods);
      const std::string text = read_input_text(a->text, "--text");
      std::vector<std::string> warnings;
      const DType dtype = router::resolve_compute_dtype(a->dtype, dir, warnings);
      for (const auto& w : warnings) std::cerr << "ipfs-accelerate quantize: " << w << "\n";

      benchmarks::CeilingOptions copt;
      copt.copy_bytes = static_cast<size_t>(a->bandwidth_mib) << 20;
      copt.min_seconds = 0.2;
      const benchmarks::Ceilings ceilings = benchmarks::measure_ceilings(Device::cpu(), {}, copt);

      const RecordedLoad base = load_recording(dir, "", dtype);
      auto tok = tok::Tokenizer::from_folder(dir);
      std::vector<int32_t> ids = tok->encode(text).ids;
      if (a->max_tokens > 0 && static_cast<int64_t>(ids.size()) > a->max_tokens)
        ids.resize(static_cast<size_t>(a->max_tokens));
      const int64_t window = std::min(a->window, base.model->config().max_positions);
      const double base_matrix_params =
          static_cast<double>(base.model->weight_bytes_per_token()) / static_cast<double>(dtype_size(dtype));
      const int64_t base_other_bytes =
          static_cast<int64_t>(base.store->total_bytes());  // as stored, the disk figure of "none"

      nlohmann::ordered_json rows = nlohmann::ordered_json::array();
      auto row = [&](const std::string& method, const RecordedLoad& m, const NextTokenComparison* cmp) {
        nlohmann::ordered_json r;
        const int64_t matrix_bytes = m.model->weight_bytes_per_token();
        r["method"] = method;
        r["disk_bytes"] = method == "none" ? base_other_bytes : gptq_tensor_bytes(*m.store, m.layers, method);
        r["matrix_bytes"] = matrix_bytes;
        r["memory_bytes"] =
            matrix_bytes + (weights_device_bytes(*base.store, dtype) - base.model->weight_bytes_per_token());
        r["bits_per_weight"] = 8.0 * static_cast<double>(matrix_bytes) / base_matrix_params;
        const double modelled = static_cast<double>(ceilings.copy_bytes_per_s) / static_cast<double>(matrix_bytes);
        r["modelled_decode_tok_s"] = modelled;
        r["measured_decode_tok_s"] = measured_decode_rate(m.model, tok, dir, ids, a->decode_tokens);
        if (cmp) {
          r["kl_mean"] = cmp->kl_mean;
          r["kl_p99"] = cmp->kl_p99;
          r["top1_agreement"] = cmp->top1_agreement;
          r["perplexity"] = cmp->perplexity;
        } else {
          r["kl_mean"] = 0.0;
          r["kl_p99"] = 0.0;
          r["top1_agreement"] = 1.0;
          r["perplexity"] = nullptr;
        }
        rows.push_back(r);
      };
      row("none", base, nullptr);
      for (const std::string& method : methods) {
        const RecordedLoad m = load_recording(dir, method, dtype);
        const NextTokenComparison cmp = compare_next_tokens(*base.model, *m.model, ids, window);
        row(method, m, &cmp);
      }

      nlohmann::ordered_json j;
      j["model"] = a->model;
      j["dtype"] = dtype_name(dtype);
      j["tokens"] = ids.size();
      j["copy_bytes_per_s"] = ceilings.copy_bytes_per_s;
      j["methods"] = rows;
      if (a->format == "json") {
        std::cout << json_text(j.dump()) << "\n";
        return 0;
      }
      std::cout << fmt::format("{} ({} tokens, dtype {}, copy bandwidth {:.1f} GB/s)\n", a->model, ids.size(),
                               dtype_name(dtype), ceilings.copy_bytes_per_s / 1e9);
      std::cout << fmt::format("{:<9} {:>12} {:>12} {:>12} {:>6} {:>12} {:>12} {:>10} {:>7}\n", "method", "disk MB",
                               "memory MB", "matrices MB", "bpw", "model tok/s", "meas. tok/s", "KL mean", "top-1");
      for (const auto& r : rows)
        std::cout << fmt::format(
            "{:<9} {:>12.3f} {:>12.3f} {:>12.3f} {:>6.2f} {:>12.1f} {:>12.1f} {:>10.5f} {:>7.3f}\n",
            r["method"].get<std::string>(), r["disk_bytes"].get<double>() / 1e6, r["memory_bytes"].get<double>() / 1e6,
            r["matrix_bytes"].get<double>() / 1e6, r["bits_per_weight"].get<double>(),
            r["modelled_decode_tok_s"].get<double>(), r["measured_decode_tok_s"].get<double>(),
            r["kl_mean"].get<double>(), r["top1_agreement"].get<double>());
      return 0;
    };
  });
}

}  // namespace ia::cli
