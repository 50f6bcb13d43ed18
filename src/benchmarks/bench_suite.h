#pragma once
// The suites `bench --suite` takes, by name: a registry of definitions, each saying what its
// --seq-len means and how to load what it times; a loaded suite plans its cases (the request's
// sizes, else its defaults for the model) and times each. The built-in suites
// (benchmark_runner.cpp) are there from the start. A layer above this one adds its own with
// register_suite before the command line is parsed: the server's load suite
// (server/server_load_suite.h) starts the HTTP server, which depends on this layer, so this layer
// cannot call it (as the router cannot read the results database its MeasuredPlacement comes
// from, router/model_placement.h).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "benchmarks/bench_result.h"
#include "benchmarks/benchmark_runner.h"
#include "benchmarks/work_estimate.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/quantization.h"
#include "models/model_registry.h"

namespace ia::benchmarks {

// What a suite is given: the request and the model it resolved to. Lives as long as the run.
struct SuiteContext {
  const BenchRequest& request;
  std::string dir;  // the model's folder
  Device device;
  DType dtype = DType::F32;
  WeightQuantization quantization;    // --quantize (disabled: the checkpoint's own weights)
  DType kv_cache_dtype = DType::F32;  // --kv-cache-dtype
  ModelKind kind;                     // family and task, from the model registry
  ModelShape shape;                   // parameters and layers (work_estimate.h)
};

// A suite with its model loaded (or its server started): plans and times the cases. Destroyed
// before the ceilings are measured again, so nothing of it runs beside them.
class LoadedSuite {
 public:
  virtual ~LoadedSuite() = default;
  // The cases to run, in order: the request's sizes, else the suite's defaults for this model.
  // InvalidArgument for sizes the model cannot take.
  virtual std::vector<BenchCase> plan() const = 0;
  // Times one case (repeat_case), filling row.measurement. row.params holds the case; the suite
  // corrects what it records where that differs (no new tokens for a CTC model).
  virtual void run(const BenchCase& c, BenchResult& row) = 0;
};

struct SuiteDefinition {
  std::string name;
  // What --seq-len means to the suite, in messages ("audio seconds"), and its bound.
  std::string seq_len_meaning = "sequence length";
  int64_t max_seq_len = int64_t{1} << 20;
  // Sized by BenchRequest::concurrency (its rows' batch) rather than by batch sizes.
  bool by_concurrency = false;
  // Loads its model with SuiteContext::quantization and kv_cache_dtype; a request that sets them
  // for any other suite is refused, not run without them.
  bool takes_quantization = false;
  // Checks that the model is one the suite runs (InvalidArgument or Unsupported naming it
  // otherwise) and loads it.
  std::function<std::unique_ptr<LoadedSuite>(const SuiteContext&)> load;
};

// Adds `suite` to those `bench --suite` takes, after the built-in ones; one of the same name is
// replaced. Call it at start-up, before suite_names() is read for a command line's choices.
void register_suite(SuiteDefinition suite);

// Runs `body` request.warmup times untimed (rep < 0), then request.repetitions times (rep 0, 1,
// ...), and returns their spread; body returns the milliseconds of one repetition (its inputs
// made before its own timer started).
Measurement repeat_case(const BenchRequest& request, const std::function<double(int rep)>& body);

// The request's sizes when it gives them, else the suite's defaults: `small` for a model under
// 100M parameters (so that a tiny model's run takes seconds), `large` otherwise.
std::vector<int64_t> sizes_or_defaults(const std::vector<int64_t>& given, const SuiteContext& ctx,
                                       std::vector<int64_t> small, std::vector<int64_t> large);

}  // namespace ia::benchmarks
