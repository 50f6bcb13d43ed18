// The generic quantized-linear kernels (plain C++) and the choice of table at run time.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backends/cpu/quant_kernels.h"
#include "core/quantization.h"

namespace ia::cpu {
namespace {

void quantize_row(const float* x, int64_t K, int8_t* q, float* d, float* ds) {
  const int64_t Kp = quant_padded_k(K);
  for (int64_t b0 = 0; b0 < Kp; b0 += kActBlock) {
    const int64_t n = std::clamp<int64_t>(K - b0, 0, kActBlock);
    float amax = 0;
    for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[b0 + i]));
    const float scale = amax / 127.0f;
    const float inv = scale != 0 ? 1.0f / scale : 0.0f;
    int sum = 0;
    for (int64_t i = 0; i < kActBlock; ++i) {
      int v = 0;
      if (i < n) v = static_cast<int>(std::clamp(std::nearbyint(x[b0 + i] * inv), -127.0f, 127.0f));
      q[b0 + i] = static_cast<int8_t>(v);
      sum += v;
    }
    d[b0 / kActBlock] = scale;
    ds[b0 / kActBlock] = scale * static_cast<float>(sum);
  }
}

int nibble(const uint8_t* quants, int64_t i) {
  const uint8_t b = quants[i / 64 * 32 + i % 32];
  return i % 64 < 32 ? (b & 0x0f) : (b >> 4);
}

void gemv(DType wt, const QuantizedActivations& x, const uint8_t* w, int64_t ldw, const float* bias, float* y,
          int64_t ldy, int64_t j0, int64_t j1) {
  const int64_t K = x.K, Kp = x.Kp;
  const int64_t blocks = (K + kActBlock - 1) / kActBlock;  // blocks past K hold only padding
  const int64_t G = quant_group_size(wt);
  std::vector<int8_t> v(static_cast<size_t>(Kp), 0);  // the row's q - zero
  std::vector<float> block_scale(static_cast<size_t>(blocks));
  for (int64_t j = j0; j < j1; ++j) {
    const uint8_t* row = w + j * ldw;
    float row_scale = 1.0f;
    if (wt == DType::Q8) {
      std::memcpy(v.data(), row, static_cast<size_t>(K));
      std::memcpy(&row_scale, row + quant_scales_offset(wt, K), 4);
      std::fill(block_scale.begin(), block_scale.end(), 1.0f);
    } else {
      const uint8_t* scales = row + quant_scales_offset(wt, K);
      const uint8_t* zeros = row + quant_zeros_offset(wt, K);
      for (int64_t g = 0; g < K / G; ++g) {
        uint16_t s16;
        std::memcpy(&s16, scales + 2 * g, 2);
        const int zero = quant_has_zero_point(wt) ? zeros[g] : 8;
        for (int64_t i = g * G; i < (g + 1) * G; ++i)
          v[static_cast<size_t>(i)] = static_cast<int8_t>(nibble(row, i) - zero);
        for (int64_t b = g * G / kActBlock; b < (g + 1) * G / kActBlock; ++b)
          block_scale[static_cast<size_t>(b)] = f16_to_f32(s16);
      }
    }
    for (int64_t m = 0; m < x.M; ++m) {
      const int8_t* q = x.q + m * Kp;
      const float* d = x.d + m * (Kp / kActBlock);
      float acc = 0;
      for (int64_t b = 0; b < blocks; ++b) {
        int32_t dot = 0;
        for (int64_t i = b * kActBlock; i < (b + 1) * kActBlock; ++i)
          dot += static_cast<int32_t>(q[i]) * v[static_cast<size_t>(i)];
        acc += block_scale[static_cast<size_t>(b)] * d[b] * static_cast<float>(dot);
      }
      y[m * ldy + j] = row_scale * acc + (bias ? bias[j] : 0.0f);
    }
  }
}

const QuantKernels kGeneric{QuantIsa::Generic, "generic", quantize_row, gemv};

std::atomic<const QuantKernels*>& forced() {
  static std::atomic<const QuantKernels*> f{nullptr};
  return f;
}

const QuantKernels* table_for(QuantIsa isa) {
  switch (isa) {
    case QuantIsa::Generic: return &kGeneric;
    case QuantIsa::Avx2: return avx2_quant_kernels();
    case QuantIsa::Avx512Vnni: return avx512_quant_kernels();
  }
  return nullptr;
}

}  // namespace

const QuantKernels& generic_quant_kernels() {
  return kGeneric;
}

const QuantKernels& quant_kernels() {
  if (const QuantKernels* f = forced().load(std::memory_order_relaxed)) return *f;
  static const QuantKernels* best = [] {
    const char* env = std::getenv("IA_CPU_ISA");
    if (env && std::strcmp(env, "generic") == 0) return &kGeneric;
    if (const QuantKernels* k = avx512_quant_kernels()) return k;
    if (const QuantKernels* k = avx2_quant_kernels()) return k;
    return &kGeneric;
  }();
  return *best;
}

bool quant_isa_available(QuantIsa isa) {
  return table_for(isa) != nullptr;
}

bool force_quant_isa(QuantIsa isa) {
  const QuantKernels* k = table_for(isa);
  if (!k) return false;
  forced().store(k, std::memory_order_relaxed);
  return true;
}

void reset_quant_isa() {
  forced().store(nullptr, std::memory_order_relaxed);
}

}  // namespace ia::cpu
