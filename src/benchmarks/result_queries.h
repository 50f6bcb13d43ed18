#pragma once
// Questions asked of stored results: the latest result of each case, one model across devices,
// and regressions between two commits. They work on results already selected (ResultsStore), so
// any store answers them the same way.
#include <optional>
#include <string>
#include <vector>

#include "benchmarks/bench_result.h"

namespace ia::benchmarks {

// What makes two results the same case: model (name, dtype, quantization), suite and sizes.
std::string case_key(const BenchResult& r);
// A short name for the machine: its GPU for a GPU run, else its CPU model.
std::string machine_label(const BenchResult& r);
// "embed b8 s64", "decode b4 p16 n16", "transcription 2s audio", "server-load c8 p128 n64".
std::string case_label(const BenchResult& r);

// The newest result of every (case, device, machine): repeated runs reduce to their latest.
std::vector<BenchResult> latest_results(const std::vector<BenchResult>& results);

struct DeviceComparison {
  std::string case_label, model;
  std::vector<std::string> devices;               // "cpu on AMD EPYC", "cuda:0 on NVIDIA H100"
  std::vector<std::optional<double>> throughput;  // per device, its unit per second
  std::string unit;
};
// The latest throughput of every case of the results on every device (and machine) they ran on.
std::vector<DeviceComparison> compare_devices(const std::vector<BenchResult>& results);

struct CommitComparison {
  std::string model, case_label, device, machine;
  double base_ms = 0, head_ms = 0;  // medians
  double change = 0;                // head / base - 1: +0.1 is 10% slower
  bool regression = false;          // change > threshold
};
// Cases measured at both commits (a prefix of each matches) on the same machine and device, the
// newest run of each; `threshold` is the fraction a median may grow before it counts as a regression.
std::vector<CommitComparison> compare_commits(const std::vector<BenchResult>& results, const std::string& base_commit,
                                              const std::string& head_commit, double threshold);

}  // namespace ia::benchmarks
