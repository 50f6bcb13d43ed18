#include "server/zero_shot_request.h"

#include <cctype>

#include <fmt/format.h>

#include "core/bounded_json.h"
#include "core/error.h"
#include "server/api_error.h"
#include "server/request_json.h"

namespace ia::server {

namespace {

using nlohmann::ordered_json;

void add_label(std::vector<std::string>& labels, std::string label, const std::string& list_param,
               const std::string& param, const RequestLimits& limits) {
  if (labels.size() == limits.max_labels)
    throw invalid_field(list_param, fmt::format("at most {} candidate labels per request", limits.max_labels));
  if (label.empty())
    throw invalid_field(param, fmt::format("`{}` is empty; every candidate label needs a text", param));
  if (label.size() > limits.max_label_bytes)
    throw invalid_field(param, fmt::format("`{}` is longer than {} bytes", param, limits.max_label_bytes));
  labels.push_back(std::move(label));
}

// A JSON array of label strings, each checked; `param` names the list.
void add_label_list(std::vector<std::string>& labels, const ordered_json& list, const std::string& param,
                    const RequestLimits& limits) {
  if (!list.is_array())
    throw invalid_field(param, fmt::format("`{}` must be a list of strings (the labels to choose from)", param));
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item = fmt::format("{}[{}]", param, i);
    if (!list[i].is_string()) throw invalid_field(item, fmt::format("`{}` must be a string", item));
    add_label(labels, list[i].get<std::string>(), param, item, limits);
  }
}

void check_template(const std::string& templ, const std::string& param, const RequestLimits& limits) {
  if (templ.size() > limits.max_label_bytes)
    throw invalid_field(param, fmt::format("`{}` is longer than {} bytes", param, limits.max_label_bytes));
  (void)format_hypothesis(templ, "x", param);
}

void check_labels(const ZeroShotParameters& p, const std::string& param) {
  if (p.candidate_labels.empty())
    throw invalid_field(param, fmt::format("`{}` must name at least one label to choose from", param));
}

// "parameters": {"candidate_labels", "hypothesis_template"} of a JSON body.
ZeroShotParameters parse_parameters_json(const ordered_json& j, const char* default_template,
                                         const RequestLimits& limits) {
  ZeroShotParameters p;
  p.hypothesis_template = default_template;
  const auto it = j.find("parameters");
  if (it == j.end() || it->is_null()) {
    const bool top_level = j.contains("candidate_labels");
    throw invalid_field("parameters.candidate_labels",
                        std::string("`parameters.candidate_labels` (a list of label strings) is required") +
                            (top_level ? "; put `candidate_labels` inside `parameters`, as the Hugging Face "
                                         "Inference API takes it"
                                       : ""));
  }
  if (!it->is_object()) throw invalid_field("parameters", "`parameters` must be an object");
  const auto labels = it->find("candidate_labels");
  if (labels == it->end() || labels->is_null())
    throw invalid_field("parameters.candidate_labels",
                        "`parameters.candidate_labels` (a list of label strings) is required");
  add_label_list(p.candidate_labels, *labels, "parameters.candidate_labels", limits);
  check_labels(p, "parameters.candidate_labels");
  if (auto t = string_field(*it, "hypothesis_template", "parameters.hypothesis_template", limits.max_label_bytes)) {
    p.hypothesis_template = *t;
    check_template(p.hypothesis_template, "parameters.hypothesis_template", limits);
  }
  return p;
}

// A form's `candidate_labels` / `candidate_labels[]` and `hypothesis_template` parts; false for
// any other part.
bool take_parameter_part(ZeroShotParameters& p, const FormPart& part, const RequestLimits& limits) {
  if (part.name == "candidate_labels" || part.name == "candidate_labels[]") {
    size_t start = 0;
    while (start < part.data.size() && std::isspace(static_cast<unsigned char>(part.data[start]))) ++start;
    if (start < part.data.size() && part.data[start] == '[') {  // a JSON array of labels
      JsonLimits jl;
      jl.max_depth = 4;
      jl.max_bytes = part.data.size();
      jl.kind = ErrorKind::InvalidArgument;
      ordered_json list;
      try {
        list = parse_ordered_json_bounded(part.data, "candidate_labels", jl);
      } catch (const Error& e) {
        throw invalid_field(
            "candidate_labels",
            fmt::format("`candidate_labels` starts with `[` but is not a JSON list of strings ({})", e.what()));
      }
      add_label_list(p.candidate_labels, list, "candidate_labels", limits);
    } else {
      add_label(p.candidate_labels, part.data, "candidate_labels", "candidate_labels", limits);
    }
    return true;
  }
  if (part.name == "hypothesis_template") {
    if (part.data.size() > limits.max_label_bytes)
      throw invalid_field("hypothesis_template",
                          fmt::format("`hypothesis_template` is longer than {} bytes", limits.max_label_bytes));
    p.hypothesis_template = part.data;
    check_template(p.hypothesis_template, "hypothesis_template", limits);
    return true;
  }
  return false;
}

// One video's frames: image data URLs, in order.
VideoItem frames_item(const ordered_json& list, const std::string& param, const RequestLimits& limits) {
  VideoItem v;
  v.name = param;
  if (list.empty()) throw invalid_field(param, fmt::format("`{}` has no frames", param));
  if (list.size() > limits.max_video_frames)
    throw invalid_field(param, fmt::format("`{}` has {} frames, more than the limit of {} per video", param,
                                           list.size(), limits.max_video_frames));
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string frame = fmt::format("{}[{}]", param, i);
    if (!list[i].is_string())
      throw invalid_field(frame, fmt::format("`{}` must be an image data URL string (a frame)", frame));
    const std::string& url = list[i].get_ref<const std::string&>();
    if (data_url_media_type(url).starts_with("video/"))
      throw invalid_field(frame, fmt::format("`{}` is a video among frames; a list is either one video's frames "
                                             "(image data URLs) or several videos, not both",
                                             frame));
    v.frames.push_back(image_data_url_bytes(url, frame));
    v.frame_names.push_back(frame);
  }
  return v;
}

VideoItem video_file_item(const std::string& url, const std::string& param) {
  VideoItem v;
  v.name = param;
  if (data_url_media_type(url).starts_with("image/"))
    throw invalid_field(param, fmt::format("`{}` is one image, not a video: send the video file "
                                           "(data:video/mp4;base64,...) or a list of its frames as image data URLs",
                                           param));
  v.file = video_data_url_bytes(url, param);
  return v;
}

void check_video_count(size_t n, const std::string& param, const RequestLimits& limits) {
  if (n > limits.max_videos)
    throw invalid_field(param, fmt::format("at most {} videos per request", limits.max_videos));
}

}  // namespace

std::string format_hypothesis(std::string_view templ, std::string_view label, const std::string& param) {
  std::string out;
  out.reserve(templ.size() + label.size());
  int automatic = 0, manual = 0;
  auto bad = [&param](const std::string& why) {
    return invalid_field(param, fmt::format("`{}`: {}; write `{{}}` where the label goes (`{{{{` and `}}}}` for "
                                            "literal braces)",
                                            param, why));
  };
  for (size_t i = 0; i < templ.size(); ++i) {
    const char c = templ[i];
    if (c == '}') {
      if (i + 1 < templ.size() && templ[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      throw bad("a single `}` without its `{`");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < templ.size() && templ[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const size_t close = templ.find('}', i + 1);
    if (close == std::string_view::npos) throw bad("a `{` without its `}`");
    const std::string_view field = templ.substr(i + 1, close - i - 1);
    if (field.empty()) {
      ++automatic;
    } else if (field == "0") {
      ++manual;
    } else {
      throw bad(fmt::format("the field `{{{}}}` is not `{{}}` (the template takes one value, the label)",
                            field.substr(0, 64)));
    }
    if (automatic > 1) throw bad("more than one `{}` (the template takes one value, the label)");
    if (automatic && manual) throw bad("`{}` and `{0}` mixed");
    out += label;
    i = close;
  }
  if (!automatic && !manual) throw bad("no `{}` for the label");
  return out;
}

std::vector<std::string> hypotheses(const ZeroShotParameters& p) {
  std::vector<std::string> out;
  out.reserve(p.candidate_labels.size());
  for (const auto& label : p.candidate_labels)
    out.push_back(format_hypothesis(p.hypothesis_template, label, "hypothesis_template"));
  return out;
}

ZeroShotImageRequest parse_zero_shot_image_json(std::string_view body, const RequestLimits& limits) {
  const auto j = parse_request_object(body);
  ZeroShotImageRequest r;
  r.parameters = parse_parameters_json(j, kImageHypothesisTemplate, limits);
  r.images = parse_images_json(j, limits.max_inputs);
  return r;
}

ZeroShotImageRequest parse_zero_shot_image_form(const std::vector<FormPart>& parts, const RequestLimits& limits) {
  ZeroShotImageRequest r;
  r.parameters.hypothesis_template = kImageHypothesisTemplate;
  r.images = parse_images_form(parts, limits.max_inputs,
                               [&](const FormPart& p) { (void)take_parameter_part(r.parameters, p, limits); });
  check_labels(r.parameters, "candidate_labels");
  return r;
}

ZeroShotVideoRequest parse_zero_shot_video_json(std::string_view body, const RequestLimits& limits) {
  const auto j = parse_request_object(body);
  ZeroShotVideoRequest r;
  r.model = string_field(j, "model", "model", 256).value_or("");
  r.parameters = parse_parameters_json(j, kVideoHypothesisTemplate, limits);
  const auto it = j.find("inputs");
  const char* shapes =
      "a video data URL (data:video/mp4;base64,...), a list of image data URLs (one video's frames), a list of "
      "video data URLs or a list of frame lists";
  if (it == j.end() || it->is_null()) throw invalid_field("inputs", fmt::format("`inputs` ({}) is required", shapes));
  if (it->is_string()) {
    r.videos.push_back(video_file_item(it->get<std::string>(), "inputs"));
    return r;
  }
  if (!it->is_array() || it->empty()) throw invalid_field("inputs", fmt::format("`inputs` must be {}", shapes));
  const ordered_json& list = *it;
  if (list[0].is_array()) {  // several videos, each its frames
    check_video_count(list.size(), "inputs", limits);
    r.batch = true;
    for (size_t v = 0; v < list.size(); ++v) {
      const std::string param = fmt::format("inputs[{}]", v);
      if (!list[v].is_array())
        throw invalid_field(param, fmt::format("`{}` must be a list of frames, as `inputs[0]` is", param));
      r.videos.push_back(frames_item(list[v], param, limits));
    }
    return r;
  }
  if (list[0].is_string() && data_url_media_type(list[0].get_ref<const std::string&>()).starts_with("video/")) {
    check_video_count(list.size(), "inputs", limits);  // several video files
    r.batch = true;
    for (size_t v = 0; v < list.size(); ++v) {
      const std::string param = fmt::format("inputs[{}]", v);
      if (!list[v].is_string() || !data_url_media_type(list[v].get_ref<const std::string&>()).starts_with("video/"))
        throw invalid_field(param, fmt::format("`{}` must be a video data URL, as `inputs[0]` is (a list is either "
                                               "one video's frames or several videos, not both)",
                                               param));
      r.videos.push_back(video_file_item(list[v].get<std::string>(), param));
    }
    return r;
  }
  r.videos.push_back(frames_item(list, "inputs", limits));  // one video's frames
  return r;
}

ZeroShotVideoRequest parse_zero_shot_video_form(const std::vector<FormPart>& parts, const RequestLimits& limits) {
  ZeroShotVideoRequest r;
  r.parameters.hypothesis_template = kVideoHypothesisTemplate;
  for (const FormPart& p : parts) {
    if (p.name == "file" || p.name == "file[]" || p.name == "inputs") {
      if (p.data.empty()) throw invalid_field("file", "an uploaded video is empty");
      VideoItem v;
      v.name = p.filename.value_or("file");
      v.file = p.data;
      r.videos.push_back(std::move(v));
      check_video_count(r.videos.size(), "file", limits);
    } else if (p.name == "model") {
      if (p.data.size() > 256) throw invalid_field("model", "`model` is longer than 256 bytes");
      r.model = p.data;
    } else {
      (void)take_parameter_part(r.parameters, p, limits);
    }
  }
  if (r.videos.empty()) throw invalid_field("file", "upload the video as a `file` part");
  check_labels(r.parameters, "candidate_labels");
  r.batch = r.videos.size() > 1;
  return r;
}

}  // namespace ia::server
