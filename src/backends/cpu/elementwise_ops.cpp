// Elementwise ops: activations, add, softmax, argmax and top-k over rows, gated activations (SwiGLU,
// GEGLU), dtype casts.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backends/cpu/cpu_common.h"
#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/kernels.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace ia::cpu {

void activation_cpu(Activation act, const Tensor& x, Tensor& out) {
  check_f32(x, "activation", "x");
  check_contig(x, "activation", "x");
  const int64_t n = x.numel();
  const float* xp = x.data<float>();
  float* o = out.data<float>();
  const Kernels& k = kernels();
  parallel_for(n, 16384, [&](int64_t b, int64_t e) { activation_row(k, act, xp + b, o + b, e - b); });
}

void add_cpu(const Tensor& a, const Tensor& b, Tensor& out) {
  check_f32(a, "add", "a");
  check_f32(b, "add", "b");
  check_contig(a, "add", "a");
  check_contig(b, "add", "b");
  const int64_t n = a.numel(), m = b.numel();
  if (n == 0) return;
  IA_CHECK(m > 0 && n % m == 0, "cpu add: {} + {}", a.describe(), b.describe());
  const float* ap = a.data<float>();
  const float* bp = b.data<float>();
  float* o = out.data<float>();
  const Kernels& k = kernels();
  if (m == n) {
    parallel_for(n, 16384, [&](int64_t s, int64_t e) { k.add(ap + s, bp + s, o + s, e - s); });
  } else {
    parallel_for(n / m, row_grain(m), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) k.add(ap + r * m, bp, o + r * m, m);
    });
  }
}

void softmax_cpu(const Tensor& x, Tensor& out) {
  check_f32(x, "softmax", "x");
  check_contig(x, "softmax", "x");
  const int64_t n = x.size(-1), rows = n ? x.numel() / n : 0;
  const float* xp = x.data<float>();
  float* o = out.data<float>();
  const Kernels& k = kernels();
  parallel_for(rows, row_grain(n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) k.softmax(xp + r * n, o + r * n, n);
  });
}

void argmax_cpu(const Tensor& x, Tensor& out) {
  check_f32(x, "argmax", "x");
  check_contig(x, "argmax", "x");
  const int64_t n = x.size(-1), rows = n ? x.numel() / n : 0;
  const float* xp = x.data<float>();
  int32_t* o = out.data<int32_t>();
  parallel_for(rows, std::max<int64_t>(1, 65536 / std::max<int64_t>(n, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      o[r] = static_cast<int32_t>(std::max_element(xp + r * n, xp + r * n + n) - (xp + r * n));
  });
}

void top_k_cpu(const Tensor& x, int64_t k, Tensor& values, Tensor& ids) {
  check_f32(x, "top_k", "x");
  check_contig(x, "top_k", "x");
  const int64_t n = x.size(-1), rows = n ? x.numel() / n : 0;
  const float* xp = x.data<float>();
  parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
    std::vector<int32_t> order(static_cast<size_t>(n));
    for (int64_t r = r0; r < r1; ++r) {
      const float* row = xp + r * n;
      for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = static_cast<int32_t>(i);
      std::partial_sort(order.begin(), order.begin() + k, order.end(),
                        [row](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
      for (int64_t j = 0; j < k; ++j) {
        values.data<float>()[r * k + j] = row[order[static_cast<size_t>(j)]];
        ids.data<int32_t>()[r * k + j] = order[static_cast<size_t>(j)];
      }
    }
  });
}

void gated_activation_cpu(Activation act, const Tensor& x, Tensor& out) {
  IA_CHECK(x.dtype() == DType::F32 && x.is_contiguous(), "cpu gated_activation: x {}", x.describe());
  IA_CHECK(out.dtype() == DType::F32 || out.dtype() == DType::BF16, "cpu gated_activation: out {}", out.describe());
  const int64_t I = out.size(-1), rows = I ? out.numel() / I : 0;
  const float* xp = x.data<float>();
  const Kernels& k = kernels();
  // One row: act(gate) * up into y (SiLU through the fused kernel, others as the activation op).
  auto row = [&](int64_t r, float* y) {
    const float* gate = xp + r * 2 * I;
    const float* up = gate + I;
    if (act == Activation::Silu) {
      k.swiglu(gate, up, y, I);
      return;
    }
    activation_row(k, act, gate, y, I);
    for (int64_t i = 0; i < I; ++i) y[i] *= up[i];
  };
  if (out.dtype() == DType::BF16) {
    uint16_t* o = out.data<uint16_t>();
    parallel_for(rows, row_grain(2 * I), [&](int64_t r0, int64_t r1) {
      thread_local std::vector<float> buf;
      if (buf.size() < static_cast<size_t>(I)) buf.resize(static_cast<size_t>(I));
      for (int64_t r = r0; r < r1; ++r) {
        row(r, buf.data());
        k.f32_to_bf16(buf.data(), o + r * I, I);
      }
    });
    return;
  }
  float* o = out.data<float>();
  parallel_for(rows, row_grain(2 * I), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) row(r, o + r * I);
  });
}

void cast_cpu(const Tensor& x, Tensor& out) {
  check_contig(x, "cast", "x");
  const int64_t n = x.numel();
  const DType from = x.dtype(), to = out.dtype();
  if (from == to) {
    std::memcpy(out.raw(), x.raw(), x.nbytes());
    return;
  }
  const Kernels& k = kernels();
  if (from == DType::F32 && to == DType::BF16) {
    parallel_for(n, 16384,
                 [&](int64_t b, int64_t e) { k.f32_to_bf16(x.data<float>() + b, out.data<uint16_t>() + b, e - b); });
    return;
  }
  if (from == DType::BF16 && to == DType::F32) {
    parallel_for(n, 16384,
                 [&](int64_t b, int64_t e) { k.bf16_to_f32(x.data<uint16_t>() + b, out.data<float>() + b, e - b); });
    return;
  }
  const void* src = x.raw();
  void* dst = out.raw();
  if (from == DType::I64 || to == DType::I64) {
    // Integer paths keep values beyond 2^53 exact.
    if (from == DType::I64 && !is_float(to)) {
      for (int64_t i = 0; i < n; ++i) {
        int64_t v = static_cast<const int64_t*>(src)[i];
        if (to == DType::I32)
          static_cast<int32_t*>(dst)[i] = static_cast<int32_t>(v);
        else
          store_scalar(dst, to, i, static_cast<double>(v));
      }
      return;
    }
    if (to == DType::I64 && !is_float(from)) {
      for (int64_t i = 0; i < n; ++i) static_cast<int64_t*>(dst)[i] = load_index(src, from, i);
      return;
    }
  }
  parallel_for(n, 16384, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) store_scalar(dst, to, i, load_scalar(src, from, i));
  });
}

}  // namespace ia::cpu
