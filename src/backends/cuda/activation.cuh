#pragma once
// The activations of the linear epilogues and elementwise kernels, as device functions chosen at
// compile time (kAct: an Act, or kNoAct for none), and with_act to turn the runtime choice into
// that template argument. Shared by the elementwise kernels and the decode GEMV, which fuses its
// epilogue. The math follows the CPU's generic kernels (backends/cpu/kernels_generic.cpp) with
// the accurate (non-intrinsic) libdevice functions.
#include <type_traits>

#include "backends/cuda/kernels.h"

namespace ia::cuda {

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;

// kAct: an Act, or -1 for none (the epilogue without an activation).
constexpr int kNoAct = -1;

template <int kAct>
__device__ __forceinline__ float act_fn(float v) {
  if constexpr (kAct == static_cast<int>(Act::GeluErf)) {
    // For v < 0, erfc keeps the relative accuracy where 1 + erf cancels.
    return v >= 0.0f ? 0.5f * v * (1.0f + erff(v * kInvSqrt2)) : 0.5f * v * erfcf(-v * kInvSqrt2);
  } else if constexpr (kAct == static_cast<int>(Act::GeluTanh)) {
    const float u = kSqrt2OverPi * (v + 0.044715f * v * v * v);
    // 0.5 v (1 + tanh u) == v / (1 + exp(-2u)), without cancellation.
    return v / (1.0f + expf(-2.0f * u));
  } else if constexpr (kAct == static_cast<int>(Act::Tanh)) {
    return tanhf(v);
  } else if constexpr (kAct == static_cast<int>(Act::Relu)) {
    return v > 0.0f ? v : 0.0f;  // NaN -> 0, as the CPU
  } else if constexpr (kAct == static_cast<int>(Act::Silu)) {
    return v / (1.0f + expf(-v));
  } else if constexpr (kAct == static_cast<int>(Act::QuickGelu)) {
    return v / (1.0f + expf(-1.702f * v));
  } else {
    return v;
  }
}

template <int A>
using ActTag = std::integral_constant<int, A>;

// f(ActTag<kAct>) for the activation (kNoAct when !has_act).
template <class F>
void with_act(bool has_act, Act act, F&& f) {
  if (!has_act) return f(ActTag<kNoAct>{});
  switch (act) {
    case Act::GeluErf: return f(ActTag<static_cast<int>(Act::GeluErf)>{});
    case Act::GeluTanh: return f(ActTag<static_cast<int>(Act::GeluTanh)>{});
    case Act::Tanh: return f(ActTag<static_cast<int>(Act::Tanh)>{});
    case Act::Relu: return f(ActTag<static_cast<int>(Act::Relu)>{});
    case Act::Silu: return f(ActTag<static_cast<int>(Act::Silu)>{});
    case Act::QuickGelu: return f(ActTag<static_cast<int>(Act::QuickGelu)>{});
  }
}

}  // namespace ia::cuda
