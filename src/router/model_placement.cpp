// Model folders and compute dtypes, resolved once for the Accelerator and the server.
#include "router/model_placement.h"

#include <filesystem>

#include "backends/backend.h"
#include "core/error.h"
#include "core/kv_quantization.h"
#include "core/logging.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/model_registry.h"
#include "router/model_source.h"
#include "runtime/device_selection.h"

namespace ia::router {

namespace fs = std::filesystem;

std::string resolve_model_dir(const std::string& model) {
  if (model.empty()) fail(ErrorKind::InvalidArgument, "no model given (--model DIR)");
  std::error_code ec;
  if (!fs::exists(model, ec)) {
    if (auto dir = resolve_model_source(model)) return *dir;  // a CID, ipfs:// URL or registered name
    fail(ErrorKind::NotFound, "{}: model folder does not exist", model);
  }
  if (!fs::is_directory(model, ec)) {
    // A file of the folder given for the folder: say what to pass instead.
    const fs::path file(model);
    if (file.extension() == ".safetensors")
      fail(ErrorKind::InvalidArgument, "{}: --model takes a folder; pass the folder that holds it: {}", model,
           file.parent_path().empty() ? "." : file.parent_path().string());
    if (file.extension() == ".gguf")
      fail(ErrorKind::Unsupported,
           "{}: GGUF is not supported yet; use the Hugging Face folder (config.json + *.safetensors)", model);
    fail(ErrorKind::InvalidArgument, "{}: not a folder", model);
  }
  return fs::weakly_canonical(model, ec).string();
}

DType parse_compute_dtype(const std::string& s) {
  if (s == "f32" || s == "float32") return DType::F32;
  if (s == "bf16" || s == "bfloat16") return DType::BF16;
  fail(ErrorKind::InvalidArgument, "unsupported dtype \"{}\" (expected auto, f32 or bf16)", s);
}

DType resolve_compute_dtype(const std::string& requested, const std::string& dir, std::vector<std::string>& warnings) {
  if (requested != "auto") return parse_compute_dtype(requested);
  std::string stored;
  try {
    const HfConfig cfg = HfConfig::load(dir);
    stored = cfg.get_string("torch_dtype", cfg.get_string("dtype", ""));
  } catch (const Error&) {
    return DType::F32;
  }
  if (stored == "bfloat16") return DType::BF16;
  if (stored == "float16") {
    warnings.emplace_back(
        "the checkpoint is float16; running it in bf16 (no f16 compute on this build; --dtype f32 for full "
        "precision)");
    spdlog::warn("{}", warnings.back());
    return DType::BF16;
  }
  return DType::F32;
}

namespace {
MeasuredPlacement& measured_placement() {
  static MeasuredPlacement placement;
  return placement;
}
}  // namespace

void set_measured_placement(MeasuredPlacement placement) {
  measured_placement() = std::move(placement);
}

namespace {

// "auto" before the KV cache dtype has its say.
Device auto_device(const std::string& dir, DType dtype, const WeightQuantization& quantization) {
  // Packed weights run on the CPU backend only, for now (docs/quantization.md).
  if (quantization.enabled()) return Device::cpu();
  if (measured_placement()) {
    // Advice is only ever a device usable now; a failure to read the measurements is the rule's turn.
    try {
      if (auto device = measured_placement()(dir, dtype)) return *device;
    } catch (const Error& e) {
      spdlog::debug("placement from measurements skipped: {}", e.what());
    }
  }
  return rule_placement_device(dir, dtype);
}

}  // namespace

Device placement_device(const std::string& requested, const std::string& dir, DType dtype,
                        const WeightQuantization& quantization, DType kv_cache_dtype) {
  if (requested != "auto") return choose_device(requested);
  const Device device = auto_device(dir, dtype, quantization);
  // An int8 KV cache runs where the backend keeps one (the CPU's, docs/quantization.md#kv-cache).
  if (!device.is_cpu() && !backend_for(device).supports(OpKind::PagedAttention, kv_cache_dtype)) {
    spdlog::info("{}: runs on the CPU: the {} backend has no {} KV cache", dir, backend_for(device).name(),
                 kv_cache_dtype_name(kv_cache_dtype));
    return Device::cpu();
  }
  return device;
}

Device rule_placement_device(const std::string& dir, DType dtype) {
  if (!has_backend(Device::cuda(0))) return choose_device("auto");
  // Sizing the weights reads the safetensors headers only; a folder the load would refuse is
  // left to the load to report.
  int64_t bytes = 0;
  try {
    auto weights = WeightStore::open(dir);
    // A pre-quantized checkpoint loads packed: the CPU runs it (docs/quantization.md).
    if (weights->checkpoint_quantization()) return Device::cpu();
    bytes = weights_device_bytes(*weights, dtype);
  } catch (const Error&) {
  }
  return choose_device("auto", bytes);
}

}  // namespace ia::router
