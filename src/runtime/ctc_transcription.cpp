#include "runtime/ctc_transcription.h"

#include "core/error.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "ops/ops.h"
#include "preprocess/audio/audio_loader.h"

namespace ia {

std::vector<std::vector<int64_t>> ctc_greedy_ids(const CtcOutput& output) {
  // The argmax on the device that holds the logits: only the ids cross to the host.
  Tensor ids = ops::to_device(ops::argmax(output.logits), Device::cpu());
  const int32_t* p = ids.data<int32_t>();
  std::vector<std::vector<int64_t>> out;
  for (int64_t s = 0; s < output.num_clips(); ++s) {
    const int64_t begin = output.frame_start[static_cast<size_t>(s)];
    const int64_t end = output.frame_start[static_cast<size_t>(s) + 1];
    out.emplace_back(p + begin, p + end);
  }
  return out;
}

std::vector<CtcTranscription> transcribe_ctc(const CtcModel& model, const tok::CtcTokenizer& tokenizer,
                                             const std::vector<Tensor>& clips) {
  const CtcOutput output = model.forward(clips);
  std::vector<CtcTranscription> out;
  for (auto& ids : ctc_greedy_ids(output)) {
    CtcTranscription t;
    t.text = tokenizer.decode(ids);  // skip_special_tokens=False, as the ASR pipeline decodes CTC
    t.ids = std::move(ids);
    out.push_back(std::move(t));
  }
  return out;
}

CtcTranscription transcribe_ctc(const CtcModel& model, const tok::CtcTokenizer& tokenizer, const Tensor& samples) {
  return std::move(transcribe_ctc(model, tokenizer, std::vector<Tensor>{samples}).front());
}

std::vector<Tensor> clips_from_padded_batch(const Tensor& input_values, const Tensor* attention_mask) {
  if (!input_values.defined() || input_values.dtype() != DType::F32 || input_values.dim() != 2 ||
      !input_values.device().is_cpu())
    fail(ErrorKind::InvalidArgument, "input_values must be a host f32 [batch, samples] tensor, got {}",
         input_values.defined() ? input_values.describe() : std::string("nothing"));
  const int64_t B = input_values.size(0), L = input_values.size(1);
  std::vector<Tensor> clips;
  if (!attention_mask) {
    for (int64_t b = 0; b < B; ++b) clips.push_back(input_values.select(0, b));
    return clips;
  }
  const Tensor& m = *attention_mask;
  if (!m.defined() || m.dim() != 2 || m.size(0) != B || m.size(1) != L || !m.device().is_cpu())
    fail(ErrorKind::InvalidArgument, "attention_mask must be a host [{}, {}] tensor, got {}", B, L,
         m.defined() ? m.describe() : std::string("nothing"));
  const Tensor mc = m.contiguous();
  for (int64_t b = 0; b < B; ++b) {
    int64_t len = 0;
    bool ended = false;
    for (int64_t i = 0; i < L; ++i) {
      const bool on = load_scalar(mc.raw(), mc.dtype(), b * L + i) != 0;
      if (on && ended)
        fail(ErrorKind::InvalidArgument,
             "attention_mask row {} has a sample after padding (the feature extractor pads on the right)", b);
      if (on) ++len;
      ended = ended || !on;
    }
    if (len == 0) fail(ErrorKind::InvalidArgument, "attention_mask row {} masks every sample", b);
    clips.push_back(input_values.select(0, b).narrow(0, 0, len));
  }
  return clips;
}

std::unique_ptr<CtcRecognizer> CtcRecognizer::load(const std::string& dir, Device device, DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    fail(ErrorKind::InvalidArgument, "dtype {} is not supported for speech models (use f32 or bf16)",
         dtype_name(dtype));
  HfConfig config = HfConfig::load(dir);
  auto r = std::unique_ptr<CtcRecognizer>(new CtcRecognizer());
  r->dir_ = dir;
  r->kind_ = classify_model(config.json(), config.path());
  require_ctc_model(r->kind_, dir);
  r->tokenizer_ = tok::CtcTokenizer::load(dir);
  try {
    r->features_ = audio::Wav2Vec2FeatureConfig::load(dir);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::NotFound) throw;  // a malformed config is the folder's error
  }
  auto weights = WeightStore::open(dir);
  r->model_ = load_ctc_model(config, *weights, dtype, device);
  return r;
}

namespace {

const audio::Wav2Vec2FeatureConfig& required_features(const CtcRecognizer& r) {
  if (!r.feature_config())
    fail(ErrorKind::NotFound, "{}: no feature extractor config (preprocessor_config.json) to prepare audio with",
         r.dir());
  return *r.feature_config();
}

}  // namespace

CtcTranscription CtcRecognizer::transcribe_audio(std::span<const float> samples) const {
  return transcribe(audio::wav2vec2_input_values(samples, required_features(*this)));
}

CtcTranscription CtcRecognizer::transcribe_file(const std::string& path) const {
  const audio::Wav2Vec2FeatureConfig& fc = required_features(*this);
  const audio::AudioClip clip = audio::load_audio_file(path, static_cast<int>(fc.sampling_rate));
  return transcribe(audio::wav2vec2_input_values(clip.samples, fc));
}

}  // namespace ia
