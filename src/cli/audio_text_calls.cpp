#include "cli/audio_text_calls.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "core/error.h"
#include "preprocess/audio/audio_loader.h"
#include "router/model_placement.h"
#include "runtime/audio_text_endpoint.h"

namespace ia::cli {

namespace {

struct Loaded {
  std::shared_ptr<AudioTextEndpoint> endpoint;
  std::vector<std::vector<float>> clips;
  std::vector<double> durations;
  DType dtype = DType::F32;
  double decode_ms = 0;
};

Loaded load(const AudioCallArgs& args, const char* command) {
  if (args.audios.empty()) fail(ErrorKind::InvalidArgument, "no --audio files given");
  Loaded l;
  const std::string dir = router::resolve_model_dir(args.model);
  std::vector<std::string> warnings;
  l.dtype = router::resolve_compute_dtype(args.dtype, dir, warnings);
  const Device device = router::placement_device(args.device, dir, l.dtype);
  for (const auto& w : warnings) std::cerr << "ipfs-accelerate " << command << ": " << w << "\n";
  l.endpoint = AudioTextEndpoint::load(dir, device, l.dtype);
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& path : args.audios) {
    audio::AudioClip clip = audio::load_audio_file(path, l.endpoint->sampling_rate());
    if (clip.samples.empty()) fail(ErrorKind::InvalidArgument, "{}: the audio has no samples", path);
    l.durations.push_back(clip.seconds());
    l.clips.push_back(std::move(clip.samples));
  }
  l.decode_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return l;
}

nlohmann::json header(const AudioCallArgs& args, const Loaded& l) {
  return {{"model", args.model}, {"device", l.endpoint->device().str()}, {"dtype", dtype_name(l.dtype)}};
}

}  // namespace

int run_audio_similarity(const AudioCallArgs& args) {
  if (args.texts.empty()) fail(ErrorKind::InvalidArgument, "no --text given to score the audio against");
  Loaded l = load(args, "similarity");
  AudioTextSimilarity r = l.endpoint->similarity(l.clips, args.texts);
  nlohmann::json j = header(args, l);
  j["logit_scale_audio"] = l.endpoint->model().logit_scale_audio();
  j["logit_scale_text"] = l.endpoint->model().logit_scale_text();
  j["logits_per_audio"] = r.logits_per_audio;
  j["probs_per_audio"] = r.probs_per_audio;
  j["logits_per_text"] = r.logits_per_text;
  j["text_embeds"] = r.text_embeds;
  j["audio_embeds"] = r.audio_embeds;
  j["token_counts"] = r.token_counts;
  j["durations"] = l.durations;
  j["timings_ms"] = {{"decode", l.decode_ms},
                     {"tokenize", r.tokenize_ms},
                     {"preprocess", r.preprocess_ms},
                     {"inference", r.inference_ms}};
  std::cout << json_text(j) << "\n";
  return 0;
}

int run_embed_audio(const AudioCallArgs& args) {
  if (!args.texts.empty()) fail(ErrorKind::InvalidArgument, "give --audio files or texts, not both");
  Loaded l = load(args, "embed");
  double preprocess_ms = 0, inference_ms = 0;
  const Tensor e = l.endpoint->audio_embeddings(l.clips, args.normalize, &preprocess_ms, &inference_ms);
  std::vector<std::vector<float>> rows;
  for (int64_t r = 0; r < e.size(0); ++r)
    rows.emplace_back(e.data<float>() + r * e.size(1), e.data<float>() + (r + 1) * e.size(1));
  nlohmann::json j = header(args, l);
  j["normalized"] = args.normalize;
  j["dimensions"] = e.size(1);
  j["embeddings"] = rows;
  j["durations"] = l.durations;
  j["timings_ms"] = {{"decode", l.decode_ms}, {"preprocess", preprocess_ms}, {"inference", inference_ms}};
  std::cout << json_text(j) << "\n";
  return 0;
}

bool is_clap_folder(const std::string& model) {
  std::error_code ec;
  const std::filesystem::path config = std::filesystem::path(model) / "config.json";
  if (!std::filesystem::is_regular_file(config, ec)) return false;
  std::ifstream in(config);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return j.is_object() && j.value("model_type", "") == "clap";
}

int run_embed_clap_texts(const AudioCallArgs& args) {
  if (args.texts.empty()) fail(ErrorKind::InvalidArgument, "no texts given");
  const std::string dir = router::resolve_model_dir(args.model);
  std::vector<std::string> warnings;
  const DType dtype = router::resolve_compute_dtype(args.dtype, dir, warnings);
  const Device device = router::placement_device(args.device, dir, dtype);
  for (const auto& w : warnings) std::cerr << "ipfs-accelerate embed: " << w << "\n";
  const auto endpoint = AudioTextEndpoint::load(dir, device, dtype);
  double tokenize_ms = 0, inference_ms = 0;
  std::vector<int> token_counts;
  const Tensor e = endpoint->text_embeddings(args.texts, args.normalize, &tokenize_ms, &inference_ms, &token_counts);
  std::vector<std::vector<float>> rows;
  for (int64_t r = 0; r < e.size(0); ++r)
    rows.emplace_back(e.data<float>() + r * e.size(1), e.data<float>() + (r + 1) * e.size(1));
  nlohmann::json j = {{"model", args.model}, {"device", endpoint->device().str()}, {"dtype", dtype_name(dtype)}};
  j["normalized"] = args.normalize;
  j["dimensions"] = e.size(1);
  j["embeddings"] = rows;
  j["token_counts"] = token_counts;
  j["timings_ms"] = {{"tokenize", tokenize_ms}, {"inference", inference_ms}};
  std::cout << json_text(j) << "\n";
  return 0;
}

}  // namespace ia::cli
