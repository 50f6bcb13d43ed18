// `transcribe`: speech to text with a speech model folder (Wav2Vec2 CTC or Whisper):
// the audio file decoded, mixed to mono and resampled to the model's rate by the audio front end
// (docs/audio.md), then the model's transcript as text, or with --json as
// {"text", "ids", "language", "segments": [{"start", "end", "text"}], "duration"}.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "preprocess/audio/audio_loader.h"
#include "router/model_placement.h"
#include "runtime/speech_recognizer.h"

namespace ia::cli {

void register_transcribe(CLI::App& app, Context& ctx, Action& action) {
  struct Args {
    std::string model, file, device = "auto", dtype = "auto";
    std::string language, task = "transcribe", prompt;
    float temperature = 0;
    bool timestamps = false, ignore_eos = false, json = false;
    int num_beams = 1;
    int64_t max_new_tokens = 0;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("transcribe", "Speech to text from an audio file (WAV, FLAC, OGG, MP3)");
  sub->add_option("-m,--model", a->model, "Speech model folder, CID, registered name or HF id")->required();
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
  sub->add_option("--device", a->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  sub->add_option("--dtype", a->dtype, "auto | f32 | bf16")->capture_default_str();
  sub->callback([&ctx, &action, a, sub] {
    action = [&ctx, a, sub] {
      (void)ctx;
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
      const Transcript t = recognizer->transcribe(clip.samples, o);
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
