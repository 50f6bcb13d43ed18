// libFuzzer target for pre-quantized checkpoints (formats/checkpoint_quantization.h): the input
// is config.json's text, a NUL byte, then a model.safetensors image. Both are written to a
// temporary folder, opened as a WeightStore (which reads quantization_config: GPTQ 4 or 8 bits,
// AWQ), and every "X.qweight" is unpacked as a layer of the sizes its qweight implies under the
// config's method (GPTQ [in * bits / 32, out], AWQ [in, out / 8]; bounded). Each step
// must either succeed or throw an ia::Error of a user kind; anything else (another exception,
// Internal, a crash or a sanitizer report) is a bug.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "formats/checkpoint_quantization.h"
#include "formats/safetensors.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

const std::string& folder() {
  static const std::string dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ia-fuzz-gptq-XXXXXX").string();
    check(::mkdtemp(tmpl.data()) != nullptr);
    return tmpl;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  if (nul == std::string::npos) return 0;
  std::ofstream(folder() + "/config.json", std::ios::binary | std::ios::trunc) << input.substr(0, nul);
  std::ofstream(folder() + "/model.safetensors", std::ios::binary | std::ios::trunc) << input.substr(nul + 1);
  try {
    auto store = ia::WeightStore::open(folder());
    const ia::CheckpointQuantization* q = store->checkpoint_quantization();
    if (!q) return 0;
    for (const std::string& name : store->names()) {
      static constexpr std::string_view kSuffix = ".qweight";
      if (name.size() <= kSuffix.size() || name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
        continue;
      const ia::TensorInfo& info = store->info(name);
      if (info.shape.size() != 2) continue;
      const bool awq = q->method == "awq";
      const int64_t in = awq ? info.shape[0] : info.shape[0] * (32 / q->bits);
      const int64_t out = awq ? info.shape[1] * 8 : info.shape[1];
      if (in <= 0 || out <= 0 || in * out > (int64_t{1} << 20)) continue;
      const std::string base = name.substr(0, name.size() - kSuffix.size());
      try {
        const ia::Tensor t = ia::checkpoint_packed_matrix(*store, base, out, in, *q);
        check(t.size(0) == out);
      } catch (const ia::Error& e) {
        check(e.kind() != ia::ErrorKind::Internal);
      }
    }
  } catch (const ia::Error& e) {
    check(e.kind() != ia::ErrorKind::Internal);
  }
  return 0;
}
