#pragma once
// What every block of one forward step shares: the step's inputs, the rotary
// tables for its tokens, the KV cache and the dtypes the model chose. Built
// once per step by the model; each block reads its own layer of the cache.
#include <cstdint>

#include "core/tensor.h"
#include "models/kv_cache.h"
#include "models/layers/rotary_embedding.h"
#include "models/step_inputs.h"

namespace ia {

struct BlockContext {
  const StepInputs* step = nullptr;
  const RotaryTables* rotary = nullptr;  // null when the model has no rotary positions
  KvCache* cache = nullptr;              // null when no attention layer reads a paged cache
  int64_t layer = 0;                     // which layer of the cache (and of step->cross)
  // The relative position bias of this stack (RelativePositionBias::table), shared by its
  // layers; null when the model has none.
  const Tensor* position_bias = nullptr;
  // PositionKind::QueryKey (DETR): [T, hidden] f32 rows added to the step's rows before the q and
  // k projections of self-attention and before the q projection of cross-attention; null otherwise.
  const Tensor* query_key_positions = nullptr;
  // What norms and gates hand to the next linear: bf16 with bf16 weights where the
  // backend can (the linear would round f32 inputs to the same values), else f32.
  DType linear_input_dtype = DType::F32;
  // Attention products with bf16 inputs and f32 accumulation, as transformers runs a bf16 model.
  bool bf16_products = false;
};

}  // namespace ia
