// `transcribe`: speech to text with a speech model folder (Wav2Vec2 CTC or Whisper):
// the audio file decoded, mixed to mono and resampled to the model's rate by the audio front end
// (docs/audio.md), then the model's transcript as text, or with --json as
// {"text", "ids", "language", "segments": [{"start", "end", "text"}], "duration"}.
// With --provider NAME (or --providers FILE and a routed name) the file goes as it is to a
// remote service's /audio/transcriptions or /audio/translations (docs/providers.md), and --json
// names the deployment that answered instead of ids and device.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "core/bounded_json.h"
#include "preprocess/audio/audio_loader.h"
#include "providers/form_data.h"
#include "router/deployment_router.h"
#include "router/model_placement.h"
#include "runtime/speech_recognizer.h"

namespace ia::cli {

namespace {

struct TranscribeArgs {
  std::string model, file, device = "auto", dtype = "auto";
  std::string language, task = "transcribe", prompt;
  std::string provider, providers_file;  // a remote service (or a routed name) instead of a local folder
  float temperature = 0;
  bool timestamps = false, ignore_eos = false, json = false, stream = false;
  int num_beams = 1;
  int64_t max_new_tokens = 0;
};

// What a remote service is sent at most: the hosted APIs take far less (OpenAI 25 MB) and say so.
constexpr size_t kMaxRemoteUpload = 512u << 20;

int run_remote_transcribe(Context& ctx, const TranscribeArgs& a, const CLI::App& sub) {
  for (const char* local_only : {"--num-beams", "--max-new-tokens", "--ignore-eos", "--device", "--dtype"})
    if (sub.count(local_only))
      fail(ErrorKind::InvalidArgument, "{} is for local models; a remote service is not sent it", local_only);
  std::unique_ptr<router::Router> r = open_router(a.provider, a.providers_file);
  providers::TranscribeCall call;
  call.model = a.model;
  call.audio = read_bounded_file(a.file, kMaxRemoteUpload);
  call.filename = std::filesystem::path(a.file).filename().string();
  call.content_type = providers::audio_content_type(call.filename);
  call.task = a.task;
  if (!a.language.empty()) call.language = a.language;
  call.prompt = a.prompt;
  if (sub.count("--temperature")) call.temperature = a.temperature;
  // Segments come with verbose_json, which not every model has (gpt-4o-transcribe: json only).
  call.response_format = a.timestamps ? "verbose_json" : "json";
  if (a.timestamps && a.task == "transcribe") call.timestamp_granularities = {"segment"};
  const auto t0 = std::chrono::steady_clock::now();
  providers::TranscriptionResult t;
  std::string answered_by;
  // --stream: the text printed as the service sends it (stream=true where it streams).
  const providers::OnText print = a.stream ? providers::OnText([](std::string_view d) {
    std::cout << d << std::flush;
    return static_cast<bool>(std::cout);
  })
                                           : providers::OnText();
  if (!a.provider.empty()) {
    t = r->provider(a.provider).transcribe(call, providers::Priority::Normal, print);
    answered_by = a.provider + "/" + a.model;
  } else {
    t = r->transcribe(a.model, call, providers::Priority::Normal, nullptr, &answered_by, print);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (a.stream) {
    std::cout << "\n";
  } else if (!a.json) {
    std::cout << t.text << "\n";
  } else {
    nlohmann::json segments = nlohmann::json::array();
    for (const auto& s : t.segments) segments.push_back({{"start", s.start}, {"end", s.end}, {"text", s.text}});
    nlohmann::json usage = nlohmann::json::object();
    if (t.usage.input_tokens || t.usage.output_tokens)
      usage = {{"input_tokens", t.usage.input_tokens}, {"output_tokens", t.usage.output_tokens}};
    if (t.usage.audio_seconds > 0) usage["seconds"] = t.usage.audio_seconds;
    std::cout << json_text(nlohmann::json{{"text", t.text},
                                          {"language", t.language ? nlohmann::json(*t.language) : nullptr},
                                          {"segments", segments},
                                          {"duration", t.duration ? nlohmann::json(*t.duration) : nullptr},
                                          {"task", a.task},
                                          {"deployment", answered_by},
                                          {"usage", usage},
                                          {"seconds", seconds}})
              << "\n";
  }
  std::cout.flush();
  if (!ctx.quiet) std::cerr << fmt::format("{}: transcribed in {:.2f} s", answered_by, seconds) << "\n";
  return 0;
}

}  // namespace

void register_transcribe(CLI::App& app, Context& ctx, Action& action) {
  using Args = TranscribeArgs;
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("transcribe", "Speech to text from an audio file (WAV, FLAC, OGG, MP3)");
  sub->add_option("-m,--model", a->model,
                  "Speech model folder, CID, registered name or HF id (with --provider: the service's model id, "
                  "e.g. whisper-1; with --providers: a routed name)")
      ->required();
  sub->add_option("--provider", a->provider,
                  "Transcribe with a remote service: a type configured from its environment variables (openai, "
                  "groq, vllm) or a name in --providers FILE");
  sub->add_option("--providers", a->providers_file, "Router configuration (JSON, docs/providers.md)");
  sub->add_option("file", a->file, "Audio file")->required();
  sub->add_option("--language", a->language, "Language of the speech (ISO code, e.g. en); Whisper detects it if unset");
  sub->add_option("--task", a->task, "transcribe | translate (to English; Whisper)")
      ->check(CLI::IsMember({"transcribe", "translate"}))
      ->capture_default_str();
  sub->add_flag("--timestamps", a->timestamps, "Segments with start and end times (Whisper)");
  sub->add_option("--num-beams", a->num_beams, "Beam search width (Whisper)")->check(CLI::Range(1, 16));
  sub->add_option("--max-new-tokens", a->max_new_tokens, "Tokens to generate per 30-s window at most (Whisper)")
      ->check(CLI::Range(1, 1 << 16));
  sub->add_flag("--ignore-eos", a->ignore_eos, "Generate max-new-tokens whatever the model says (Whisper)");
  sub->add_option("--prompt", a->prompt, "Text the transcript continues: names, spelling, style (Whisper)");
  sub->add_option("--temperature", a->temperature, "Sampling temperature, 0 = greedy (Whisper)")
      ->check(CLI::Range(0.0, 2.0));
  sub->add_flag("--json", a->json, "Print {\"text\", \"ids\", \"language\", \"segments\", \"duration\"}");
  sub->add_flag("--stream", a->stream,
                "Print the text as it becomes final (Whisper: token by token; a service: as it streams it)")
      ->excludes("--json")
      ->excludes("--timestamps");
  sub->add_option("--device", a->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  sub->add_option("--dtype", a->dtype, "auto | f32 | bf16")->capture_default_str();
  sub->callback([&ctx, &action, a, sub] {
    action = [&ctx, a, sub] {
      if (!a->provider.empty() || !a->providers_file.empty()) return run_remote_transcribe(ctx, *a, *sub);
      const std::string dir = router::resolve_model_dir(a->model);
      std::vector<std::string> warnings;
      const DType dtype = router::resolve_compute_dtype(a->dtype, dir, warnings);
      const Device device = router::placement_device(a->device, dir, dtype);
      for (const auto& w : warnings) std::cerr << "ipfs-accelerate transcribe: " << w << "\n";
      const auto recognizer = SpeechRecognizer::load(dir, device, dtype);
      const audio::AudioClip clip = audio::load_audio_file(a->file, recognizer->sampling_rate());
      TranscriptionOptions o;
      if (!a->language.empty()) o.language = a->language;
      o.task = a->task;
      o.timestamps = a->timestamps;
      o.num_beams = a->num_beams;
      if (sub->count("--max-new-tokens")) o.max_new_tokens = a->max_new_tokens;
      o.ignore_eos = a->ignore_eos;
      o.prompt = a->prompt;
      if (sub->count("--temperature")) o.temperature = a->temperature;
      if (a->stream)
        o.on_text = [](std::string_view d) {
          std::cout << d << std::flush;
          return static_cast<bool>(std::cout);
        };
      const Transcript t = recognizer->transcribe(clip.samples, o);
      if (a->stream) {
        std::cout << "\n";
        return 0;
      }
      if (!a->json) {
        std::cout << t.text << "\n";
        return 0;
      }
      nlohmann::json segments = nlohmann::json::array();
      for (const auto& s : t.segments) segments.push_back({{"start", s.start}, {"end", s.end}, {"text", s.text}});
      nlohmann::json j{{"text", t.text},
                       {"ids", t.ids},
                       {"language", t.language ? nlohmann::json(*t.language) : nlohmann::json(nullptr)},
                       {"segments", segments},
                       {"duration", t.duration},
                       {"model", recognizer->kind()},
                       {"device", device.str()}};
      std::cout << json_text(j) << "\n";
      return 0;
    };
  });
}

}  // namespace ia::cli
