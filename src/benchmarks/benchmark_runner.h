#pragma once
// `bench`: runs a suite of cases on one model, on one device and dtype, and returns one result
// per case with the spread of its repetitions and its fractions of the machine's ceilings
// (measured in the same process before and after the cases, the better of the two counting).
//
//   embed                 EmbeddingEndpoint::embed_ids over a batch x tokens grid (random ids,
//                         exact lengths); time per call, sequences/s and tokens/s.
//   prefill               Generator::generate_ids, batch prompts of seq_len tokens, 1 new token;
//                         the prefill's time (GenerationStats), tokens/s, fraction of the GEMM.
//   decode                the same with new_tokens greedy tokens, eos ignored; the decode steps'
//                         time, tokens/s, weight bytes streamed / copy bandwidth.
//                         A vision-language model's prompts are one synthetic image and seq_len
//                         text tokens each; its prefill time includes the image's preprocessing
//                         and vision tower (the time to the first token).
//   generate              prefill and decode (the default for text generation).
//   seq2seq               an encoder-decoder's whole generate call (T5): batch prompts of seq_len
//                         tokens, new_tokens each, eos ignored; generated tokens/s of wall time.
//   image-classification  ImageClassificationEndpoint::classify on batch synthetic images.
//   image-embedding       ImageTextEndpoint::image_embeddings (CLIP) of batch 224x224 images.
//   object-detection      ObjectDetectionEndpoint::detect (DETR) of batch 1066x800 images.
//   transcription         SpeechRecognizer::transcribe of seq_len seconds of synthetic audio,
//                         Whisper's in 30-s windows of new_tokens tokens each (eos ignored);
//                         audio seconds per second (1 / real-time factor).
//   server-load           (registered by the server layer: server/server_load_suite.h) the
//                         OpenAI-compatible server in this process, `concurrency` streamed
//                         requests at once per repetition; output tokens/s, requests/s, TTFT and
//                         inter-token latency, errors.
// The default suite follows the model registry's task; the default grid is small for small
// models (under 100M parameters) so that a tiny model's run takes seconds. Suites are a registry
// (bench_suite.h): a layer above this one adds its own.
#include <cstdint>
#include <string>
#include <vector>

#include "benchmarks/bench_result.h"
#include "benchmarks/ceilings.h"

namespace ia::benchmarks {

struct BenchRequest {
  std::string model;  // a folder, CID, registered name or Hugging Face id
  std::string suite;  // "" : the default for the model's task
  std::string device = "auto";
  std::string dtype = "auto";
  // The weights' --quantize method ("none", "int8", "q4", ...: core/quantization.h) and the KV
  // cache's --kv-cache-dtype ("auto", "f32", "int8"), for the suites that load a model with them
  // (SuiteDefinition::takes_quantization); a row's model.quantization names both ("q4",
  // "q4+kv-int8", "none+kv-int8").
  std::string quantize = "none";
  std::string kv_cache_dtype = "auto";
  int repetitions = 5;
  int warmup = 1;
  // Empty: the suite's defaults. seq_lens are tokens (embed), prompt tokens (prefill, decode,
  // server-load) or seconds of audio (transcription). concurrency: requests in flight at once, for
  // the suites that send requests (server-load), which take it instead of batch sizes.
  std::vector<int64_t> batches, seq_lens, new_tokens, concurrency;
  bool measure_ceilings = true;
  CeilingOptions ceiling_options;
};

// The suites `bench --suite` takes: the built-in ones, then those registered (bench_suite.h).
std::vector<std::string> suite_names();
// The suite run when none is named, for a registry task ("feature-extraction" -> "embed", ...).
// Unsupported for a task with no suite.
std::string default_suite(const std::string& task, const std::string& model_dir);

// One case of a plan: its suite and sizes (batch: the concurrency of a suite that sends requests).
struct BenchCase {
  std::string suite;
  int64_t batch = 1, seq_len = 0, new_tokens = 0;
};

// Loads the model once and runs every case of the plan. InvalidArgument for an unknown suite, a
// suite the model cannot run, or sizes out of range (a batch, length, concurrency or repetition
// count < 1 or past the bounds in benchmark_runner.cpp; concurrency levels for a suite that takes
// batch sizes, or batch sizes for one that takes concurrency levels); errors of loading propagate.
std::vector<BenchResult> run_benchmarks(const BenchRequest& request);

}  // namespace ia::benchmarks
