#pragma once
// The endpoint of an audio-text model (CLAP): the model placed on a device with its feature
// extractor (ClapFeatureExtractor, preprocess/audio/clap_features.h) and its tokenizer. Clips
// arrive as mono samples at the extractor's rate (preprocess/audio/audio_loader.h); every clip
// gives input_features of one shape, so all run as one batch.
//
//   text_embeds / audio_embeds: projected, L2-normalized on request (ClapModel's text_embeds /
//     audio_embeds are; get_text_features / get_audio_features are not).
//   logits_per_audio = exp(logit_scale_a) * cosine, logits_per_text = exp(logit_scale_t) * cosine
//     (its transpose up to the scale), and each clip's softmax over the texts: zero-shot audio
//     classification as transformers' pipeline scores it.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/audio_text_model.h"
#include "models/model_registry.h"
#include "preprocess/audio/clap_features.h"
#include "tokenizers/tokenizer.h"

namespace ia {

struct AudioTextSimilarity {
  std::vector<std::vector<float>> logits_per_audio;  // [clips][texts]
  std::vector<std::vector<float>> logits_per_text;   // [texts][clips]
  std::vector<std::vector<float>> probs_per_audio;   // [clips][texts]: softmax of logits_per_audio rows
  std::vector<std::vector<float>> text_embeds;       // normalized
  std::vector<std::vector<float>> audio_embeds;      // normalized
  std::vector<int> token_counts;                     // per text, special tokens included
  double tokenize_ms = 0, preprocess_ms = 0, inference_ms = 0;
};

class AudioTextEndpoint {
 public:
  static std::shared_ptr<AudioTextEndpoint> load(const std::string& dir, Device device, DType dtype);

  // Token ids as the folder's tokenizer gives them (special tokens added), cut to the model's positions.
  std::vector<tok::Encoding> tokenize(const std::vector<std::string>& texts) const;
  // [texts, projection_dim] on the host; InvalidArgument for no texts.
  Tensor text_embeddings(const std::vector<std::string>& texts, bool normalize, double* tokenize_ms = nullptr,
                         double* inference_ms = nullptr, std::vector<int>* token_counts = nullptr) const;
  Tensor text_embeddings_of_ids(const std::vector<std::vector<int32_t>>& ids, bool normalize) const;
  // input_features [clips, channels, frames, mel] of the clips (host f32), as ClapFeatureExtractor gives them.
  Tensor input_features(const std::vector<std::vector<float>>& clips) const;
  // [clips, projection_dim] on the host; InvalidArgument for no clips or an empty one.
  Tensor audio_embeddings(const std::vector<std::vector<float>>& clips, bool normalize, double* preprocess_ms = nullptr,
                          double* inference_ms = nullptr) const;
  Tensor audio_embeddings_of(const Tensor& input_features, bool normalize) const;
  AudioTextSimilarity similarity(const std::vector<std::vector<float>>& clips,
                                 const std::vector<std::string>& texts) const;
  // The logits and softmax of normalized embeddings (what similarity() computes after the towers).
  void score(AudioTextSimilarity& r) const;

  const ModelKind& kind() const { return kind_; }
  const AudioTextModel& model() const { return *model_; }
  const audio::ClapFeatureExtractor& feature_extractor() const { return *features_; }
  int sampling_rate() const { return features_->sampling_rate(); }
  Device device() const { return model_->device(); }

 private:
  AudioTextEndpoint() = default;
  ModelKind kind_;
  std::unique_ptr<AudioTextModel> model_;
  std::unique_ptr<audio::ClapFeatureExtractor> features_;
  std::shared_ptr<tok::Tokenizer> tokenizer_;
};

}  // namespace ia
