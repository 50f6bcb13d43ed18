#include "server/media_decoding.h"

#include <span>

#include "core/error.h"
#include "preprocess/image/image_decoder.h"

namespace ia::server {

namespace {

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

std::vector<image::RgbImage> decode_request_images(const ImageRequest& r) {
  image::ImageLimits limits;
  limits.kind = ErrorKind::InvalidArgument;
  std::vector<image::RgbImage> decoded;
  decoded.reserve(r.images.size());
  for (size_t i = 0; i < r.images.size(); ++i)
    decoded.push_back(image::decode_image_bytes(bytes_of(r.images[i]), r.names[i], limits).image);
  return decoded;
}

video::DecodedVideo decode_request_video(const VideoItem& v, int64_t num_frames) {
  video::VideoLimits limits;
  limits.kind = ErrorKind::InvalidArgument;
  if (!v.is_frames()) return video::decode_video_bytes(bytes_of(v.file), v.name, num_frames, limits);
  std::vector<std::span<const uint8_t>> frames;
  frames.reserve(v.frames.size());
  for (const auto& f : v.frames) frames.push_back(bytes_of(f));
  return video::decode_frame_images(frames, v.frame_names, v.name, num_frames, limits);
}

}  // namespace ia::server
