#pragma once
// What one forward step runs on, built by the runtime (never by the model) in
// buffers it keeps between steps, after it has reserved KV space for every
// sequence all-or-nothing. A step is the new tokens of S sequences packed back
// to back ([T] rows, no padding): a whole prompt for prefill or an encoder
// input, one token per sequence for decode. The model runs its blocks over
// them and returns what the step asks for, on the device where it ran.
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace ia {

struct CrossKvCache;

// What a causal LM returns for a step's output rows.
enum class StepOutput {
  Logits,        // the LM head's logits [R, vocab]
  HiddenStates,  // the final hidden states after the final norm [R, hidden] (embeddings from a decoder)
};

struct StepInputs {
  int64_t num_tokens = 0;     // T
  int64_t num_sequences = 0;  // S

  // Inputs: token ids, or embeddings that stand for them (a vision-language
  // model splices projected image features into the text's embeddings).
  Tensor token_ids;         // [T] i64 on the model's device; undefined when input_embeddings is set
  Tensor input_embeddings;  // [T, hidden] f32 on the device, or undefined
  Tensor token_types;       // [T] i64 segment ids (BERT pairs), or undefined (all zeros)
  // Vision-language models (models/vision_language.h): the image features that stand for this
  // step's image tokens, and where each row takes its embedding from: r < T its own token's,
  // T + j image_embeddings row j. Both undefined in a step without image tokens.
  Tensor image_embeddings;  // [N, hidden] f32 on the device
  Tensor embedding_rows;    // [T] i64 on the device
  Tensor positions;         // [T] i64: each token's position in its sequence (0-based)
  Tensor query_start;       // [S + 1] i32: sequence s owns rows query_start[s] .. query_start[s+1]-1

  // Paged KV cache (causal LMs): where each new token's K/V goes, each sequence's
  // block table, and how many tokens each sequence holds once the step has run.
  Tensor slots;         // [T] i64: block * block_size + offset
  Tensor block_tables;  // [S, max_blocks] i32 (-1 past a sequence's blocks)
  Tensor seq_lens;      // [S] i32

  // Rows whose final hidden state the head turns into outputs (logits): each
  // sequence's last token for generation; undefined means every row.
  Tensor output_rows;  // [R] i64
  StepOutput output = StepOutput::Logits;

  // Cross-attention (encoder-decoders): the K/V of the encoder outputs, projected once per
  // request and kept by the runtime (null for a model without cross-attention), and the rows of
  // it each sequence attends to.
  const CrossKvCache* cross = nullptr;
  Tensor cross_ranges;  // [S, 2] i32: sequence s attends to rows cross_ranges[s, 0] .. [s, 1] - 1

  // The same lengths on the host, for what a model sizes before it runs
  // (rope tables grow to the longest sequence; dynamic rope depends on each length).
  std::vector<int64_t> host_seq_lens;   // [S] tokens after the step
  std::vector<int64_t> host_first_pos;  // [S] position of each sequence's first new token
  int64_t max_seq_len = 0;              // the longest sequence after the step
};

}  // namespace ia
