// libFuzzer target for the zero-shot classification request parsers (server/zero_shot_request.h):
// the first byte picks the parser, the rest is a JSON body, a multipart form's parts (split at
// 0x01 bytes, each part's first byte picking its name) or a hypothesis template and a label (split
// at the first 0x00). Invariants: a refusal is an ApiError with a 400 status and a body in OpenAI's
// shape (never another exception: malformed input must never become a 500); an accepted request
// holds only what the parsers promise (labels, videos and frames within the limits, a template
// that formats every label).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/api_error.h"
#include "server/zero_shot_request.h"

namespace {

using namespace ia::server;

void check(bool ok) {
  if (!ok) std::abort();
}

void check_parameters(const ZeroShotParameters& p, const RequestLimits& limits) {
  check(!p.candidate_labels.empty() && p.candidate_labels.size() <= limits.max_labels);
  for (const auto& l : p.candidate_labels) check(!l.empty() && l.size() <= limits.max_label_bytes);
  check(p.hypothesis_template.size() <= limits.max_label_bytes);
  const std::vector<std::string> texts = hypotheses(p);  // must not throw: the template was checked
  check(texts.size() == p.candidate_labels.size());
}

void check_videos(const ZeroShotVideoRequest& r, const RequestLimits& limits) {
  check(!r.videos.empty() && r.videos.size() <= limits.max_videos);
  check(r.batch || r.videos.size() == 1);
  for (const auto& v : r.videos) {
    check(!v.name.empty());
    if (v.is_frames()) {
      check(!v.frames.empty() && v.frames.size() <= limits.max_video_frames);
      check(v.frames.size() == v.frame_names.size());
      for (const auto& f : v.frames) check(!f.empty());
    } else {
      check(v.frames.empty());
    }
  }
}

std::vector<FormPart> form_parts(std::string_view data) {
  static const char* const kNames[] = {
      "file", "candidate_labels", "candidate_labels[]", "hypothesis_template", "model", "file[]", "inputs", "other"};
  std::vector<FormPart> parts;
  size_t start = 0;
  while (start <= data.size() && parts.size() < kMaxFormParts) {
    size_t end = data.find('\x01', start);
    if (end == std::string_view::npos) end = data.size();
    const std::string_view part = data.substr(start, end - start);
    if (!part.empty()) {
      FormPart p;
      p.name = kNames[static_cast<uint8_t>(part[0]) % 8];
      if (p.name.starts_with("file")) p.filename = "upload";
      p.data = std::string(part.substr(1));
      parts.push_back(std::move(p));
    }
    start = end + 1;
  }
  return parts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  RequestLimits limits;
  limits.max_inputs = 8;
  limits.max_labels = 8;
  limits.max_label_bytes = 64;
  limits.max_videos = 3;
  limits.max_video_frames = 6;
  try {
    switch (data[0] % 5) {
      case 0: {
        const ZeroShotImageRequest r = parse_zero_shot_image_json(rest, limits);
        check_parameters(r.parameters, limits);
        check(!r.images.images.empty() && r.images.images.size() <= limits.max_inputs);
        check(r.images.images.size() == r.images.names.size());
        break;
      }
      case 1: {
        const ZeroShotVideoRequest r = parse_zero_shot_video_json(rest, limits);
        check_parameters(r.parameters, limits);
        check_videos(r, limits);
        break;
      }
      case 2: {
        const ZeroShotImageRequest r = parse_zero_shot_image_form(form_parts(rest), limits);
        check_parameters(r.parameters, limits);
        check(!r.images.images.empty() && r.images.images.size() <= limits.max_inputs);
        break;
      }
      case 3: {
        const ZeroShotVideoRequest r = parse_zero_shot_video_form(form_parts(rest), limits);
        check_parameters(r.parameters, limits);
        check_videos(r, limits);
        break;
      }
      default: {
        const size_t zero = rest.find('\0');
        const std::string_view templ = rest.substr(0, zero);
        const std::string_view label = zero == std::string_view::npos ? "" : rest.substr(zero + 1);
        const std::string out = format_hypothesis(templ, label, "hypothesis_template");
        check(out.size() <= templ.size() + label.size() * templ.size());
        break;
      }
    }
  } catch (const ApiError& e) {
    check(e.status() == 400);
    check(std::string_view(e.what()).size() > 0);
    const ErrorResponse answer = error_response(e);
    const auto j = nlohmann::json::parse(answer.body);
    check(j["error"]["message"].is_string() && j["error"]["code"].is_string());
  } catch (...) {
    std::abort();
  }
  return 0;
}
