#pragma once
// The bodies of the zero-shot classification routes, in the Hugging Face Inference API's shape
// (`{"inputs": ..., "parameters": {"candidate_labels": [...], "hypothesis_template": "..."}}`) or
// as a multipart upload, parsed into plain structs with every list and string bounded
// (RequestLimits). Nothing here decodes an image or a video: the routes do, within the front
// ends' limits. Every refusal is a 400 naming the field ("parameters.candidate_labels[2]").
//
//   POST /zero-shot-image-classification (CLIP): "inputs" an image data URL or a list of them;
//     upload: `file` parts (images).
//   POST /zero-shot-video-classification (X-CLIP): "inputs" a video file as a data URL
//     (data:video/mp4;base64,...), a list of image data URLs that are one video's frames in
//     order, a list of video data URLs, or a list of such frame lists; upload: `file` parts
//     (video files).
// Upload fields: `candidate_labels` (a JSON array of strings, or one label per field, repeatable;
// `candidate_labels[]` too), `hypothesis_template`, `model`.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/image_inputs.h"
#include "server/multipart_form.h"
#include "server/openai_requests.h"

namespace ia::server {

// transformers' zero-shot-image-classification pipeline's default.
inline constexpr const char* kImageHypothesisTemplate = "This is a photo of {}.";
// The video route's default: the label as it is, as X-CLIP was trained and evaluated on class
// names (its model card's examples, and the original code's "{}" text template).
inline constexpr const char* kVideoHypothesisTemplate = "{}";

struct ZeroShotParameters {
  std::vector<std::string> candidate_labels;  // 1..max_labels, each 1..max_label_bytes
  std::string hypothesis_template;            // checked: formats with one label
};

// `label` put into `templ` as Python's `templ.format(label)` puts it: `{}` or `{0}` (as often as
// wanted; the two kinds not mixed, `{}` at most once), `{{` and `}}` for braces. A template
// without a field, with a conversion or format spec, another field name or an unmatched brace
// is a 400 naming `param`.
std::string format_hypothesis(std::string_view templ, std::string_view label, const std::string& param);
// The texts the model compares with the input: one per candidate label, in order.
std::vector<std::string> hypotheses(const ZeroShotParameters& p);

struct ZeroShotImageRequest {
  ImageRequest images;
  ZeroShotParameters parameters;
};

// One video of a request: a video file's bytes, or its frames' encoded images in order.
struct VideoItem {
  std::string name;                      // for errors: "inputs", "inputs[1]", the upload's file name
  std::string file;                      // a video file (MP4 / MOV, Matroska / WebM, AVI), or
  std::vector<std::string> frames;       // its frames (PNG, JPEG, ...), 1..max_video_frames
  std::vector<std::string> frame_names;  // "inputs[3]", "inputs[1][3]"
  bool is_frames() const { return file.empty(); }
};

struct ZeroShotVideoRequest {
  std::string model;
  std::vector<VideoItem> videos;  // 1..max_videos
  bool batch = false;             // several videos: the answer is a list of lists
  ZeroShotParameters parameters;
};

ZeroShotImageRequest parse_zero_shot_image_json(std::string_view body, const RequestLimits& limits);
ZeroShotImageRequest parse_zero_shot_image_form(const std::vector<FormPart>& parts, const RequestLimits& limits);
ZeroShotVideoRequest parse_zero_shot_video_json(std::string_view body, const RequestLimits& limits);
ZeroShotVideoRequest parse_zero_shot_video_form(const std::vector<FormPart>& parts, const RequestLimits& limits);

}  // namespace ia::server
