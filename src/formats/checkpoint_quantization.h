#pragma once
// Pre-quantized Hugging Face checkpoints (config.json's quantization_config), read into the
// packed weight formats of core/quantization.h. GPTQ 4-bit (AutoGPTQ / GPTQModel / optimum,
// the "gptq" and "gptq_v2" checkpoint formats) with groups of 32 or 128, symmetric or not, is
// loaded; every other method or width is refused by name (docs/quantization.md).
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/tensor.h"

namespace ia {

class WeightStore;

struct CheckpointQuantization {
  std::string method;  // "gptq"
  int bits = 4;
  int64_t group_size = 128;
  bool sym = true;
  bool desc_act = false;        // act-order: loaded when g_idx keeps the inputs in group order
  bool zeros_minus_one = true;  // checkpoint_format "gptq" stores zero - 1; "gptq_v2" the zero itself
};

// Null when `config` (config.json's object) has no quantization_config. Unsupported naming
// what is not loaded (the method, bits, group size, an act-order without g_idx), Corrupt for
// a quantization_config that is not an object or holds a field of the wrong type. `where`
// names config.json in messages.
std::shared_ptr<const CheckpointQuantization> read_checkpoint_quantization(const nlohmann::json& config,
                                                                           const std::string& where);

// Whether the checkpoint holds the linear layer `base` (the name without ".weight") packed.
bool has_packed_layer(const WeightStore& store, const std::string& base);

// The GPTQ layer `base` (base.qweight int32 [in / 8, out], base.qzeros int32 [in / G, out / 8],
// base.scales [in / G, out], base.g_idx int32 [in] when present) as a packed matrix of `out`
// rows and `in` inputs, dtype q4z_g32 / q4z_g128, on the host. The values are exactly the
// published dequantization: scale[g, j] * (q[k, j] - zero[g, j]), with zero = the stored nibble
// + 1 in the "gptq" format. Corrupt naming the tensor and the shape it needs on a wrong dtype
// or shape; Unsupported for an act-order g_idx that does not keep the inputs in group order.
Tensor gptq_packed_matrix(const WeightStore& store, const std::string& base, int64_t out, int64_t in,
                          const CheckpointQuantization& q);

}  // namespace ia
