// Continuous batching against plain batched generation on a random-weight model:
// the same B requests (fixed prompt and output lengths, greedy, eos ignored) run as
// one Generator::generate_ids batch and through a BatchEngine that takes them all at
// once, so the difference is what the engine adds (scheduling, per-request sampling
// and streaming, chunked prefill beside decode). Output tokens/s for both; the
// engine also reports its steps and tokens per step. IA_BENCH_DEVICE picks the device;
// IA_BENCH_DECODE_DIR where the random folders are kept (as bench_decode).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_device.h"
#include "models/decoder_random.h"
#include "runtime/batch_engine.h"
#include "runtime/generation.h"

namespace {

namespace fs = std::filesystem;
using ia::bench::add;

std::shared_ptr<const ia::Generator> generator(const std::string& like) {
  static auto& loaded = *new std::map<std::string, std::shared_ptr<const ia::Generator>>;
  auto it = loaded.find(like);
  if (it != loaded.end()) return it->second;
  const char* env = std::getenv("IA_BENCH_DECODE_DIR");
  const fs::path root = env ? fs::path(env) : fs::temp_directory_path();
  const std::string dir = (root / ("ia-bench-" + like + "-bf16")).string();
  if (!fs::exists(dir + "/model.safetensors") && !fs::exists(dir + "/model.safetensors.index.json"))
    ia::write_random_decoder(ia::random_decoder_preset(like), ia::DType::BF16, dir, 1);
  return loaded.emplace(like, ia::Generator::load(dir, ia::bench::bench_device(), ia::DType::BF16)).first->second;
}

std::vector<std::vector<int32_t>> prompts(int64_t count, int64_t length, int64_t vocab) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> id(3, static_cast<int32_t>(vocab) - 1);
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(count));
  for (auto& p : out)
    for (int64_t i = 0; i < length; ++i) p.push_back(id(rng));
  return out;
}

ia::GenerationRequest request(int64_t new_tokens) {
  ia::GenerationRequest r;
  r.temperature = 0;
  r.max_new_tokens = new_tokens;
  r.ignore_eos = true;
  return r;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void BM_GenerateBatch(benchmark::State& state, std::string like, int64_t batch, int64_t prompt_len,
                      int64_t new_tokens) {
  auto gen = generator(like);
  const auto ps = prompts(batch, prompt_len, gen->model().config().vocab_size);
  const ia::GenerationRequest req = request(new_tokens);
  gen->generate_ids(ps, req);  // warm-up: page faults, primitive creation
  double timed = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(gen->generate_ids(ps, req));
    timed += seconds_since(t0);
  }
  state.counters["output_tokens/s"] =
      static_cast<double>(batch * new_tokens) * static_cast<double>(state.iterations()) / timed;
}

void BM_BatchEngine(benchmark::State& state, std::string like, int64_t batch, int64_t prompt_len, int64_t new_tokens) {
  auto gen = generator(like);
  const auto ps = prompts(batch, prompt_len, gen->model().config().vocab_size);
  const ia::GenerationRequest req = request(new_tokens);
  ia::BatchEngineOptions o;
  o.max_num_seqs = batch;
  o.prefix_caching = false;  // the same prompts every iteration would all hit
  ia::BatchEngine engine(gen, o);
  auto run_all = [&] {
    for (const auto& p : ps) {
      ia::BatchRequest r;
      r.prompt = p;
      r.options = req;
      engine.submit(std::move(r));
    }
    engine.run_until_idle();
  };
  run_all();  // warm-up
  double run_ms = 0, host_ms = 0;
  engine.set_step_observer([&](const ia::StepReport& r) {
    run_ms += r.run_ms;
    host_ms += r.host_ms;
  });
  const ia::BatchEngineStats before = engine.stats();
  double timed = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    run_all();
    timed += seconds_since(t0);
  }
  const ia::BatchEngineStats after = engine.stats();
  const auto iterations = static_cast<double>(state.iterations());
  state.counters["output_tokens/s"] = static_cast<double>(batch * new_tokens) * iterations / timed;
  const auto steps = static_cast<double>(after.steps - before.steps);
  state.counters["steps"] = steps / iterations;
  state.counters["tokens_per_step"] = static_cast<double>(after.computed_tokens - before.computed_tokens) / steps;
  // Per step: the model's step and sampling, and the engine's host work around it.
  state.counters["run_ms_per_step"] = run_ms / steps;
  state.counters["host_ms_per_step"] = host_ms / steps;
}

void register_cases(const std::string& like, std::vector<int64_t> batches, int64_t prompt_len, int64_t new_tokens) {
  for (int64_t b : batches) {
    const std::string shape = like + "_b" + std::to_string(b);
    add("BM_GenerateBatch/" + shape, BM_GenerateBatch, like, b, prompt_len, new_tokens)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    add("BM_BatchEngine/" + shape, BM_BatchEngine, like, b, prompt_len, new_tokens)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
}

void register_cpu() {
  register_cases("gpt2", {1, 8, 64}, 32, 32);
}

void register_gpu() {
  register_cases("llama-1b", {1, 16, 64}, 128, 128);
}

}  // namespace

int main(int argc, char** argv) {
  return ia::bench::run_benchmarks(argc, argv, "bench_batch_engine", register_cpu, register_gpu);
}
