#pragma once
// Videos as the frames a video-text model (X-CLIP) takes: `count` frames sampled evenly
// (frame_sampling.h) from a video file decoded with FFmpeg's libraries (libavformat demuxes MP4 /
// MOV, Matroska / WebM and AVI; libavcodec decodes whatever the stream holds that Debian's build
// decodes; libswscale converts to 8-bit RGB), or from a folder of frame images (image_decoder.h),
// taken in file-name order.
//
// Frames are counted by demuxing (one packet per frame: containers such as Matroska carry no frame
// count), then the video is decoded once from the start and the sampled frames, in presentation
// order, converted to RGB (bilinear chroma, the colour matrix and range the stream declares). A
// stream that decodes to fewer frames than it has packets is sampled again over the frames it
// decoded.
//
// Input is untrusted. Only the container formats above are opened (no other demuxer, no
// protocol: nothing a file names is fetched); the sides and pixels of the stream are checked
// before decoding and of every frame after; the file's size, the number of frames, the declared
// duration and the time spent decoding are bounded. Each refusal is one line naming the file.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "preprocess/image/rgb_image.h"

namespace ia::video {

struct VideoLimits {
  int64_t max_file_bytes = int64_t{2} << 30;  // what is read of a file or accepted as an upload
  int64_t max_side = 8192;                    // either dimension of a frame
  int64_t max_pixels = 8192 * 4320;           // of a frame (8K UHD)
  int64_t max_frames = 500'000;               // frames (packets) in the video, or image files in a folder
  double max_duration_s = 6 * 3600.0;         // as the container declares it
  double max_decode_s = 120.0;                // wall-clock time for demuxing and decoding
  int threads = 0;                            // the decoder's threads (0: FFmpeg chooses)
  // The kind of every refusal, as ImageLimits::kind: unset, each has its own (InvalidArgument,
  // Corrupt, Unsupported, NotFound); a server sets InvalidArgument.
  std::optional<ErrorKind> kind;
};

struct DecodedVideo {
  std::vector<image::RgbImage> frames;  // the sampled frames, in order
  std::vector<int64_t> indices;         // which frames they are
  int64_t total_frames = 0;             // frames in the video (or image files in the folder)
  std::string format;                   // the container ("matroska,webm", "avi", ...) or "frames"
  std::string codec;                    // the decoder ("ffv1", "h264", ...), empty for a folder
  double fps = 0;                       // the stream's average frame rate, 0 when unknown
};

// `count` frames of the video file at `path`, or of the image files in the folder at `path`.
DecodedVideo load_video(const std::string& path, int64_t count, const VideoLimits& limits = {});
// `count` frames of a video file at `path` / in memory (`name` names it in errors).
DecodedVideo decode_video_file(const std::string& path, int64_t count, const VideoLimits& limits = {});
DecodedVideo decode_video_bytes(std::span<const uint8_t> bytes, const std::string& name, int64_t count,
                                const VideoLimits& limits = {});
// `count` frames of the images in `dir` (PNG, JPEG, WebP, GIF, BMP by extension), sorted by name.
DecodedVideo load_frame_folder(const std::string& dir, int64_t count, const VideoLimits& limits = {});
// `count` frames of a video given as its frame images in memory, in order (an upload's frames;
// `names[i]` names frame i in errors): sampled by the rule a folder's frames are, and only the
// sampled frames decoded, each within the image decoder's limits and the frame limits above.
// `name` names the whole in errors; format "frames".
DecodedVideo decode_frame_images(const std::vector<std::span<const uint8_t>>& images,
                                 const std::vector<std::string>& names, const std::string& name, int64_t count,
                                 const VideoLimits& limits = {});

}  // namespace ia::video
