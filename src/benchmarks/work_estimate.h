#pragma once
// How much work one benchmark case does, for the fractions of the machine's ceilings: FLOPs of a
// transformer forward from its weights and config (2 per multiply-add of every weight matrix per
// token, plus the attention scores and values), and bytes streamed per decode step (the model's
// own count). An estimate for rooflines, not an op count: norms, activations and softmax are left
// out (a few percent of the work of any model benchmarked here).
#include <cstdint>
#include <string>

#include "formats/hf_config.h"
#include "formats/safetensors.h"

namespace ia::benchmarks {

struct ModelShape {
  int64_t parameters = 0;       // every tensor's elements
  int64_t matrix_params = 0;    // elements of 2-D weights other than embedding tables (gathers, not GEMMs)
  int64_t head_params = 0;      // of those, the output head's (lm_head, classifier): not run on every token
  int64_t layers = 0;           // transformer blocks (num_hidden_layers, n_layer, num_layers)
  int64_t attention_width = 0;  // hidden size the attention runs at (hidden_size, n_embd, d_model)
};

ModelShape model_shape(const HfConfig& config, const WeightStore& weights);

// A forward over `batch` sequences of `tokens` tokens each, the output head run on `head_rows`
// rows in all (a prefill's logits: one per sequence; a ViT's classifier: its class token);
// `causal` halves the attention.
double forward_flops(const ModelShape& shape, int64_t batch, int64_t tokens, bool causal, int64_t head_rows);

}  // namespace ia::benchmarks
