#pragma once
// The images and videos of a request decoded by the front ends within their limits, every
// refusal the client's (ErrorKind::InvalidArgument: a 400 naming the input). A video file needs
// FFmpeg's libraries, loaded at run time: where they are missing, Unavailable (503) names them.
#include <cstdint>
#include <vector>

#include "preprocess/image/rgb_image.h"
#include "preprocess/video/video_decoder.h"
#include "server/image_inputs.h"
#include "server/zero_shot_request.h"

namespace ia::server {

std::vector<image::RgbImage> decode_request_images(const ImageRequest& r);
// `num_frames` frames of a video (its file decoded, or its frames sampled and decoded), as the
// CLI's `similarity --video` takes them from a file or a folder of frames.
video::DecodedVideo decode_request_video(const VideoItem& v, int64_t num_frames);

}  // namespace ia::server
