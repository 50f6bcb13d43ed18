#pragma once
// Results made up for the store, query, report and placement tests: every field filled, values
// chosen so each test knows the answer.
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "benchmarks/bench_result.h"

namespace ia::benchmarks::test {

struct Seed {
  std::string model = "bert-tiny", family = "bert", dtype = "f32", suite = "embed", device = "cpu";
  std::string commit = "aaaaaaaa11111111", run = "run-1", started = "2026-12-01T10:00:00Z";
  std::string gpu = "";
  int64_t batch = 8, seq_len = 64, new_tokens = 0, parameters = 4'000'000;
  double median_ms = 10;
};

inline BenchResult seeded(const Seed& s) {
  BenchResult r;
  r.run_id = s.run;
  r.started_at = s.started;
  r.machine.cpu_model = "Test CPU 9000";
  r.machine.cpu_isa = "avx2 avx512f";
  r.machine.physical_cores = 8;
  r.machine.logical_cores = 16;
  r.machine.memory_bytes = uint64_t{64} << 30;
  r.machine.gpu_name = s.gpu;
  r.machine.gpu_memory_bytes = s.gpu.empty() ? 0 : uint64_t{80} << 30;
  r.machine.gpu_driver = s.gpu.empty() ? "" : "12.4";
  r.machine.os = "Linux 6.1.0 x86_64";
  r.build.version = "0.1.0";
  r.build.commit = s.commit;
  r.build.compiler = "gcc 12.2.0";
  r.build.backends = "oneDNN 3.0.0 (avx512_core)";
  r.model.name = s.model;
  r.model.path = "/models/" + s.model;
  r.model.family = s.family;
  r.model.task = "feature-extraction";
  r.model.parameters = s.parameters;
  r.model.dtype = s.dtype;
  r.params.suite = s.suite;
  r.params.device = s.device;
  r.params.batch = s.batch;
  r.params.seq_len = s.seq_len;
  r.params.new_tokens = s.new_tokens;
  r.params.warmup = 1;
  r.params.repetitions = 5;
  Measurement& m = r.measurement;
  m.ms = SampleStats{5, s.median_ms * 0.9, s.median_ms, s.median_ms * 1.2, s.median_ms * 1.02, s.median_ms * 1.3};
  m.items_per_run = static_cast<double>(s.batch);
  m.unit = "sequences";
  m.throughput = m.items_per_run / (s.median_ms / 1e3);
  m.flops_per_run = 1e9;
  m.of_gemm = 0.25;
  r.ceilings.copy_bytes_per_s = 20e9;
  r.ceilings.gemm_flops_per_s = 400e9;
  return r;
}

// `r` as a server-load row: 3 of 40 requests failed, latency spreads filled.
inline BenchResult with_requests(BenchResult r) {
  r.params.suite = "server-load";
  r.params.new_tokens = 16;
  Measurement& m = r.measurement;
  m.unit = "tokens";
  m.requests = 40;
  m.errors = 3;
  m.error = "HTTP 429: {\"error\": \"queue full\"}";
  m.requests_per_s = 123.25;
  m.ttft_ms = SampleStats{37, 1.5, 2.25, 4.0, 2.5, 6.125};
  m.itl_ms = SampleStats{555, 0.25, 0.5, 0.75, 0.5, 1.0};
  return r;
}

// `n` results as a database gathers them: blocks of 300 (50 models x 6 batch sizes x 4 lengths,
// a third of them on a GPU), each block a run of its own (two: CPU and GPU machine), so every
// result is stored and a report shows the latest of 300 cases. The size the issue's "a report of
// 10,000 results" means (the report test and bench/bench_report.cpp).
inline std::vector<BenchResult> many_results(int n) {
  std::vector<BenchResult> rs;
  rs.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    Seed s;
    const int block = i / 300;
    s.model = "model-" + std::to_string(i % 50);
    s.batch = 1 << (i % 6);
    s.seq_len = 16 << (i % 4);
    s.device = i % 3 ? "cpu" : "cuda:0";
    s.gpu = i % 3 ? "" : "NVIDIA H100";
    s.run = "run-" + std::to_string(block) + (i % 3 ? "" : "-gpu");
    const int day = 1 + block / 24 % 28, hour = block % 24;
    s.started = "2026-12-" + std::string(day < 10 ? "0" : "") + std::to_string(day) + "T" +
                std::string(hour < 10 ? "0" : "") + std::to_string(hour) + ":00:00Z";
    s.median_ms = 1 + i % 13;
    rs.push_back(seeded(s));
  }
  return rs;
}

// A fresh folder under the system temp dir, removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "ia-bench-XXXXXX").string();
    if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace ia::benchmarks::test
