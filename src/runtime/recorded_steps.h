#pragma once
// Decode steps recorded once per shape and replayed (CUDA graphs): a decode step is the same few
// hundred small ops every time, and issuing them one by one from the host costs more than the
// GPU takes to run them. Steps are keyed by their shapes (sequences, block-table width, what
// they return); a replay copies the step's packed inputs into the buffer the recording read,
// then queues the whole step at once. Backends that run ops as they are called never get here.
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "backends/backend.h"
#include "core/tensor.h"
#include "models/causal_lm.h"
#include "models/kv_cache.h"
#include "models/step_inputs.h"

namespace ia {

// What a step returns on the device.
struct StepResult {
  enum Kind {
    Logits,     // {logits [rows, vocab] f32}
    GreedyIds,  // {ids [rows] i32}: each row's argmax
    TopK,       // {logits, values [rows, k] f32, ids [rows, k] i32}: each row's k largest
  };
  Kind kind = Logits;
  int64_t k = 0;  // TopK
  auto operator<=>(const StepResult&) const = default;
};

// The step's outputs from its logits, on their device.
std::vector<Tensor> step_outputs(const Tensor& logits, const StepResult& result);

class RecordedSteps {
 public:
  explicit RecordedSteps(const CausalLM& model);

  // Whether steps on this model's device may be recorded: the backend records, and
  // IA_CUDA_GRAPHS=0 turns recording off (see recorded_steps.cpp).
  bool enabled() const { return enabled_; }
  // The block-table width a decode step of sequences of up to `max_blocks` blocks is recorded
  // with: powers of two, so a growing sequence is recorded again only when it doubles.
  static int64_t table_width(int64_t max_blocks);

  // Runs `step` (one new token per sequence; its inputs views of `packed`) as a replay of the
  // recording for its shape, recording it first (that call runs the step as usual too). Returns
  // the outputs on the device, valid until the next call. A step the backend cannot record runs
  // as usual, and so do later steps of its shape.
  std::vector<Tensor> run(const StepInputs& step, const Tensor& packed, KvCache& cache, const StepResult& result);

 private:
  struct Key {
    int64_t sequences = 0, table_width = 0;
    StepResult result;
    const void* cache = nullptr;  // the first layer's K storage (a grown cache is recorded again)
    auto operator<=>(const Key&) const = default;
  };
  struct Entry {
    Tensor inputs;                       // the packed inputs the recording reads
    StepInputs step;                     // views of `inputs`
    std::vector<Tensor> output;          // what the recording writes
    std::unique_ptr<RecordedWork> work;  // null: the backend could not record this shape
    std::vector<Tensor> cache_tensors;   // the K/V it writes, held so their memory is not reused
    uint64_t last_use = 0;
  };
  std::vector<Tensor> run_now(const StepInputs& step, KvCache& cache, const StepResult& result) const;
  Entry& record(const Key& key, const StepInputs& step, const Tensor& packed, KvCache& cache,
                std::vector<Tensor>& first_output);

  const CausalLM& model_;
  Backend* backend_ = nullptr;
  bool enabled_ = false;
  std::map<Key, Entry> entries_;
  uint64_t uses_ = 0;
};

}  // namespace ia
