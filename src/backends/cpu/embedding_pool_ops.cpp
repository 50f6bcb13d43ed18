// Row lookups and reductions over tokens: embedding tables, sentence pooling.
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

void embedding_cpu(const Tensor& table, const Tensor& ids, Tensor& out) {
  check_contig(table, "embedding", "table");
  check_contig(ids, "embedding", "ids");
  check_f32(out, "embedding", "out");
  const int64_t V = table.size(0), H = table.size(1), n = ids.numel();
  const DType tt = table.dtype();
  const void* idp = ids.raw();
  const DType it = ids.dtype();
  for (int64_t i = 0; i < n; ++i) {
    int64_t id = load_index(idp, it, i);
    if (id < 0 || id >= V)
      fail(ErrorKind::InvalidArgument, "embedding: id {} at position {} is outside the table of {} rows", id, i, V);
  }
  float* o = out.data<float>();
  const Kernels& k = kernels();
  parallel_for(n, row_grain(H), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t id = load_index(idp, it, r);
      float* dst = o + r * H;
      if (tt == DType::F32) {
        std::memcpy(dst, table.data<float>() + id * H, static_cast<size_t>(H) * sizeof(float));
      } else if (tt == DType::BF16) {
        k.bf16_to_f32(table.data<uint16_t>() + id * H, dst, H);
      } else if (tt == DType::F16) {
        const uint16_t* s = table.data<uint16_t>() + id * H;
        for (int64_t j = 0; j < H; ++j) dst[j] = f16_to_f32(s[j]);
      } else {
        fail(ErrorKind::Unsupported, "cpu embedding: table dtype {}", dtype_name(tt));
      }
    }
  });
}

void pool_cpu(PoolMode mode, const Tensor& x, const Tensor& mask, Tensor& out) {
  check_f32(x, "pool", "x");
  check_contig(x, "pool", "x");
  const int64_t B = x.size(0), S = x.size(1), H = x.size(2);
  const float* xp = x.data<float>();
  float* o = out.data<float>();
  const void* mp = mask.raw();
  const DType mt = mask.dtype();
  const Shape& ms = mask.strides();
  parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<double> acc(static_cast<size_t>(H));
    for (int64_t b = b0; b < b1; ++b) {
      float* ob = o + b * H;
      const float* xb = xp + b * S * H;
      if (mode == PoolMode::Cls) {
        if (S > 0)
          std::memcpy(ob, xb, static_cast<size_t>(H) * sizeof(float));
        else
          std::fill(ob, ob + H, 0.0f);
        continue;
      }
      if (mode == PoolMode::Max) {
        // As sentence-transformers: padding tokens count as -1e9.
        std::fill(acc.begin(), acc.end(), S > 0 ? -1e300 : 0.0);
        for (int64_t s = 0; s < S; ++s) {
          const bool on = load_scalar(mp, mt, b * ms[0] + s * ms[1]) != 0;
          for (int64_t h = 0; h < H; ++h)
            acc[static_cast<size_t>(h)] =
                std::max(acc[static_cast<size_t>(h)], on ? static_cast<double>(xb[s * H + h]) : -1e9);
        }
        for (int64_t h = 0; h < H; ++h) ob[h] = static_cast<float>(acc[static_cast<size_t>(h)]);
        continue;
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      double count = 0;
      for (int64_t s = 0; s < S; ++s) {
        const double w = load_scalar(mp, mt, b * ms[0] + s * ms[1]);
        if (w == 0) continue;
        count += w;
        for (int64_t h = 0; h < H; ++h) acc[static_cast<size_t>(h)] += w * xb[s * H + h];
      }
      // sentence-transformers clamps the token count at 1e-9.
      const double denom = mode == PoolMode::Mean ? std::max(count, 1e-9) : std::sqrt(std::max(count, 1e-9));
      for (int64_t h = 0; h < H; ++h) ob[h] = static_cast<float>(acc[static_cast<size_t>(h)] / denom);
    }
  });
}

}  // namespace ia::cpu
