#pragma once
// The interface of a model that continues token sequences (GPT-2, LLaMA,
// Qwen2/3, Mistral; later the text side of vision-language models). The
// runtime builds each step (StepInputs) and owns the KV cache; the model only
// computes, on its device, and returns the logits the step asked for there.
#include <cstdint>
#include <memory>

#include "backends/memory_budget.h"
#include "core/error.h"
#include "core/kv_quantization.h"
#include "core/tensor.h"
#include "models/decoder_config.h"
#include "models/kv_cache.h"
#include "models/step_inputs.h"

namespace ia {

// The shape of the paged KV cache a model needs.
struct KvCacheLayout {
  int64_t num_layers = 0, kv_heads = 0, head_dim = 0;
  // K and V of one token in every layer, in a cache of `dtype` (core/kv_quantization.h): what
  // a KV budget divides by. f32: 8 head_dim bytes per layer and kv head; int8: 2 (head_dim + 4).
  int64_t bytes_per_token(DType dtype) const { return 2 * num_layers * kv_heads * kv_cache_row_bytes(dtype, head_dim); }
};

class CausalLM {
 public:
  virtual ~CausalLM() = default;

  virtual const DecoderConfig& config() const = 0;
  virtual DType compute_dtype() const = 0;
  virtual Device device() const = 0;
  // Bytes of weights one decode step reads (linear weights + LM head), for rooflines.
  virtual int64_t weight_bytes_per_token() const = 0;
  virtual KvCacheLayout kv_layout() const = 0;

  // Runs the step's new tokens, writing their K/V into `cache` at step.slots, and
  // returns f32 logits [rows, vocab] of step.output_rows (every row when
  // undefined) on the model's device; with step.output HiddenStates, the final
  // hidden states [rows, hidden] instead.
  virtual Tensor forward(const StepInputs& step, KvCache& cache) const = 0;

  // Runs each sequence of the step as a whole prompt (positions from 0) without a KV
  // cache: its tokens attend to each other causally and no K/V is kept. Returns what
  // forward returns. For embeddings and scoring, where no token follows. Unsupported
  // where the model has no such path.
  virtual Tensor forward_prompt(const StepInputs& step) const {
    (void)step;
    fail(ErrorKind::Unsupported, "this model cannot run a prompt without a KV cache");
  }

  // Whether a step shaped like `step` may be recorded once and replayed with other inputs of the
  // same shapes (a CUDA graph, runtime/recorded_steps.h): its ops then read nothing of the host's
  // but those shapes, and what they read on the device stays where it was (step.max_seq_len
  // bounds the positions of the replays). False unless the model knows.
  virtual bool replayable(const StepInputs& step) const {
    (void)step;
    return false;
  }

  // A cache of `num_blocks` blocks of `block_size` tokens on the model's device, its K/V kept
  // as `dtype` (--kv-cache-dtype: F32, or Q8Kv where the device's backend supports it; else
  // Unsupported). Unavailable, with the sizes, when it does not fit the device's share of memory
  // (--gpu-memory-fraction): checked before anything is allocated.
  std::unique_ptr<KvCache> make_cache(int64_t num_blocks, int64_t block_size = 16, DType dtype = DType::F32) const {
    const KvCacheLayout l = kv_layout();
    const int64_t bytes = num_blocks * block_size * l.bytes_per_token(dtype);
    require_device_room(device(), bytes,
                        fmt::format("a KV cache of {} tokens ({} blocks)", num_blocks * block_size, num_blocks));
    return std::make_unique<KvCache>(l.num_layers, l.kv_heads, l.head_dim, block_size, num_blocks, device(), dtype);
  }
};

}  // namespace ia
