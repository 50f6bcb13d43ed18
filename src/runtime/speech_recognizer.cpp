#include "runtime/speech_recognizer.h"

#include "core/error.h"
#include "formats/hf_config.h"
#include "models/model_registry.h"
#include "runtime/ctc_transcription.h"
#include "runtime/whisper_transcription.h"

namespace ia {

namespace {

class CtcSpeechRecognizer final : public SpeechRecognizer {
 public:
  explicit CtcSpeechRecognizer(std::unique_ptr<CtcRecognizer> model) : model_(std::move(model)) {
    if (!model_->feature_config())
      fail(ErrorKind::NotFound, "{}: no feature extractor config (preprocessor_config.json): cannot take audio",
           model_->dir());
    features_ = *model_->feature_config();
  }

  int sampling_rate() const override { return static_cast<int>(features_.sampling_rate); }
  std::string kind() const override { return "ctc"; }

  Transcript transcribe(const std::vector<float>& samples, const TranscriptionOptions& o) const override {
    if (o.task != "transcribe")
      fail(ErrorKind::InvalidArgument, "task '{}': a CTC model only transcribes (translation needs Whisper)", o.task);
    if (o.timestamps) fail(ErrorKind::InvalidArgument, "timestamps need a Whisper model; this is a CTC model");
    if (o.num_beams != 1 || o.max_new_tokens || o.ignore_eos || !o.prompt.empty() ||
        (o.temperature && *o.temperature != 0))
      fail(ErrorKind::InvalidArgument,
           "beams, max_new_tokens, ignore_eos, a prompt and temperature apply to generating models (Whisper); a CTC "
           "model decodes every frame greedily");
    if (static_cast<int64_t>(samples.size()) < model_->model().min_input_samples())
      fail(ErrorKind::InvalidArgument, "the audio is {} samples long; the model needs at least {} ({:.3f} s)",
           samples.size(), model_->model().min_input_samples(),
           static_cast<double>(model_->model().min_input_samples()) / features_.sampling_rate);
    CtcTranscription r = model_->transcribe_audio(samples);
    Transcript t;
    t.text = std::move(r.text);
    t.ids = std::move(r.ids);
    t.language = o.language;  // a CTC model has no language of its own: what the caller said, if anything
    t.duration = static_cast<double>(samples.size()) / static_cast<double>(features_.sampling_rate);
    if (o.on_text && !t.text.empty()) o.on_text(t.text);  // one frame-wise pass: the text at once
    return t;
  }

 private:
  std::unique_ptr<CtcRecognizer> model_;
  audio::Wav2Vec2FeatureConfig features_;
};

}  // namespace

std::shared_ptr<const SpeechRecognizer> SpeechRecognizer::load(const std::string& dir, Device device, DType dtype) {
  const HfConfig config = HfConfig::load(dir);
  const ModelKind kind = classify_model(config.json(), config.path());
  if (kind.family == "wav2vec2") return std::make_shared<CtcSpeechRecognizer>(CtcRecognizer::load(dir, device, dtype));
  if (kind.family == "whisper" && has_encoder_decoder(kind)) return load_whisper_recognizer(dir, device, dtype);
  fail(ErrorKind::Unsupported, "{}: a {} model ({}) does not do speech recognition in this build", dir, kind.family,
       kind.architecture);
}

}  // namespace ia
