#pragma once
// Speech recognition with a CTC model (Wav2Vec2ForCTC): normalised waveforms in, text out, as
// transformers' automatic-speech-recognition pipeline decodes a CTC model: the argmax of each
// frame's logits (taken on the model's device; only the ids come back), then the tokenizer's
// CTC decoding (repeats grouped, the blank dropped, the word delimiter a space, special tokens
// kept). The audio front end (file decoding, resampling, the feature extractor's zero-mean
// unit-variance normalisation) is the caller's: clips here are its input_values.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/ctc_model.h"
#include "models/model_registry.h"
#include "preprocess/audio/wav2vec2_features.h"
#include "tokenizers/ctc_tokenizer.h"

namespace ia {

struct CtcTranscription {
  std::string text;          // the tokenizer's decoding of `ids`
  std::vector<int64_t> ids;  // one per frame: transformers' logits.argmax(-1), before grouping
};

// Greedy CTC decoding of each clip ([samples] f32 input_values, host or device), in input order;
// the clips run as one batch (models/ctc_model.h: each clip as transformers runs it alone).
std::vector<CtcTranscription> transcribe_ctc(const CtcModel& model, const tok::CtcTokenizer& tokenizer,
                                             const std::vector<Tensor>& clips);
CtcTranscription transcribe_ctc(const CtcModel& model, const tok::CtcTokenizer& tokenizer, const Tensor& samples);

// The frame-wise argmax of a forward's logits, per clip (ids [frames] each), as host vectors.
std::vector<std::vector<int64_t>> ctc_greedy_ids(const CtcOutput& output);

// The clips of a batch the way transformers' feature extractor pads one: input_values [B, L] f32
// (host), right-padded. With an attention_mask [B, L] (what extractors with
// return_attention_mask give; any integer, bool or f32 dtype, 1 = sample) row b is its first
// sum(mask[b]) samples: the model then computes its frames exactly as transformers does with
// that mask (padding frames are not computed). Without one, row b is the whole row, padding
// included, as transformers runs a batch of a model that takes no mask (group-norm
// Wav2Vec2: the padding is part of what its feature encoder normalises). InvalidArgument for
// other shapes, a mask that is not ones followed by zeros, or an all-zero row.
std::vector<Tensor> clips_from_padded_batch(const Tensor& input_values, const Tensor* attention_mask);

// A CTC model folder ready to transcribe: config.json, the weights, the CTC tokenizer
// (vocab.json + tokenizer_config.json) and, when the folder has one, its feature extractor config
// (preprocessor_config.json / processor_config.json), loaded as a user's model folder.
class CtcRecognizer {
 public:
  // Unsupported when the folder's model is not a CTC model this build runs; dtype f32 or bf16.
  static std::unique_ptr<CtcRecognizer> load(const std::string& dir, Device device, DType dtype = DType::F32);

  const CtcModel& model() const { return *model_; }
  const tok::CtcTokenizer& tokenizer() const { return *tokenizer_; }
  const ModelKind& kind() const { return kind_; }
  const std::string& dir() const { return dir_; }

  std::vector<CtcTranscription> transcribe(const std::vector<Tensor>& clips) const {
    return transcribe_ctc(*model_, *tokenizer_, clips);
  }
  CtcTranscription transcribe(const Tensor& samples) const { return transcribe_ctc(*model_, *tokenizer_, samples); }

  // From audio: samples (mono, at the feature extractor's sampling_rate) normalised as
  // Wav2Vec2FeatureExtractor does, or a file decoded, mixed down and resampled to that rate
  // (preprocess/audio). NotFound when the folder has no feature extractor config; the audio
  // front end's errors (InvalidArgument, Corrupt, Unsupported) for bad audio.
  CtcTranscription transcribe_audio(std::span<const float> samples) const;
  CtcTranscription transcribe_file(const std::string& path) const;
  // The folder's feature extractor settings (return_attention_mask says whether transformers
  // gives the model a mask for padded batches); nullopt when it has none.
  const std::optional<audio::Wav2Vec2FeatureConfig>& feature_config() const { return features_; }

 private:
  CtcRecognizer() = default;
  std::string dir_;
  ModelKind kind_;
  std::unique_ptr<CtcModel> model_;
  std::shared_ptr<tok::CtcTokenizer> tokenizer_;
  std::optional<audio::Wav2Vec2FeatureConfig> features_;
};

}  // namespace ia
