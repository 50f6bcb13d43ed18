#include "benchmarks/result_queries.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

namespace ia::benchmarks {

std::string case_key(const BenchResult& r) {
  return fmt::format("{}|{}|{}|{}|{}|{}|{}", r.model.name, r.model.dtype, r.model.quantization, r.params.suite,
                     r.params.batch, r.params.seq_len, r.params.new_tokens);
}

std::string machine_label(const BenchResult& r) {
  if (r.params.device.rfind("cuda", 0) == 0 && !r.machine.gpu_name.empty()) return r.machine.gpu_name;
  return r.machine.cpu_model;
}

std::string case_label(const BenchResult& r) {
  const CaseParams& p = r.params;
  if (p.suite == "embed") return fmt::format("embed b{} s{}", p.batch, p.seq_len);
  if (p.suite == "prefill") return fmt::format("prefill b{} p{}", p.batch, p.seq_len);
  if (p.suite == "decode" || p.suite == "seq2seq")
    return fmt::format("{} b{} p{} n{}", p.suite, p.batch, p.seq_len, p.new_tokens);
  if (p.suite == "transcription") return fmt::format("transcription {}s audio", p.seq_len);
  if (p.suite == "server-load")  // batch: the concurrency; an embedding model's requests generate nothing
    return p.new_tokens > 0 ? fmt::format("server-load c{} p{} n{}", p.batch, p.seq_len, p.new_tokens)
                            : fmt::format("server-load c{} s{}", p.batch, p.seq_len);
  return fmt::format("{} b{}", p.suite, p.batch);
}

std::vector<BenchResult> latest_results(const std::vector<BenchResult>& results) {
  std::map<std::string, size_t> newest;  // key -> index
  for (size_t i = 0; i < results.size(); ++i) {
    const BenchResult& r = results[i];
    const std::string key = case_key(r) + "|" + r.params.device + "|" + r.machine.fingerprint();
    auto it = newest.find(key);
    // Later in the list wins a tie: the store returns results in insertion order.
    if (it == newest.end() || results[it->second].started_at <= r.started_at) newest[key] = i;
  }
  std::vector<size_t> keep;
  for (const auto& [key, i] : newest) keep.push_back(i);
  std::sort(keep.begin(), keep.end());
  std::vector<BenchResult> out;
  for (size_t i : keep) out.push_back(results[i]);
  return out;
}

std::vector<DeviceComparison> compare_devices(const std::vector<BenchResult>& results) {
  const std::vector<BenchResult> latest = latest_results(results);
  std::vector<std::string> devices;
  for (const auto& r : latest) {
    const std::string d = r.params.device + " on " + machine_label(r);
    if (std::find(devices.begin(), devices.end(), d) == devices.end()) devices.push_back(d);
  }
  std::map<std::string, DeviceComparison> by_case;
  std::vector<std::string> order;
  for (const auto& r : latest) {
    const std::string key = case_key(r);
    auto [it, fresh] = by_case.try_emplace(key);
    DeviceComparison& c = it->second;
    if (fresh) {
      order.push_back(key);
      c.case_label = case_label(r);
      c.model = r.model.name + " " + r.model.dtype;
      c.devices = devices;
      c.throughput.assign(devices.size(), std::nullopt);
      c.unit = r.measurement.unit;
    }
    const std::string d = r.params.device + " on " + machine_label(r);
    const size_t k = static_cast<size_t>(std::find(devices.begin(), devices.end(), d) - devices.begin());
    c.throughput[k] = r.measurement.throughput;
  }
  std::vector<DeviceComparison> out;
  for (const auto& key : order) out.push_back(by_case[key]);
  return out;
}

std::vector<CommitComparison> compare_commits(const std::vector<BenchResult>& results, const std::string& base_commit,
                                              const std::string& head_commit, double threshold) {
  auto at = [&](const std::string& commit) {
    std::vector<BenchResult> of;
    for (const auto& r : results)
      if (!commit.empty() && r.build.commit.rfind(commit, 0) == 0) of.push_back(r);
    std::map<std::string, BenchResult> by_key;
    for (const auto& r : latest_results(of))
      by_key[case_key(r) + "|" + r.params.device + "|" + r.machine.fingerprint()] = r;
    return by_key;
  };
  const auto base = at(base_commit), head = at(head_commit);
  std::vector<CommitComparison> out;
  for (const auto& [key, h] : head) {
    auto b = base.find(key);
    if (b == base.end() || b->second.measurement.ms.median <= 0) continue;
    CommitComparison c;
    c.model = h.model.name + " " + h.model.dtype;
    c.case_label = case_label(h);
    c.device = h.params.device;
    c.machine = machine_label(h);
    c.base_ms = b->second.measurement.ms.median;
    c.head_ms = h.measurement.ms.median;
    c.change = c.head_ms / c.base_ms - 1;
    c.regression = c.change > threshold;
    out.push_back(c);
  }
  // Worst first.
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.change > b.change; });
  return out;
}

}  // namespace ia::benchmarks
