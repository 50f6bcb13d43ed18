#include "preprocess/video/frame_sampling.h"

#include <algorithm>

namespace ia::video {

std::vector<int64_t> uniform_frame_indices(int64_t total, int64_t count) {
  std::vector<int64_t> out;
  if (total < 1 || count < 1) return out;
  const double step = static_cast<double>(total) / static_cast<double>(count);
  out.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i)
    out.push_back(std::min(total - 1, static_cast<int64_t>(static_cast<double>(i) * step)));
  return out;
}

}  // namespace ia::video
