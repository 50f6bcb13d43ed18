#include "models/clap.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/activation_names.h"
#include "ops/ops.h"

namespace ia {

namespace {

// A sub-config (text_config, audio_config), or an empty one: every key then takes its default.
HfConfig sub_or_empty(const HfConfig& c, const std::string& key) {
  if (auto s = c.sub(key)) return *s;
  return HfConfig::from_json(nlohmann::json::object(), c.path() + ":" + key);
}

ClapProjection load_projection(const WeightSource& w, const std::string& name, int64_t in, int64_t out,
                               Activation act) {
  ClapProjection p;
  p.linear1 = Linear::load(w, name + ".linear1", out, in, true);
  p.linear2 = Linear::load(w, name + ".linear2", out, out, true);
  p.activation = act;
  return p;
}

float exp_scale(const WeightStore& weights, const std::string& name) {
  Tensor scale = weights.get_as(name, DType::F32).contiguous();
  if (scale.numel() != 1) fail(ErrorKind::Corrupt, "{}: {} has {} values", weights.dir(), name, scale.numel());
  const float v = std::exp(scale.data<float>()[0]);
  if (!std::isfinite(v)) fail(ErrorKind::Corrupt, "{}: {} {} overflows", weights.dir(), name, scale.data<float>()[0]);
  return v;
}

}  // namespace

Tensor ClapProjection::operator()(const Tensor& x) const {
  LinearEpilogue act;
  act.has_activation = true;
  act.activation = activation;
  return linear2(linear1(x, act));
}

std::unique_ptr<ClapModel> ClapModel::load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                           Device device) {
  const HfConfig tc = sub_or_empty(config, "text_config");
  const HfConfig ac = sub_or_empty(config, "audio_config");
  const HtsatConfig htsat = HtsatConfig::from(ac);  // refuses fusion checkpoints before anything loads
  auto m = std::unique_ptr<ClapModel>(new ClapModel());
  m->compute_dtype_ = compute_dtype;
  m->device_ = device;
  m->projection_dim_ = config.get_int("projection_dim", 512);
  if (m->projection_dim_ < 1 || m->projection_dim_ > kMaxConfigDimension)
    fail(ErrorKind::Corrupt, "{}: projection_dim {} out of range", config.path(), m->projection_dim_);
  // ClapTextConfig's model_type is "clap_text_model" (RoBERTa positions); a sub-config without one still is.
  nlohmann::json tj = tc.json();
  if (!tj.contains("model_type")) tj["model_type"] = "clap_text_model";
  const HfConfig text_config = HfConfig::from_json(tj, tc.path());
  WeightSource root(weights, "", compute_dtype, device);
  root.require({"text_projection.linear1.weight", "text_projection.linear2.weight", "audio_projection.linear1.weight",
                "audio_projection.linear2.weight", "logit_scale_a", "logit_scale_t", "text_model.pooler.dense.weight"},
               "ClapModel");
  m->text_ = BertEncoder::load(text_config, weights, compute_dtype, device, std::string("text_model."));
  WeightSource audio(weights, "audio_model.audio_encoder.", compute_dtype, device);
  m->audio_ = HtsatAudioEncoder::load(audio, htsat);
  // Each ClapProjectionLayer reads its tower's config (projection_hidden_act, projection_dim).
  auto act_of = [&](const HfConfig& c) {
    return parse_activation(c.get_string("projection_hidden_act", config.get_string("projection_hidden_act", "relu")),
                            c.path());
  };
  for (const HfConfig* c : {&tc, &ac})
    if (c->get_int("projection_dim", m->projection_dim_) != m->projection_dim_)
      fail(ErrorKind::Corrupt, "{}: projection_dim {} differs from the model's {}", c->path(),
           c->get_int("projection_dim", 0), m->projection_dim_);
  m->text_projection_ =
      load_projection(root, "text_projection", m->text_->hidden_size(), m->projection_dim_, act_of(tc));
  m->audio_projection_ = load_projection(root, "audio_projection", htsat.hidden(), m->projection_dim_, act_of(ac));
  m->logit_scale_a_ = exp_scale(weights, "logit_scale_a");
  m->logit_scale_t_ = exp_scale(weights, "logit_scale_t");
  return m;
}

Tensor ClapModel::text_features(const StepInputs& step) const {
  EncoderOutput out = text_->forward(step);
  IA_CHECK(out.pooler_output.defined(), "clap: the text tower has no pooler");
  return text_projection_(out.pooler_output);
}

Tensor ClapModel::audio_features(const Tensor& input_features) const {
  return audio_projection_(audio_.forward(input_features));
}

}  // namespace ia
