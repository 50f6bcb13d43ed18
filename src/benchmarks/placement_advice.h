#pragma once
// Placement from measured data: which device (and dtype) a model runs fastest on, from the
// benchmark results of this machine, for `--device auto` and `hardware --recommend`.
//
// The evidence, in order of preference: results of this very model (same folder or name), else of
// models of the same family within a factor of 2 in parameters. Devices are compared on the cases
// every one of them ran (same suite and sizes; the geometric mean of their throughput ratios), and
// only devices usable now count; a candidate is a device and dtype, so with the dtype left open the
// faster dtype is recommended too. Without two candidates to compare, the rule decides: the GPU with
// the most free memory whose share holds the weights, else the CPU.
#include <optional>
#include <string>
#include <vector>

#include "benchmarks/bench_result.h"
#include "core/device.h"
#include "core/dtype.h"

namespace ia::benchmarks {

struct PlacementTarget {
  std::string name, path, family;
  int64_t parameters = 0;
  std::string dtype;  // "" : any dtype may be recommended; else only results in this one count
};

struct PlacementCandidate {
  std::string device, dtype;
  double relative = 0;  // geometric mean of throughput over the best candidate's, on shared cases (1 = best)
  size_t cases = 0;     // cases compared
  std::string example;  // one case with its throughput, as the explanation quotes it
};

struct PlacementAdvice {
  std::optional<std::string> device, dtype;    // nullopt: the measurements do not decide
  std::string evidence;                        // "this model", "llama models of similar size", ""
  std::vector<PlacementCandidate> candidates;  // best first
  std::string reason;                          // one sentence with the numbers
};

// `stored`: results of this machine (the caller filters by fingerprint); `usable`: the devices this
// process can run on now ("cpu", "cuda:0", ...).
PlacementAdvice advise_placement(const std::vector<BenchResult>& stored, const PlacementTarget& target,
                                 const std::vector<std::string>& usable);

// The devices this process can run on now: "cpu" and every CUDA device with a backend.
std::vector<std::string> usable_devices();

// advise_placement over the results database at `db` (nothing when it does not exist yet), for the
// model folder `dir` in `dtype` ("" : any). Reads the folder's config and weight headers.
PlacementAdvice advise_from_database(const std::string& db, const std::string& name, const std::string& dir,
                                     const std::string& dtype);

// The router's measured placement (router/model_placement.h) over the database at `db`.
void install_measured_placement(const std::string& db);

}  // namespace ia::benchmarks
