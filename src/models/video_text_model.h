#pragma once
// The interface of a video-text retrieval model (X-CLIP): a text tower and a video tower projected
// into one space, where — unlike CLIP — each text's embedding is conditioned on the video it is
// compared with (X-CLIP's video-specific prompts), so text features come in two stages.
#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "models/step_inputs.h"

namespace ia {

// What the video tower gives per video, on the device.
struct VideoFeatures {
  Tensor video_embeds;    // [V, projection_dim] f32: get_video_features (not normalized)
  Tensor prompt_context;  // [V * N, projection_dim] f32: each video's N patch features the prompts attend to
  int64_t videos = 0, context_rows = 0;  // V, N
};

class VideoTextModel {
 public:
  virtual ~VideoTextModel() = default;

  virtual int64_t num_frames() const = 0;  // frames per video the model was built for
  virtual int64_t projection_dim() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t max_text_tokens() const = 0;
  virtual float logit_scale() const = 0;  // exp(logit_scale)
  virtual DType compute_dtype() const = 0;
  virtual Device device() const = 0;

  // Projected text features before any video conditions them (get_text_features): [S, P] f32 on
  // the device. `step` packs the S texts; `ids` are the same ids on the host.
  virtual Tensor text_features(const StepInputs& step, const std::vector<std::span<const int32_t>>& ids) const = 0;
  // pixel_values [V * num_frames, C, H, W] f32, each video's frames in order.
  virtual VideoFeatures video_features(const Tensor& pixel_values) const = 0;
  // The S text features conditioned on each of the V videos: [V * S, P] f32 (XCLIPModel's
  // text_embeds before normalization), video-major.
  virtual Tensor video_text_features(const Tensor& text_features, const VideoFeatures& video) const = 0;
};

}  // namespace ia
