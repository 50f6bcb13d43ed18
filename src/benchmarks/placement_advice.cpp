#include "benchmarks/placement_advice.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "backends/backend.h"
#include "benchmarks/result_queries.h"
#include "benchmarks/results_store.h"
#include "benchmarks/run_environment.h"
#include "benchmarks/work_estimate.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/model_registry.h"
#include "router/model_placement.h"
#include "runtime/hardware.h"

namespace ia::benchmarks {

namespace {

bool same_model(const BenchResult& r, const PlacementTarget& t) {
  return (!t.path.empty() && r.model.path == t.path) || (!t.name.empty() && r.model.name == t.name);
}

bool similar_model(const BenchResult& r, const PlacementTarget& t) {
  if (r.model.family != t.family || t.parameters <= 0 || r.model.parameters <= 0) return false;
  const double ratio = static_cast<double>(r.model.parameters) / static_cast<double>(t.parameters);
  return ratio >= 0.5 && ratio <= 2.0;
}

// The case a result measured, without where it ran.
std::string shape_key(const BenchResult& r) {
  return fmt::format("{}|{}|{}|{}|{}", r.model.name, r.params.suite, r.params.batch, r.params.seq_len,
                     r.params.new_tokens);
}

}  // namespace

PlacementAdvice advise_placement(const std::vector<BenchResult>& stored, const PlacementTarget& target,
                                 const std::vector<std::string>& usable) {
  PlacementAdvice advice;
  std::vector<BenchResult> evidence;
  for (const char* kind : {"this model", "similar"}) {
    for (const auto& r : stored) {
      const bool match = std::string(kind) == "this model" ? same_model(r, target) : similar_model(r, target);
      const bool usable_now = std::find(usable.begin(), usable.end(), r.params.device) != usable.end();
      // A server's throughput with failed requests measured something else: not evidence.
      if (match && usable_now && r.measurement.errors == 0 && (target.dtype.empty() || r.model.dtype == target.dtype))
        evidence.push_back(r);
    }
    if (!evidence.empty()) {
      advice.evidence =
          std::string(kind) == "this model" ? "this model" : fmt::format("{} models of similar size", target.family);
      break;
    }
  }
  evidence = latest_results(evidence);
  // throughput[case][device|dtype]
  std::map<std::string, std::map<std::string, const BenchResult*>> by_case;
  std::set<std::string> candidates;
  for (const auto& r : evidence) {
    const std::string who = r.params.device + "|" + r.model.dtype;
    by_case[shape_key(r)][who] = &r;
    candidates.insert(who);
  }
  if (candidates.empty()) {
    advice.reason = fmt::format("no benchmark results of this model or of {} models of similar size on this machine",
                                target.family.empty() ? "its family's" : target.family);
    return advice;
  }
  // Cases every candidate ran; without one, the cases of the most measured pair are compared.
  std::map<std::string, double> log_sum;
  std::map<std::string, size_t> counted;
  std::map<std::string, std::string> example;
  for (const auto& [shape, on] : by_case) {
    if (on.size() != candidates.size()) continue;
    double best = 0;
    for (const auto& [who, r] : on) best = std::max(best, r->measurement.throughput);
    if (best <= 0) continue;
    for (const auto& [who, r] : on) {
      log_sum[who] += std::log(std::max(r->measurement.throughput, 1e-12) / best);
      ++counted[who];
      if (example[who].empty())
        example[who] = fmt::format("{} {:.1f} {}/s", case_label(*r), r->measurement.throughput, r->measurement.unit);
    }
  }
  for (const auto& who : candidates) {
    PlacementCandidate c;
    c.device = who.substr(0, who.find('|'));
    c.dtype = who.substr(who.find('|') + 1);
    c.cases = counted[who];
    c.relative = c.cases ? std::exp(log_sum[who] / static_cast<double>(c.cases)) : 0;
    c.example = example[who];
    advice.candidates.push_back(c);
  }
  std::sort(advice.candidates.begin(), advice.candidates.end(),
            [](const auto& a, const auto& b) { return a.relative > b.relative; });
  if (advice.candidates.size() < 2 || advice.candidates.front().cases == 0) {
    std::vector<std::string> names;
    for (const auto& c : advice.candidates) names.push_back(c.device + " " + c.dtype);
    advice.reason =
        fmt::format("the results of {} cover {} only, or no case ran on every candidate: nothing to compare",
                    advice.evidence, fmt::join(names, ", "));
    return advice;
  }
  const PlacementCandidate& best = advice.candidates.front();
  advice.device = best.device;
  advice.dtype = best.dtype;
  std::string others;
  for (size_t i = 1; i < advice.candidates.size(); ++i) {
    const auto& c = advice.candidates[i];
    others += fmt::format("{}{} {} at {:.2f}x its speed ({})", others.empty() ? "" : "; ", c.device, c.dtype,
                          c.relative, c.example);
  }
  advice.reason = fmt::format("measured on this machine ({}, {} shared cases): {} {} is fastest ({}); {}",
                              advice.evidence, best.cases, best.device, best.dtype, best.example, others);
  return advice;
}

std::vector<std::string> usable_devices() {
  std::vector<std::string> out{"cpu"};
  for (const auto& d : cuda_devices())
    if (has_backend(Device::cuda(d.index))) out.push_back(Device::cuda(d.index).str());
  return out;
}

PlacementAdvice advise_from_database(const std::string& db, const std::string& name, const std::string& dir,
                                     const std::string& dtype) {
  PlacementTarget t;
  t.name = name;
  t.path = dir;
  t.dtype = dtype;
  const HfConfig config = HfConfig::load(dir);
  t.family = classify_model(config.json(), config.path()).family;
  t.parameters = model_shape(config, *WeightStore::open(dir)).parameters;
  if (!results_store_may_exist(db)) return advise_placement({}, t, usable_devices());
  const std::string fingerprint = this_machine().fingerprint();
  std::vector<BenchResult> mine;
  ResultFilter family;
  family.family = t.family;
  for (auto& r : open_results_store(db)->select(family))
    if (r.machine.fingerprint() == fingerprint) mine.push_back(std::move(r));
  return advise_placement(mine, t, usable_devices());
}

void install_measured_placement(const std::string& db) {
  router::set_measured_placement([db](const std::string& dir, DType dtype) -> std::optional<Device> {
    if (!results_store_may_exist(db)) return std::nullopt;  // no measurements yet: nothing to read
    const PlacementAdvice advice = advise_from_database(db, dir, dir, dtype_name(dtype));
    if (!advice.device) return std::nullopt;
    if (*advice.device == "cpu") return Device::cpu();
    return Device::cuda(std::stoi(advice.device->substr(advice.device->find(':') + 1)));
  });
}

}  // namespace ia::benchmarks
