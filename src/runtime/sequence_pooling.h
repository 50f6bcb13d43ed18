#pragma once
// Sentence embeddings from a packed step: each sequence's rows of the
// encoder's hidden states [T, H] pooled into one row [S, H] (sentence-
// transformers' Pooling module). The first or last row of a sequence is a
// gather; mean / max / mean_sqrt_len gather each sequence's rows into a padded
// [S, L, H] view with a mask and run the backend's pooling op.
#include "backends/backend.h"
#include "core/tensor.h"
#include "models/step_inputs.h"

namespace ia {

// skip_first: mean / max / mean_sqrt_len leave out each sequence's first rows (a prompt,
// sentence-transformers' include_prompt false), keeping at least its last row.
Tensor pool_sequences(PoolMode mode, const Tensor& hidden, const StepInputs& step, int64_t skip_first = 0);

}  // namespace ia
