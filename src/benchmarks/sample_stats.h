#pragma once
// The spread of repeated timings: min, median and p90 (nearest rank), as llama-bench and vLLM's
// bench report them, plus the mean.
#include <vector>

namespace ia::benchmarks {

struct SampleStats {
  int count = 0;
  double min = 0, median = 0, p90 = 0, mean = 0, max = 0;
};

// The statistics of `samples` (any order); all zero for none. The median of an even count is the
// mean of the middle two; p90 is the smallest sample with at least 90% of them at or below it.
SampleStats sample_stats(std::vector<double> samples);

}  // namespace ia::benchmarks
