#pragma once
// Which frames of a video a video-text model sees: `count` indices spread evenly over `total`
// frames, as transformers' uniform sampling picks them (get_uniform_frame_indices:
// np.arange(0, total, total / count).astype(int)): index i is floor(i * (total / count)), the
// quotient and product in double as numpy computes them. The first frame is always taken; a
// video shorter than `count` repeats frames (4 of 2 frames: 0, 0, 1, 1).
#include <cstdint>
#include <vector>

namespace ia::video {

// `count` indices in [0, total), non-decreasing; empty when total or count is below 1.
std::vector<int64_t> uniform_frame_indices(int64_t total, int64_t count);

}  // namespace ia::video
