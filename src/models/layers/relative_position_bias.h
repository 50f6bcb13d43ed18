#pragma once
// T5's relative position bias (PositionKind::RelativeBias): a learned [num_buckets, heads] table
// indexed by the bucket of a key's position relative to the query's, added to the attention
// scores. The buckets are exact for small distances and logarithmic up to max_distance;
// bidirectional (an encoder: keys after the query get their own buckets) or unidirectional (a
// decoder: every key at or after the query shares bucket 0). The first layer of a stack owns the
// table and every layer of the stack adds the same bias.
//
// The attention ops take the bias per relative distance (PositionBias in backends/backend.h):
// [heads, 2W + 1] for distances -W .. W, clamped beyond. A bucket no longer changes past
// max_distance, so W = max_distance covers every sequence length exactly and the table is built
// once at load, on the host, independent of the step.
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/layers/weight_source.h"

namespace ia {

struct RelativeBiasSpec {
  int64_t heads = 0;
  int64_t num_buckets = 32;
  int64_t max_distance = 128;
  bool bidirectional = true;
};

// The bucket of `relative_position` (key position - query position), as transformers'
// T5Attention._relative_position_bucket computes it: the logarithmic part in f32, truncated.
int64_t relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                                 int64_t max_distance);

class RelativePositionBias {
 public:
  RelativePositionBias() = default;
  // Reads NAME.weight [num_buckets, heads]. Unsupported for a bucket layout that is not constant
  // past max_distance (so the clamped table would not be exact).
  static RelativePositionBias load(const WeightSource& w, const std::string& name, const RelativeBiasSpec& spec);
  static std::vector<std::string> tensor_names(const std::string& name) { return {name + ".weight"}; }

  // [heads, 2W + 1] f32 on the device: entry (h, d + W) is the bias of distance d = key - query.
  const Tensor& table() const { return table_; }
  int64_t max_distance() const { return (table_.size(1) - 1) / 2; }

  // The same table from a host [num_buckets, heads] f32 weight (tests).
  static Tensor distance_table(const Tensor& weight, const RelativeBiasSpec& spec);

 private:
  Tensor table_;
};

}  // namespace ia
