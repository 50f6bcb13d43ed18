#include "runtime/recorded_steps.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/logging.h"
#include "ops/ops.h"

namespace ia {

namespace {

// Recordings kept per runner: each holds its step's activations (logits dominate: rows x vocab).
constexpr size_t kMaxRecordings = 32;

// On by default since an H100 run passed DecoderReplay.* (replayed vs op-by-op steps) and the
// whole parity suite with it; IA_CUDA_GRAPHS=0 issues every step op by op (the A/B of bench.sh).
bool recording_allowed() {
  const char* v = std::getenv("IA_CUDA_GRAPHS");
  return !(v && std::strcmp(v, "0") == 0);
}

// `t`, a view of `from`, as the same view of `to` (a buffer of the same layout).
Tensor same_view(const Tensor& t, const Tensor& from, const Tensor& to) {
  if (!t.defined()) return t;
  IA_CHECK(t.storage() == from.storage(), "recorded step: an input is not part of the packed buffer");
  return Tensor(to.storage(), to.offset_bytes() + (t.offset_bytes() - from.offset_bytes()), t.shape(), t.strides(),
                t.dtype());
}

}  // namespace

RecordedSteps::RecordedSteps(const CausalLM& model) : model_(model) {
  if (model.device().is_cpu() || !recording_allowed()) return;
  backend_ = &backend_for(model.device());
  enabled_ = backend_->can_record();
}

int64_t RecordedSteps::table_width(int64_t max_blocks) {
  int64_t w = 8;
  while (w < max_blocks) w *= 2;
  return w;
}

std::vector<Tensor> step_outputs(const Tensor& logits, const StepResult& result) {
  switch (result.kind) {
    case StepResult::Logits: return {logits};
    case StepResult::GreedyIds: return {ops::argmax(logits)};
    case StepResult::TopK: {
      auto [values, ids] = ops::top_k(logits, result.k);
      return {logits, values, ids};
    }
  }
  fail(ErrorKind::Internal, "step: unknown result kind");
}

std::vector<Tensor> RecordedSteps::run_now(const StepInputs& step, KvCache& cache, const StepResult& result) const {
  return step_outputs(model_.forward(step, cache), result);
}

std::vector<Tensor> RecordedSteps::run(const StepInputs& step, const Tensor& packed, KvCache& cache,
                                       const StepResult& result) {
  IA_CHECK(enabled_ && step.num_tokens == step.num_sequences && !step.output_rows.defined(),
           "recorded steps: only decode steps are recorded");
  const Key key{step.num_sequences, step.block_tables.size(1), result, cache.k(0).storage().get()};
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    std::vector<Tensor> first;
    Entry& e = record(key, step, packed, cache, first);
    e.last_use = ++uses_;
    return first;
  }
  Entry& e = it->second;
  e.last_use = ++uses_;
  if (!e.work) return run_now(step, cache, result);
  backend_->copy(packed, e.inputs);  // on the device, queued before the replay
  e.work->replay();
  return e.output;
}

RecordedSteps::Entry& RecordedSteps::record(const Key& key, const StepInputs& step, const Tensor& packed,
                                            KvCache& cache, std::vector<Tensor>& first_output) {
  if (entries_.size() >= kMaxRecordings)
    entries_.erase(std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
      return a.second.last_use < b.second.last_use;
    }));
  Entry e;
  e.inputs = Tensor(backend_->allocate(packed.nbytes()), 0, packed.shape(), packed.strides(), packed.dtype());
  backend_->copy(packed, e.inputs);
  for (int64_t l = 0; l < model_.kv_layout().num_layers; ++l) {
    e.cache_tensors.push_back(cache.k(l));
    e.cache_tensors.push_back(cache.v(l));
  }
  e.step = step;
  for (Tensor* t : {&e.step.token_ids, &e.step.positions, &e.step.slots, &e.step.block_tables, &e.step.seq_lens,
                    &e.step.query_start})
    *t = same_view(*t, packed, e.inputs);
  // Replays see longer sequences than this step: whatever the model sizes by the longest (rope
  // tables) is sized for the widest block table now, once.
  e.step.max_seq_len = std::min(key.table_width * cache.block_size(), model_.config().max_positions);
  first_output = run_now(e.step, cache, key.result);

  backend_->begin_recording();
  try {
    e.output = run_now(e.step, cache, key.result);
    e.work = backend_->end_recording();
  } catch (const std::exception& ex) {
    try {
      backend_->end_recording();
    } catch (...) {  // the recording had already ended (end_recording itself threw)
    }
    e.output.clear();
    e.work.reset();
    spdlog::debug("decode steps of {} sequences run op by op: {}", key.sequences, ex.what());
  }
  return entries_.emplace(key, std::move(e)).first->second;
}

}  // namespace ia
