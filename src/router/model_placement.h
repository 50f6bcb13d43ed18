#pragma once
// Where a `--model` argument's folder is and which dtype it runs in: what every
// Accelerator call and the HTTP server's model loading resolve first, so the CLI
// and the server place a model the same way.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/quantization.h"

namespace ia::router {

// The local folder of `model`: a folder as it is (canonical), else a CID, ipfs:// URL,
// registered name or Hugging Face id (model_source.h). NotFound when it is none; a file of
// a folder given for the folder is InvalidArgument saying what to pass instead.
std::string resolve_model_dir(const std::string& model);

// f32 or bf16 by name (also float32 / bfloat16); InvalidArgument otherwise.
DType parse_compute_dtype(const std::string& s);

// The dtype a request runs in. An explicit f32 or bf16 wins; "auto" (the default) is the
// checkpoint's own, config.json's torch_dtype (transformers 5 writes dtype): bfloat16 runs in
// bf16, float16 in bf16 too (this build has no f16 compute; a warning says so), anything else
// and none in f32. An unreadable config.json is left to the load to report.
DType resolve_compute_dtype(const std::string& requested, const std::string& dir, std::vector<std::string>& warnings);

// The device a request runs on (runtime/device_selection.h): "auto" is the device a measured
// placement (below) names, else the GPU with the most free memory whose --gpu-memory-fraction share
// holds the folder's weights in `dtype`, else the CPU. With `quantization` enabled, "auto" is the
// CPU (the backend with linears for packed weights); so it is when the device it would pick has
// no KV cache of `kv_cache_dtype` (--kv-cache-dtype int8 on a GPU build without it), logged.
Device placement_device(const std::string& requested, const std::string& dir, DType dtype,
                        const WeightQuantization& quantization = {}, DType kv_cache_dtype = DType::F32);

// "auto" by the rule alone: the GPU with the most free memory whose share holds the weights in
// `dtype`, else the CPU (what `hardware --recommend` explains when there are no measurements).
Device rule_placement_device(const std::string& dir, DType dtype);

// Where measurements say a model folder runs fastest in `dtype`, among the devices usable now;
// nullopt where there are none to go by. The CLI installs the benchmark database's
// (benchmarks/placement_advice.h): the router cannot depend on the layer that benchmarks it.
using MeasuredPlacement = std::function<std::optional<Device>(const std::string& dir, DType dtype)>;
// Installs `placement` for every later "auto" (empty: none, the default).
void set_measured_placement(MeasuredPlacement placement);

}  // namespace ia::router
