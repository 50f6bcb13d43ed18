#include "models/llava.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/activation_names.h"
#include "models/clip.h"
#include "ops/ops.h"

namespace ia {

namespace {

// Where each part lives: the layout transformers 4 saved (language_model.model., vision_tower.
// [vision_model.], multi_modal_projector., image_newline) and transformers 5's own (model.*).
struct LlavaPrefixes {
  DecoderWeightPrefix text;
  std::string vision, projector, newline;
};

LlavaPrefixes find_prefixes(const WeightStore& w) {
  LlavaPrefixes p;
  if (w.has("language_model.model.embed_tokens.weight")) {
    p.text = {"language_model.model.", "language_model.lm_head"};
  } else if (w.has("model.language_model.embed_tokens.weight")) {
    p.text = {"model.language_model.", "lm_head"};
  } else {
    fail(ErrorKind::Corrupt, "{}: no language model embeddings (language_model.model.embed_tokens.weight)", w.dir());
  }
  for (const char* v :
       {"vision_tower.vision_model.", "vision_tower.", "model.vision_tower.vision_model.", "model.vision_tower."})
    if (w.has(std::string(v) + "embeddings.class_embedding")) p.vision = v;
  if (p.vision.empty())
    fail(ErrorKind::Corrupt, "{}: no CLIP vision tower (vision_tower.[vision_model.]embeddings.class_embedding)",
         w.dir());
  p.projector =
      w.has("model.multi_modal_projector.linear_1.weight") ? "model.multi_modal_projector." : "multi_modal_projector.";
  p.newline = w.has("model.image_newline") ? "model.image_newline" : "image_newline";
  return p;
}

HfConfig sub_config(const HfConfig& c, const std::string& key) {
  auto s = c.sub(key);
  if (!s) fail(ErrorKind::Corrupt, "{}: no \"{}\" object", c.path(), key);
  return *s;
}

}  // namespace

LlavaConfig LlavaConfig::from(const HfConfig& c) {
  LlavaConfig out;
  out.anyres = c.get_string("model_type", "llava") == "llava_next";
  // transformers 4.4x names it image_token_index, 5 image_token_id.
  out.image_token_id = c.get_int("image_token_id", c.get_int("image_token_index", 32000));
  const nlohmann::json& j = c.json();
  auto layer = j.find("vision_feature_layer");
  if (layer == j.end()) {
    out.feature_layers = {-2};
  } else if (layer->is_number_integer()) {
    out.feature_layers = {layer->get<int64_t>()};
  } else if (layer->is_array() && !layer->empty() && layer->size() <= 64 &&
             std::all_of(layer->begin(), layer->end(), [](const auto& v) { return v.is_number_integer(); })) {
    for (const auto& v : *layer) out.feature_layers.push_back(v.get<int64_t>());
  } else {
    fail(ErrorKind::Corrupt, "{}: vision_feature_layer must be an integer or a list of integers, got {}", c.path(),
         layer->dump());
  }
  const std::string strategy = c.get_string("vision_feature_select_strategy", "default");
  if (strategy != "default" && strategy != "full")
    fail(ErrorKind::Corrupt, "{}: vision_feature_select_strategy \"{}\" (default or full)", c.path(), strategy);
  out.keep_class_token = strategy == "full";
  out.projector_activation = parse_activation(c.get_string("projector_hidden_act", "gelu"), c.path());
  out.projector_bias = c.get_bool("multimodal_projector_bias", true);
  if (out.anyres) {
    if (out.keep_class_token)
      fail(ErrorKind::Unsupported,
           "{}: LLaVA-NeXT with vision_feature_select_strategy \"full\" (transformers cannot lay out its grid either)",
           c.path());
    auto pins = j.find("image_grid_pinpoints");
    if (pins == j.end() || !pins->is_array() || pins->empty() || pins->size() > 1024)
      fail(ErrorKind::Corrupt, "{}: LLaVA-NeXT needs image_grid_pinpoints, a list of [height, width]", c.path());
    for (const auto& p : *pins) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_number_integer() || !p[1].is_number_integer() ||
          p[0].get<int64_t>() < 1 || p[1].get<int64_t>() < 1 || p[0].get<int64_t>() > 65535 ||
          p[1].get<int64_t>() > 65535)
        fail(ErrorKind::Corrupt, "{}: image_grid_pinpoints entry {} is not [height, width]", c.path(), p.dump());
      out.pinpoints.emplace_back(p[0].get<int64_t>(), p[1].get<int64_t>());
    }
  }
  return out;
}

std::unique_ptr<LlavaModel> LlavaModel::load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                             Device device) {
  auto m = std::unique_ptr<LlavaModel>(new LlavaModel());
  m->cfg_ = LlavaConfig::from(config);
  m->device_ = device;
  const LlavaPrefixes p = find_prefixes(weights);
  const HfConfig text = sub_config(config, "text_config");
  m->decoder_ = DecoderLM::load(text, weights, compute_dtype, device, true, &p.text);
  const int64_t vocab = m->decoder_->config().vocab_size;
  if (m->cfg_.image_token_id < 0 || m->cfg_.image_token_id >= vocab)
    fail(ErrorKind::Corrupt, "{}: image_token_id {} is outside the vocabulary of {}", config.path(),
         m->cfg_.image_token_id, vocab);

  const VisionTowerConfig vc = clip_vision_config(sub_config(config, "vision_config"));
  WeightSource vision(weights, p.vision, compute_dtype, device);
  vision.require(VisionTower::tensor_names(vc, clip_vision_names()), "LLaVA's vision tower");
  m->vision_ = VisionTower::load(vision, vc, clip_vision_names());
  for (int64_t l : m->cfg_.feature_layers)
    if (l < -(vc.layers + 1) || l > vc.layers)
      fail(ErrorKind::Corrupt, "{}: vision_feature_layer {} is outside the tower's {} hidden states", config.path(), l,
           vc.layers + 1);

  const int64_t H = m->decoder_->config().hidden_size, V = vc.hidden;
  const auto k = static_cast<int64_t>(m->cfg_.feature_layers.size());
  WeightSource proj(weights, p.projector, compute_dtype, device);
  const bool bias = m->cfg_.projector_bias;
  proj.require(Linear::tensor_names({"linear_1", "linear_2"}, bias), "LLaVA's projector");
  if (k == 1) {
    m->projector_in_.push_back(Linear::load(proj, "linear_1", H, V, bias));
  } else {
    // linear_1 over the layers' states side by side is the sum of one GEMM per layer over its
    // column block: no concatenation of the states.
    Tensor w1 = weights.get_as(p.projector + "linear_1.weight", compute_dtype, {H, k * V});
    for (int64_t i = 0; i < k; ++i)
      m->projector_in_.push_back(Linear::from(ops::to_device(w1.narrow(1, i * V, V).contiguous(), device)));
    if (bias) m->projector_in_bias_ = proj.vector("linear_1.bias", {H});
  }
  m->projector_out_ = Linear::load(proj, "linear_2", H, H, bias);
  if (m->cfg_.anyres) {
    if (!weights.has(p.newline)) fail(ErrorKind::Corrupt, "{}: LLaVA-NeXT without \"image_newline\"", weights.dir());
    m->image_newline_ = ops::to_device(weights.get_as(p.newline, DType::F32, {H}).contiguous().view({1, H}), device);
  }
  return m;
}

int64_t LlavaModel::tokens_per_crop() const {
  const int64_t g = vision_.config().grid();
  return g * g + (cfg_.keep_class_token ? 1 : 0);
}

std::pair<int64_t, int64_t> LlavaModel::crop_grid(int64_t height, int64_t width) const {
  const auto [bh, bw] = image::select_best_resolution(height, width, cfg_.pinpoints);
  const int64_t s = vision_.config().image_size;
  return {bh / s, bw / s};
}

int64_t LlavaModel::crops_for(int64_t height, int64_t width) const {
  if (!cfg_.anyres) return 1;
  // image_size_to_num_patches: ceil-divided grid, plus the base image.
  const auto [bh, bw] = image::select_best_resolution(height, width, cfg_.pinpoints);
  const int64_t s = vision_.config().image_size;
  return 1 + ((bh + s - 1) / s) * ((bw + s - 1) / s);
}

int64_t LlavaModel::image_tokens(int64_t height, int64_t width) const {
  if (height < 1 || width < 1) fail(ErrorKind::InvalidArgument, "an image of {}x{} pixels", width, height);
  const int64_t base = tokens_per_crop();
  if (!cfg_.anyres) return base;
  const int64_t g = vision_.config().grid();
  const auto [gr, gc] = crop_grid(height, width);
  const image::UnpaddedGrid u = image::unpad_grid(gr * g, gc * g, height, width);
  return base + (u.r1 - u.r0) * (u.c1 - u.c0 + 1);
}

Tensor LlavaModel::crop_features(const Tensor& pixel_values) const {
  std::vector<Tensor> states = vision_.hidden_states(pixel_values, cfg_.feature_layers);
  const int64_t B = pixel_values.size(0);
  const int64_t T = states[0].size(0) / B;
  if (!cfg_.keep_class_token) {
    // Every row but each crop's class token.
    std::vector<int64_t> rows;
    rows.reserve(static_cast<size_t>(B * (T - 1)));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 1; t < T; ++t) rows.push_back(b * T + t);
    const Tensor idx = ops::to_device(Tensor::from_vector(rows, {B * (T - 1)}), device_);
    for (Tensor& s : states) s = ops::embedding(s, idx);
  }
  Tensor x;
  if (states.size() == 1) {
    LinearEpilogue act;
    act.has_activation = true;
    act.activation = cfg_.projector_activation;
    x = projector_in_[0](states[0], act);
  } else {
    for (size_t i = 0; i < states.size(); ++i) {
      LinearEpilogue sum;
      if (i > 0) sum.residual = &x;
      x = projector_in_[i](states[i], sum);
    }
    if (projector_in_bias_.defined()) x = ops::add(x, projector_in_bias_);
    x = ops::activation(cfg_.projector_activation, x);
  }
  return projector_out_(x);
}

Tensor LlavaModel::embed_images(const std::vector<ImagePixels>& images) const {
  if (images.empty()) fail(ErrorKind::InvalidArgument, "no images to embed");
  const int64_t s = vision_.config().image_size;
  std::vector<Tensor> crops;
  for (const ImagePixels& im : images) {
    const Tensor& px = im.pixel_values;
    const int64_t want = crops_for(im.height, im.width);
    if (px.dim() != 4 || px.size(0) != want || px.size(1) != vision_.config().channels || px.size(2) != s ||
        px.size(3) != s)
      fail(ErrorKind::InvalidArgument, "pixel_values of a {}x{} image must be [{}, {}, {}, {}], got {}", im.width,
           im.height, want, vision_.config().channels, s, s, px.describe());
    crops.push_back(px.contiguous());
  }
  const Tensor all = crops.size() == 1 ? crops[0] : ops::concat_rows(crops);
  const Tensor features = crop_features(all);  // [crops * tokens_per_crop, hidden]
  if (!cfg_.anyres) return features;

  // pack_image_features as one gather: each image's base crop, then its crops' features laid out
  // as a (rows x g) x (cols x g) grid, unpadded, every grid row followed by image_newline (the
  // row after the features).
  const int64_t g = vision_.config().grid(), tpc = tokens_per_crop();
  const int64_t newline_row = features.size(0);
  std::vector<int64_t> order;
  int64_t crop0 = 0;
  for (const ImagePixels& im : images) {
    for (int64_t t = 0; t < tpc; ++t) order.push_back(crop0 * tpc + t);
    const auto [gr, gc] = crop_grid(im.height, im.width);
    const image::UnpaddedGrid u = image::unpad_grid(gr * g, gc * g, im.height, im.width);
    for (int64_t r = u.r0; r < u.r1; ++r) {
      for (int64_t c = u.c0; c < u.c1; ++c) {
        const int64_t crop = crop0 + 1 + (r / g) * gc + c / g;
        order.push_back(crop * tpc + (r % g) * g + c % g);
      }
      order.push_back(newline_row);
    }
    crop0 += im.pixel_values.size(0);
  }
  const Tensor table = ops::concat_rows({features, image_newline_});
  const auto n = static_cast<int64_t>(order.size());
  return ops::embedding(table, ops::to_device(Tensor::from_vector(order, {n}), device_));
}

StepInputs LlavaModel::with_images(const StepInputs& step) const {
  StepInputs s = step;
  if (!step.image_embeddings.defined()) return s;
  IA_CHECK(step.embedding_rows.defined() && step.embedding_rows.numel() == step.num_tokens,
           "llava: a step with image rows needs embedding_rows for its {} tokens", step.num_tokens);
  const Tensor text = decoder_->embed_tokens(step.token_ids);
  s.input_embeddings = ops::embedding(ops::concat_rows({text, step.image_embeddings}), step.embedding_rows);
  return s;
}

Tensor LlavaModel::forward(const StepInputs& step, KvCache& cache) const {
  return decoder_->forward(with_images(step), cache);
}

Tensor LlavaModel::forward_prompt(const StepInputs& step) const {
  return decoder_->forward_prompt(with_images(step));
}

bool LlavaModel::replayable(const StepInputs& step) const {
  return !step.image_embeddings.defined() && decoder_->replayable(step);
}

}  // namespace ia
