#pragma once
// Pre-quantized Hugging Face checkpoints (config.json's quantization_config), read into the
// packed weight formats of core/quantization.h (docs/quantization.md):
//   GPTQ (AutoGPTQ / GPTQModel / optimum, checkpoint formats "gptq" and "gptq_v2"): 4 bits with
//     groups of 32 or 128, symmetric or not, as q4z_g32 / q4z_g128; 8 bits per output channel
//     (group_size -1), symmetric, as q8 (what `ipfs-accelerate quantize --method int8` writes).
//   AWQ (AutoAWQ / transformers, version "gemm"): 4 bits with a zero point, groups of 32, 64 or
//     128, as q4z_g32 (64: each group is two groups of 32 with its scale and zero) / q4z_g128.
// Every other method, version, width or group size is refused by name.
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "core/tensor.h"

namespace ia {

class WeightStore;

struct CheckpointQuantization {
  std::string method;  // "gptq" or "awq"
  int bits = 4;
  int64_t group_size = 128;  // -1: one group per output channel (GPTQ 8-bit)
  bool sym = true;
  bool desc_act = false;        // act-order: loaded when g_idx keeps the inputs in group order
  bool zeros_minus_one = true;  // checkpoint_format "gptq" stores zero - 1; "gptq_v2" and AWQ the zero itself
  // The packed format the layers load as: Q8, Q4ZG32 or Q4ZG128.
  DType packed_format() const;
};

// Null when `config` (config.json's object) has no quantization_config. Unsupported naming
// what is not loaded (the method, bits, group size, version, an asymmetric 8-bit grid),
// Corrupt for a quantization_config that is not an object or holds a field of the wrong type.
// `where` names config.json in messages.
std::shared_ptr<const CheckpointQuantization> read_checkpoint_quantization(const nlohmann::json& config,
                                                                           const std::string& where);

// Whether the checkpoint holds the linear layer `base` (the name without ".weight") packed.
bool has_packed_layer(const WeightStore& store, const std::string& base);

// The packed layer `base` of a GPTQ or AWQ checkpoint as a packed matrix of `out` rows and
// `in` inputs, dtype q.packed_format() (or its symmetric q4_g* for a symmetric GPTQ layer), on the host, holding
// exactly the method's published dequantization. Corrupt naming the tensor and the shape it needs on a wrong dtype or
// shape.
Tensor checkpoint_packed_matrix(const WeightStore& store, const std::string& base, int64_t out, int64_t in,
                                const CheckpointQuantization& q);

// GPTQ: base.qweight int32 [in * bits / 32, out] (input (32 / bits) r + i of output j in bits
// bits*i.. of qweight[r, j]), base.qzeros int32 [groups, out * bits / 32] (packed the same way
// along the outputs), base.scales [groups, out], base.g_idx int32 [in] when present. The values
// are scale[g, j] * (q[k, j] - zero[g, j]), with zero = the stored value + 1 in the "gptq"
// format. A layer of a `sym` checkpoint whose zeros are all 8 loads as q4_g32 / q4_g128 (the
// same values, without zero points). 8 bits: every zero must be 128 (symmetric), the layer loads as q8 (q - 128 in
// [-128, 127], the f16 scale as f32). Unsupported for an act-order g_idx that does not keep the
// inputs in group order.
Tensor gptq_packed_matrix(const WeightStore& store, const std::string& base, int64_t out, int64_t in,
                          const CheckpointQuantization& q);

// AWQ (GEMM): base.qweight int32 [in, out / 8], output 8c + kAwqOrder[i] of input k in bits
// 4i..4i+3 of qweight[k, c]; base.qzeros int32 [in / G, out / 8] packed the same way;
// base.scales [in / G, out]. The values are scale[g, j] * (q[k, j] - zero[g, j]).
Tensor awq_packed_matrix(const WeightStore& store, const std::string& base, int64_t out, int64_t in,
                         const CheckpointQuantization& q);

// AutoAWQ's packing order: nibble i of a word holds output kAwqOrder[i] of its 8 outputs.
inline constexpr int kAwqOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};

}  // namespace ia
