// POST /predict for image-classification models (ViT and other *ForImageClassification
// folders), in the shape of TEI's /predict: a JSON body {"inputs": data URL | [data URLs],
// "model"?, "top_k"?, "raw_scores"?} or a multipart upload (one or more `file` parts, and
// `model`, `top_k`, `raw_scores` fields). The answer is [{"score", "label"}, ...] for one image,
// a list of those for a list of images, best first; scores are the pipeline's (softmax, or
// sigmoid for multi-label models), or the logits with raw_scores. Every bad image is a 400
// naming it; images are decoded within the front end's limits before the model runs.
#include <algorithm>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "preprocess/image/image_decoder.h"
#include "router/result_json.h"
#include "runtime/object_detection.h"
#include "server/api_error.h"
#include "server/image_inputs.h"
#include "server/media_decoding.h"
#include "server/request_json.h"
#include "server/route_handler.h"
#include "server/routes.h"

namespace ia::server {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct PredictRequest {
  ImageRequest images;
  std::optional<int64_t> top_k;
  bool raw_scores = false;
};

PredictRequest parse_predict_json(const std::string& body, const RequestLimits& limits) {
  const auto j = parse_request_object(body);
  PredictRequest r;
  r.images = parse_images_json(j, limits.max_inputs);
  r.top_k = integer_field(j, "top_k", "top_k", 1, 1 << 20);
  r.raw_scores = bool_field(j, "raw_scores", "raw_scores").value_or(false);
  // HF Inference's image-classification shape: {"inputs", "parameters": {"top_k",
  // "function_to_apply"}} (what huggingface_hub sends).
  const nlohmann::ordered_json params = parameters_object(j);
  if (!r.top_k) r.top_k = integer_field(params, "top_k", "parameters.top_k", 1, 1 << 20);
  if (auto f = string_field(params, "function_to_apply", "parameters.function_to_apply", 16)) {
    if (*f != "none")
      throw invalid_field("parameters.function_to_apply",
                          "`parameters.function_to_apply`: only \"none\" (the logits) is taken; leave it out for "
                          "the model's own scores (softmax, or sigmoid for a multi-label model)");
    r.raw_scores = true;
  }
  return r;
}

PredictRequest parse_predict_form(const std::vector<FormPart>& parts, const RequestLimits& limits) {
  PredictRequest r;
  r.images = parse_images_form(parts, limits.max_inputs, [&r](const FormPart& p) {
    if (p.name == "top_k") {
      char* end = nullptr;
      const long long v = std::strtoll(p.data.c_str(), &end, 10);
      if (p.data.empty() || *end != '\0' || v < 1 || v > (1 << 20))
        throw invalid_field("top_k", "`top_k` must be a whole number of at least 1");
      r.top_k = v;
    } else if (p.name == "raw_scores") {
      if (p.data != "true" && p.data != "false")
        throw invalid_field("raw_scores", "`raw_scores` must be true or false");
      r.raw_scores = p.data == "true";
    }
  });
  return r;
}

void predict(ServerState& s, PredictRequest r, httplib::Response& res) {
  const auto arrived = Clock::now();
  const ServedLease lease = s.model_for(r.images.model, ModelUse::ImageClassification);
  ServedModel& m = *lease;
  const std::vector<image::RgbImage> decoded = decode_request_images(r.images);
  const int64_t labels = m.image_classifier->model().num_labels();
  const int64_t k = std::min<int64_t>(r.top_k.value_or(labels), labels);
  const ImageClassification c = run_one_at_a_time(
      s, m, arrived, [&] { return m.image_classifier->classify(decoded, r.raw_scores ? labels : k); });
  json out = json::array();
  for (size_t i = 0; i < c.top.size(); ++i) {
    json one = json::array();
    if (r.raw_scores) {  // the logits, highest first (the order the scores have)
      std::vector<LabelScore> ranked = c.top[i];
      for (auto& l : ranked) l.score = c.logits[i][static_cast<size_t>(l.id)];
      std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
      ranked.resize(static_cast<size_t>(k));
      for (const auto& l : ranked) one.push_back({{"score", l.score}, {"label", l.label}});
    } else {
      for (const auto& l : c.top[i]) one.push_back({{"score", l.score}, {"label", l.label}});
    }
    out.push_back(std::move(one));
  }
  send_json(res, router::dump_json(r.images.batch ? out : out[0]));
}

struct DetectRequest {
  ImageRequest images;
  double threshold = 0.5;  // the object-detection pipeline's default
};

double parse_threshold(double t) {
  if (!(t >= 0.0 && t <= 1.0)) throw invalid_field("threshold", "`threshold` must be a number from 0 to 1");
  return t;
}

DetectRequest parse_detect_json(const std::string& body, const RequestLimits& limits) {
  const auto j = parse_request_object(body);
  DetectRequest r;
  r.images = parse_images_json(j, limits.max_inputs);
  // At the top level, or in "parameters" as HF Inference's object-detection shape has it.
  const nlohmann::ordered_json params = parameters_object(j);
  for (const auto* where : {&j, &params}) {
    if (auto it = where->find("threshold"); it != where->end() && !it->is_null()) {
      if (!it->is_number()) throw invalid_field("threshold", "`threshold` must be a number from 0 to 1");
      r.threshold = parse_threshold(it->get<double>());
      break;
    }
  }
  return r;
}

DetectRequest parse_detect_form(const std::vector<FormPart>& parts, const RequestLimits& limits) {
  DetectRequest r;
  r.images = parse_images_form(parts, limits.max_inputs, [&r](const FormPart& p) {
    if (p.name != "threshold") return;
    char* end = nullptr;
    const double v = std::strtod(p.data.c_str(), &end);
    if (p.data.empty() || *end != '\0') throw invalid_field("threshold", "`threshold` must be a number from 0 to 1");
    r.threshold = parse_threshold(v);
  });
  return r;
}

// HF Inference's object-detection answer: [{"score", "label", "box": {"xmin", "ymin", "xmax",
// "ymax"}}, ...] per image, highest score first, boxes in pixels of the image as sent
// (EXIF-oriented), as transformers' pipeline gives them.
void detect(ServerState& s, DetectRequest r, httplib::Response& res) {
  const auto arrived = Clock::now();
  const ServedLease lease = s.model_for(r.images.model, ModelUse::ObjectDetection);
  ServedModel& m = *lease;
  const std::vector<image::RgbImage> decoded = decode_request_images(r.images);
  const ObjectDetectionResult d =
      run_one_at_a_time(s, m, arrived, [&] { return m.detector->detect(decoded, static_cast<float>(r.threshold)); });
  json out = json::array();
  for (const auto& found : d.detections) {
    json one = json::array();
    for (const Detection& x : found)
      one.push_back({{"score", x.score},
                     {"label", x.label},
                     {"box", {{"xmin", x.box[0]}, {"ymin", x.box[1]}, {"xmax", x.box[2]}, {"ymax", x.box[3]}}}});
    out.push_back(std::move(one));
  }
  send_json(res, router::dump_json(r.images.batch ? out : out[0]));
}

}  // namespace

void add_image_routes(httplib::Server& http, ServerState& state) {
  add_json_or_form_route(
      http, state, "/predict",
      [&state](const httplib::Request&, httplib::Response& res, const std::string& body) {
        predict(state, parse_predict_json(body, state.limits), res);
      },
      [&state](const httplib::Request&, httplib::Response& res, const std::vector<FormPart>& parts) {
        predict(state, parse_predict_form(parts, state.limits), res);
      });
  add_json_or_form_route(
      http, state, "/detect",
      [&state](const httplib::Request&, httplib::Response& res, const std::string& body) {
        detect(state, parse_detect_json(body, state.limits), res);
      },
      [&state](const httplib::Request&, httplib::Response& res, const std::vector<FormPart>& parts) {
        detect(state, parse_detect_form(parts, state.limits), res);
      });
}

}  // namespace ia::server
