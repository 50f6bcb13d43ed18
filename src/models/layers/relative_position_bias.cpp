#include "models/layers/relative_position_bias.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "ops/ops.h"

namespace ia {

int64_t relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                                 int64_t max_distance) {
  int64_t bucket = 0;
  int64_t n = relative_position;
  if (bidirectional) {
    num_buckets /= 2;
    if (n > 0) bucket += num_buckets;
    n = n < 0 ? -n : n;
  } else {
    n = n < 0 ? -n : 0;  // keys after the query all land in bucket 0
  }
  const int64_t max_exact = num_buckets / 2;
  if (n < max_exact) return bucket + n;
  // torch: max_exact + (log(n.float() / max_exact) / math.log(max_distance / max_exact) *
  // (num_buckets - max_exact)).to(long): f32 tensor arithmetic with the Python scalars as f32.
  const float x = static_cast<float>(n) / static_cast<float>(max_exact);
  const auto denom = static_cast<float>(std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)));
  const float scaled = std::log(x) / denom * static_cast<float>(num_buckets - max_exact);
  const int64_t large = max_exact + static_cast<int64_t>(scaled);
  return bucket + std::min(large, num_buckets - 1);
}

Tensor RelativePositionBias::distance_table(const Tensor& weight, const RelativeBiasSpec& s) {
  IA_CHECK(
      weight.dtype() == DType::F32 && weight.dim() == 2 && weight.size(0) == s.num_buckets && weight.size(1) == s.heads,
      "relative bias: weight {} for {} buckets of {} heads", weight.describe(), s.num_buckets, s.heads);
  const int64_t W = s.max_distance, H = s.heads;
  Tensor w = weight.contiguous();
  Tensor t = Tensor::empty({H, 2 * W + 1}, DType::F32);
  for (int64_t d = -W; d <= W; ++d) {
    const int64_t b = relative_position_bucket(d, s.bidirectional, s.num_buckets, s.max_distance);
    for (int64_t h = 0; h < H; ++h) t.data<float>()[h * (2 * W + 1) + d + W] = w.data<float>()[b * H + h];
  }
  return t;
}

RelativePositionBias RelativePositionBias::load(const WeightSource& w, const std::string& name,
                                                const RelativeBiasSpec& s) {
  const std::string& dir = w.store().dir();
  if (s.heads <= 0 || s.num_buckets < 2 || s.num_buckets > (int64_t{1} << 16) || s.max_distance < 1 ||
      s.max_distance > (int64_t{1} << 20))
    fail(ErrorKind::Corrupt, "{}: relative attention with {} buckets and max distance {} is not valid", dir,
         s.num_buckets, s.max_distance);
  // The clamped table is exact only if no bucket changes past max_distance (true of T5's layout
  // whenever max_distance reaches past the exact buckets).
  for (int64_t sign : {-1, 1}) {
    const int64_t edge =
        relative_position_bucket(sign * s.max_distance, s.bidirectional, s.num_buckets, s.max_distance);
    for (int64_t far : {s.max_distance + 1, 2 * s.max_distance, 64 * s.max_distance})
      if (relative_position_bucket(sign * far, s.bidirectional, s.num_buckets, s.max_distance) != edge)
        fail(ErrorKind::Unsupported,
             "{}: relative attention buckets ({} buckets, max distance {}) change past the max distance", dir,
             s.num_buckets, s.max_distance);
  }
  RelativePositionBias r;
  Tensor weight = w.store().get_as(w.prefix() + name + ".weight", DType::F32, {s.num_buckets, s.heads});
  r.table_ = ops::to_device(distance_table(weight, s), w.device());
  return r;
}

}  // namespace ia
