#pragma once
// One benchmark result: what ran (model, case), where (machine, build), how fast (the spread of
// the repetitions, throughput, fractions of the machine's ceilings). The unit every part of the
// benchmark layer passes around: the runner makes them, the database stores them, the reports
// draw them, `bench import` reads them back from another machine's JSON.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "benchmarks/sample_stats.h"

namespace ia::benchmarks {

struct MachineInfo {
  std::string cpu_model;
  std::string cpu_isa;  // the usable ISA flags, space-separated ("avx2 avx512f amx_bf16 ...")
  int physical_cores = 0, logical_cores = 0;
  uint64_t memory_bytes = 0;
  std::string gpu_name;  // "" without a usable GPU
  uint64_t gpu_memory_bytes = 0;
  std::string gpu_driver;
  std::string os;  // "Linux 6.1.0-18-amd64 x86_64"
  // Identifies the machine across runs: its hardware and OS (no host name, no serials).
  std::string fingerprint() const;
};

struct BuildInfo {
  std::string version;   // "0.1.0"
  std::string commit;    // git HEAD at build time ("+dirty" with local changes), "unknown" outside git
  std::string compiler;  // "gcc 12.2.0"
  std::string backends;  // "oneDNN 3.0.0 (avx512_core_bf16); cuda:0 (H100)"
};

struct ModelInfo {
  std::string name;  // as the user gave it (folder, CID, registered name)
  std::string path;  // the resolved folder
  std::string family, task;
  int64_t parameters = 0;
  std::string dtype;  // compute dtype: "f32", "bf16"
  std::string quantization = "none";
};

struct CaseParams {
  std::string suite;       // "embed", "prefill", "decode", "image-classification", "transcription", "server-load"
  std::string device;      // "cpu", "cuda:0"
  int64_t batch = 0;       // server-load: requests in flight at once (the concurrency)
  int64_t seq_len = 0;     // tokens per sequence (embed), prompt tokens (prefill, decode, server-load), 0 otherwise
  int64_t new_tokens = 0;  // decode steps; tokens per request (server-load)
  int warmup = 0, repetitions = 0;
};

struct Measurement {
  SampleStats ms;            // wall time of each repetition, milliseconds
  double items_per_run = 0;  // work of one repetition, in `unit`
  std::string unit;          // "tokens", "sequences", "images", "audio_s"
  double throughput = 0;     // units per second at the median time
  double flops_per_run = 0;  // estimated work (0: not estimated)
  double bytes_per_run = 0;  // weight bytes streamed (decode; 0 otherwise)
  double of_gemm = 0;        // achieved FLOP/s over the large-GEMM ceiling of the dtype (0: n/a)
  double of_copy = 0;        // achieved bytes/s over the copy bandwidth (0: n/a)
  // Requests to a server (server-load; all zero for the suites that call a model directly):
  int64_t requests = 0;       // sent in the timed repetitions
  int64_t errors = 0;         // of them, how many failed
  std::string error;          // the first failure's message ("" without errors)
  double requests_per_s = 0;  // requests that succeeded, per second at the median time
  SampleStats ttft_ms;        // time to the first token of each request that succeeded (an embedding: to its answer)
  SampleStats itl_ms;         // inter-token latency: between consecutive streamed chunks of text
};

struct CeilingFigures {
  double copy_bytes_per_s = 0;
  double gemm_flops_per_s = 0;  // of the model's dtype
};

struct BenchResult {
  std::string run_id;      // one `bench` invocation
  std::string started_at;  // ISO 8601 UTC, "2026-12-07T10:00:00Z"
  MachineInfo machine;
  BuildInfo build;
  ModelInfo model;
  CaseParams params;
  Measurement measurement;
  CeilingFigures ceilings;
};

// The JSON of results as `bench --format json` writes them and `bench import` reads them:
// {"format": "ipfs-accelerate-bench", "version": 1, "results": [{...}, ...]}.
inline constexpr const char* kResultsFormat = "ipfs-accelerate-bench";
inline constexpr int kResultsFormatVersion = 1;

nlohmann::ordered_json result_json(const BenchResult& r);
nlohmann::ordered_json results_document(const std::vector<BenchResult>& results);

// Limits on what `bench import` accepts from another machine's file.
inline constexpr size_t kMaxImportBytes = size_t{64} << 20;
inline constexpr size_t kMaxImportResults = 200000;
inline constexpr size_t kMaxImportString = 1024;

// Parses a results document (untrusted: another machine's file). InvalidArgument, starting with
// `source`, for anything but a document of this format and version whose every result has its
// required fields with values in range (strings up to kMaxImportString bytes, finite non-negative
// numbers, min <= median <= p90); never a partial list. The request fields of the measurement
// (requests, errors, error, requests_per_s, ttft_ms, itl_ms) are optional: files written before
// they existed hold none.
std::vector<BenchResult> parse_results_document(std::string_view text, const std::string& source);

// CSV with a header row: one line per result, the flattened fields of result_json.
std::string results_csv(const std::vector<BenchResult>& results);

}  // namespace ia::benchmarks
