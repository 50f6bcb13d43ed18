// libFuzzer target for the safetensors header parser. Any input must either
// parse into tensors whose byte ranges lie inside the input, or throw
// ia::Error; any other exception, a crash or a sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "core/error.h"
#include "core/storage.h"
#include "core/tensor.h"
#include "formats/safetensors.h"

namespace {

// A non-owning storage over the fuzzer's input (aligned copy), so tensors can be built on it.
class SpanStorage final : public ia::Storage {
 public:
  SpanStorage(void* p, size_t n) : p_(p), n_(n) {}
  void* data() override { return p_; }
  size_t size_bytes() const override { return n_; }
  ia::Device device() const override { return ia::Device::cpu(); }

 private:
  void* p_;
  size_t n_;
};

volatile uint64_t g_sink = 0;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An aligned copy, as a mapping would be (page aligned).
  std::unique_ptr<uint8_t[]> buf(new uint8_t[size ? size : 1]);
  if (size) std::memcpy(buf.get(), data, size);
  try {
    ia::SafetensorsHeader h = ia::SafetensorsFile::parse_header(buf.get(), size, "fuzz-input");
    if (h.data_offset > size || h.data_offset + h.data_size != size) __builtin_trap();
    for (const auto& [k, v] : h.metadata) g_sink = g_sink + k.size() + v.size();
    for (const ia::TensorInfo& t : h.tensors) {
      if (t.begin > t.end || t.end > h.data_size || t.file_offset + t.nbytes() > size) __builtin_trap();
      // Touch every byte of the tensor.
      uint64_t acc = 0;
      for (size_t i = 0; i < t.nbytes(); ++i) acc += buf[t.file_offset + i];
      g_sink = g_sink + acc;
      if (!t.dtype) continue;
      const size_t esize = ia::dtype_size(*t.dtype);
      if (static_cast<size_t>(t.numel()) * esize != t.nbytes()) __builtin_trap();
      if ((t.file_offset % esize) != 0 || t.nbytes() > (1u << 20)) continue;  // open() copies misaligned data
      auto st = std::make_shared<SpanStorage>(buf.get() + t.file_offset, t.nbytes());
      ia::Tensor tensor(st, 0, t.shape, ia::contiguous_strides(t.shape), *t.dtype);
      if (tensor.nbytes() != t.nbytes()) __builtin_trap();
      if (ia::is_float(*t.dtype)) {
        for (float f : tensor.to_f32_vector()) g_sink = g_sink + static_cast<uint64_t>(f != f);
      }
    }
  } catch (const ia::Error&) {
    // Expected for malformed input.
  }
  return 0;
}
