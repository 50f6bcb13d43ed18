#pragma once
// Writing a model folder as a GPTQ checkpoint (`ipfs-accelerate quantize`, docs/quantization.md):
// the layer matrices `--quantize METHOD` packs are stored by GPTQ's published packing rules, so
// that this project's loader, vLLM, GPTQModel and transformers + optimum read the folder.
//
//   int8     bits 8, group_size -1 (one f16 scale per output channel), sym: q + 128 in 8 bits
//   q4       bits 4, group_size 32, sym (zero 8)          q4_128   the same with groups of 128
//   q4z      bits 4, group_size 32, sym false (zeros)     q4z_128  the same with groups of 128
//
// The 4-bit layers hold exactly the grid `--quantize METHOD` packs at load (the same rounding,
// f16 scales), so loading the folder gives the same weights bit for bit. int8's scale is
// rounded to f16 first (GPTQ stores f16 scales) and the quants taken against it, so it is within
// one f16 rounding of `--quantize int8`'s f32 scale. Embeddings and the LM head stay as they
// are, as GPTQ keeps them; so do layers the method cannot pack (inputs not a multiple of the
// group, outputs not a multiple of 8), which the config names (modules_in_block_to_quantize,
// dynamic).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "formats/safetensors.h"

namespace ia {

// One layer's GPTQ tensors ("gptq" checkpoint format: zeros stored minus one, unless
// zeros_minus_one is false: "gptq_v2").
struct GptqLayerTensors {
  Tensor qweight;  // int32 [in * bits / 32, out]
  Tensor qzeros;   // int32 [groups, out * bits / 32]
  Tensor scales;   // f16 [groups, out]
  Tensor g_idx;    // int32 [in]
};

// A packed matrix of `in` inputs (core/quantization.h: Q8 with an f16-exact scale, Q4G*, Q4ZG*)
// as GPTQ tensors. InvalidArgument when it cannot be stored (outputs or inputs not a multiple
// of what the width packs in a word, a Q8 scale that is not f16-exact, a v1 zero point of 0).
GptqLayerTensors gptq_layer_tensors(const Tensor& packed, int64_t in, bool zeros_minus_one);

// Whether every zero point of a Q4Z matrix is at least 1 (storable as zero - 1 in the "gptq"
// format; 0 would read back as 16).
bool gptq_v1_storable(const Tensor& packed, int64_t in);

// w [out, in] f32 as Q8 with scale = f16(max|w| / 127) and q = nearest(w / scale) in [-127, 127]:
// GPTQ 8-bit's grid (f16 scales).
Tensor quantize_q8_f16_scale(const Tensor& w);

// Whether write_gptq_folder packs `layer` under `method` (else it stays as stored).
bool gptq_packs(const WeightQuantization& method, const WeightStore::PackedLayer& layer);
// The bytes of the tensors write_gptq_folder would write (the header aside).
int64_t gptq_tensor_bytes(const WeightStore& store, const std::vector<WeightStore::PackedLayer>& layers,
                          const std::string& method);

struct GptqExportSummary {
  std::string method, checkpoint_format;
  int bits = 4;
  int64_t group_size = 0;
  std::vector<std::string> packed, kept;  // layer names (without ".weight")
  int64_t bytes = 0;                      // model.safetensors
};

// Writes `store`'s model as a GPTQ folder at `out`: model.safetensors (the layers in `layers`
// packed by `method`, everything else as stored), config.json with quantization_config,
// quantize_config.json, and every other file of the folder (tokenizer, generation config, ...).
// Written to a temporary folder beside `out`, opened and every packed layer read back through
// the loader, then renamed into place: never a half-written folder. InvalidArgument for an
// existing non-empty `out` unless `force`, for a store that is already quantized, or when no
// layer can be packed.
GptqExportSummary write_gptq_folder(const WeightStore& store, const std::vector<WeightStore::PackedLayer>& layers,
                                    const std::string& method, const std::string& out, bool force);

}  // namespace ia
