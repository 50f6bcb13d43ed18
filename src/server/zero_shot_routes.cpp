// POST /zero-shot-image-classification (CLIP folders) and /zero-shot-video-classification
// (X-CLIP folders), in the Hugging Face Inference API's zero-shot-image-classification shape:
// {"inputs", "parameters": {"candidate_labels", "hypothesis_template"}} or a multipart upload
// (server/zero_shot_request.h). The answer is [{"label", "score"}, ...] per input, highest score
// first, a list of those for a list of inputs; the scores are the softmax over the labels of
// logits_per_image (logits_per_video), of the texts the template makes of the labels, as
// transformers' zero-shot-image-classification pipeline scores them and as
// `ipfs-accelerate similarity` reports them (probs_per_image, probs_per_video). Inputs are
// decoded before the model's turn, outside its lock; the model runs one request at a time.
#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "router/result_json.h"
#include "runtime/zero_shot.h"
#include "server/media_decoding.h"
#include "server/route_handler.h"
#include "server/routes.h"
#include "server/zero_shot_request.h"

namespace ia::server {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// One answer per input: the labels ranked by their probability.
std::string answer(const std::vector<std::vector<float>>& logits, const std::vector<std::string>& labels, bool batch) {
  json out = json::array();
  for (const auto& probs : softmax_rows(logits)) {
    json one = json::array();
    for (const auto& l : rank_zero_shot_labels(probs, labels)) one.push_back({{"label", l.label}, {"score", l.score}});
    out.push_back(std::move(one));
  }
  return router::dump_json(batch ? out : out[0]);
}

void zero_shot_image(ServerState& s, const ZeroShotImageRequest& r, httplib::Response& res) {
  const auto arrived = Clock::now();
  const ServedLease lease = s.model_for(r.images.model, ModelUse::ZeroShotImageClassification);
  ServedModel& m = *lease;
  const std::vector<image::RgbImage> decoded = decode_request_images(r.images);
  const std::vector<std::string> texts = hypotheses(r.parameters);
  const ImageTextSimilarity sim =
      run_one_at_a_time(s, m, arrived, [&] { return m.image_text->similarity(decoded, texts); });
  send_json(res, answer(sim.logits_per_image, r.parameters.candidate_labels, r.images.batch));
}

void zero_shot_video(ServerState& s, const ZeroShotVideoRequest& r, httplib::Response& res) {
  const auto arrived = Clock::now();
  const ServedLease lease = s.model_for(r.model, ModelUse::ZeroShotVideoClassification);
  ServedModel& m = *lease;
  // The model's num_frames of each video, sampled as the CLI samples a file or a folder of frames.
  std::vector<std::vector<image::RgbImage>> videos;
  videos.reserve(r.videos.size());
  for (const VideoItem& v : r.videos) videos.push_back(decode_request_video(v, m.video_text->num_frames()).frames);
  const std::vector<std::string> texts = hypotheses(r.parameters);
  const VideoTextSimilarity sim =
      run_one_at_a_time(s, m, arrived, [&] { return m.video_text->similarity(videos, texts); });
  send_json(res, answer(sim.logits_per_video, r.parameters.candidate_labels, r.batch));
}

}  // namespace

void add_zero_shot_routes(httplib::Server& http, ServerState& state) {
  add_json_or_form_route(
      http, state, "/zero-shot-image-classification",
      [&state](const httplib::Request&, httplib::Response& res, const std::string& body) {
        zero_shot_image(state, parse_zero_shot_image_json(body, state.limits), res);
      },
      [&state](const httplib::Request&, httplib::Response& res, const std::vector<FormPart>& parts) {
        zero_shot_image(state, parse_zero_shot_image_form(parts, state.limits), res);
      });
  add_json_or_form_route(
      http, state, "/zero-shot-video-classification",
      [&state](const httplib::Request&, httplib::Response& res, const std::string& body) {
        zero_shot_video(state, parse_zero_shot_video_json(body, state.limits), res);
      },
      [&state](const httplib::Request&, httplib::Response& res, const std::vector<FormPart>& parts) {
        zero_shot_video(state, parse_zero_shot_video_form(parts, state.limits), res);
      });
}

}  // namespace ia::server
