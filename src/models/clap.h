#pragma once
// CLAP (ClapModel) on the shared layers: the text tower is the RoBERTa encoder (BertEncoder under
// "text_model.", positions past the padding id) with its pooler (dense + tanh on <s>), the audio
// tower the HTSAT encoder (htsat_audio_encoder.h), each followed by its projection (linear, ReLU,
// linear); logit_scale_a / logit_scale_t as the checkpoint holds them (exponentiated).
#include <memory>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/audio_text_model.h"
#include "models/bert_encoder.h"
#include "models/htsat_audio_encoder.h"

namespace ia {

// ClapProjectionLayer: linear1, activation (projection_hidden_act), linear2.
struct ClapProjection {
  Linear linear1, linear2;
  Activation activation = Activation::Relu;
  Tensor operator()(const Tensor& x) const;
};

class ClapModel final : public AudioTextModel {
 public:
  static std::unique_ptr<ClapModel> load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                         Device device);

  int64_t projection_dim() const override { return projection_dim_; }
  int64_t vocab_size() const override { return text_->vocab_size(); }
  int64_t max_text_tokens() const override { return text_->max_input_tokens(); }
  float logit_scale_audio() const override { return logit_scale_a_; }
  float logit_scale_text() const override { return logit_scale_t_; }
  DType compute_dtype() const override { return compute_dtype_; }
  Device device() const override { return device_; }
  Tensor text_features(const StepInputs& step) const override;
  Tensor audio_features(const Tensor& input_features) const override;

  const HtsatAudioEncoder& audio_encoder() const { return audio_; }

 private:
  ClapModel() = default;
  std::unique_ptr<BertEncoder> text_;
  HtsatAudioEncoder audio_;
  ClapProjection text_projection_, audio_projection_;
  int64_t projection_dim_ = 0;
  float logit_scale_a_ = 1, logit_scale_t_ = 1;
  DType compute_dtype_ = DType::F32;
  Device device_;
};

}  // namespace ia
