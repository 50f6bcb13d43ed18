// `hardware`: the capability report (CPU, ISA, memory, CUDA devices); with --recommend --model M,
// the device (and dtype) `--device auto` picks for that model and why, from the benchmark
// database's measurements of this machine where it has them, else from the rule.
#include <iostream>

#include "benchmarks/placement_advice.h"
#include "benchmarks/results_store.h"
#include "cli/cli_common.h"
#include "router/model_placement.h"

namespace ia::cli {

namespace {

struct RecommendArgs {
  bool recommend = false;
  std::string model, dtype = "auto", db;
};

int run_recommend(const RecommendArgs& a) {
  const std::string dir = router::resolve_model_dir(a.model);
  const std::string db = a.db.empty() ? benchmarks::default_results_location() : a.db;
  const benchmarks::PlacementAdvice advice =
      benchmarks::advise_from_database(db, a.model, dir, a.dtype == "auto" ? "" : a.dtype);
  nlohmann::ordered_json out;
  out["model"] = a.model;
  out["path"] = dir;
  if (advice.device) {
    out["device"] = *advice.device;
    out["dtype"] = *advice.dtype;
    out["source"] = "measurements";
  } else {
    std::vector<std::string> warnings;
    const DType dtype = router::resolve_compute_dtype(a.dtype, dir, warnings);
    const Device device = router::rule_placement_device(dir, dtype);
    out["device"] = device.str();
    out["dtype"] = dtype_name(dtype);
    out["source"] = "rule";
  }
  out["reason"] = advice.device ? advice.reason
                                : advice.reason +
                                      "; by the rule: the GPU with the most free memory whose share "
                                      "(--gpu-memory-fraction) holds the weights, else the CPU";
  nlohmann::ordered_json candidates = nlohmann::ordered_json::array();
  for (const auto& c : advice.candidates)
    candidates.push_back({{"device", c.device},
                          {"dtype", c.dtype},
                          {"relative_throughput", c.relative},
                          {"cases", c.cases},
                          {"example", c.example}});
  out["candidates"] = candidates;
  out["database"] = benchmarks::printable_location(db);
  std::cout << json_text(out.dump()) << "\n";
  return 0;
}

}  // namespace

void register_hardware(CLI::App& app, Context& ctx, Action& action) {
  auto args = std::make_shared<RecommendArgs>();
  CLI::App* sub = app.add_subcommand("hardware", "CPU model, cores, ISA flags, memory and CUDA devices");
  sub->add_flag("--recommend", args->recommend,
                "With --model: the device and dtype `--device auto` picks for it, and why (benchmark results of this "
                "machine, else the rule)");
  CLI::Option* model = sub->add_option("-m,--model", args->model, "Model folder, CID or name (with --recommend)");
  sub->add_option("--dtype", args->dtype, "auto | f32 | bf16: recommend a device for this dtype (with --recommend)")
      ->check(CLI::IsMember({"auto", "f32", "bf16"}))
      ->capture_default_str();
  sub->add_option(
      "--db", args->db,
      "Results database: a SQLite file or a postgresql:// URL (default: $IPFS_ACCELERATE_HOME/benchmarks.sqlite)");
  sub->callback([&action, args, model] {
    if (args->recommend && model->count() == 0) throw CLI::RequiredError("--model (with --recommend)");
    if (!args->recommend && model->count() > 0) throw CLI::ValidationError("--model", "needs --recommend");
    action = [args] {
      if (args->recommend) return run_recommend(*args);
      std::cout << json_text(ipfs_accelerate::Accelerator::hardware_json()) << "\n";
      return 0;
    };
  });
}

}  // namespace ia::cli
