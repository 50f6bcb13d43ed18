#include "models/clip.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/activation_names.h"
#include "ops/ops.h"

namespace ia {

namespace {

constexpr BlockWeightNames kClipBlock = {
    "encoder.layers.{}.",
    "layer_norm1",
    {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", nullptr, "self_attn.out_proj", nullptr, nullptr},
    nullptr,
    {},
    "layer_norm2",
    {nullptr, "mlp.fc1", "mlp.fc2"}};

constexpr VisionTowerNames kClipVisionNames = {"embeddings.patch_embedding",
                                               false,
                                               "embeddings.class_embedding",
                                               "embeddings.position_embedding.weight",
                                               "pre_layrnorm",
                                               nullptr,
                                               "post_layernorm",
                                               kClipBlock};

int64_t bounded(const HfConfig& c, const std::string& key, int64_t def, int64_t hi) {
  const int64_t v = c.get_int(key, def);
  if (v < 1 || v > hi) fail(ErrorKind::Corrupt, "{}: '{}' is {}, outside [1, {}]", c.path(), key, v, hi);
  return v;
}

// A sub-config (text_config, vision_config), or an empty one: every key then takes its default.
HfConfig sub_or_empty(const HfConfig& c, const std::string& key) {
  if (auto s = c.sub(key)) return *s;
  return HfConfig::from_json(nlohmann::json::object(), c.path() + ":" + key);
}

}  // namespace

std::unique_ptr<ClipModel> ClipModel::load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                           Device device) {
  const HfConfig tc = sub_or_empty(config, "text_config");
  const HfConfig vc = sub_or_empty(config, "vision_config");
  auto m = std::unique_ptr<ClipModel>(new ClipModel());
  m->compute_dtype_ = compute_dtype;
  m->device_ = device;
  // CLIPTextConfig's and CLIPVisionConfig's defaults (ViT-B/32).
  const int64_t H = bounded(tc, "hidden_size", 512, kMaxConfigDimension);
  const int64_t layers = bounded(tc, "num_hidden_layers", 12, kMaxConfigLayers);
  const int64_t heads = bounded(tc, "num_attention_heads", 8, kMaxConfigDimension);
  const int64_t inter = bounded(tc, "intermediate_size", 2048, kMaxConfigDimension);
  m->vocab_ = bounded(tc, "vocab_size", 49408, kMaxConfigVocabSize);
  m->max_positions_ = bounded(tc, "max_position_embeddings", 77, kMaxConfigPositions);
  m->eos_token_id_ = tc.get_int("eos_token_id", 49407);
  m->text_hidden_ = H;
  m->projection_dim_ = bounded(config, "projection_dim", 512, kMaxConfigDimension);
  if (H % heads != 0)
    fail(ErrorKind::Corrupt, "{}: hidden_size {} is not a multiple of num_attention_heads {}", tc.path(), H, heads);
  const float text_eps = static_cast<float>(tc.get_float("layer_norm_eps", 1e-5));
  const Activation text_act = parse_activation(tc.get_string("hidden_act", "quick_gelu"), tc.path());

  VisionTowerConfig v;
  v.hidden = bounded(vc, "hidden_size", 768, kMaxConfigDimension);
  v.layers = bounded(vc, "num_hidden_layers", 12, kMaxConfigLayers);
  v.heads = bounded(vc, "num_attention_heads", 12, kMaxConfigDimension);
  v.intermediate = bounded(vc, "intermediate_size", 3072, kMaxConfigDimension);
  v.image_size = bounded(vc, "image_size", 224, 1 << 16);
  v.patch = bounded(vc, "patch_size", 32, 1 << 12);
  v.channels = bounded(vc, "num_channels", 3, 64);
  v.eps = static_cast<float>(vc.get_float("layer_norm_eps", 1e-5));
  v.activation = parse_activation(vc.get_string("hidden_act", "quick_gelu"), vc.path());
  v.qkv_bias = true;
  if (v.hidden % v.heads != 0 || v.image_size < v.patch)
    fail(ErrorKind::Corrupt, "{}: hidden_size {} / heads {}, image_size {} / patch_size {}", vc.path(), v.hidden,
         v.heads, v.image_size, v.patch);

  const NormSpec ln{NormKind::LayerNorm, true, text_eps};
  BlockSpec spec;
  spec.pre_norm = true;
  spec.norm = ln;
  spec.attention.hidden = H;
  spec.attention.heads = spec.attention.kv_heads = heads;
  spec.attention.head_dim = H / heads;
  spec.attention.mask = AttentionMask::Causal;
  spec.attention.positions = PositionKind::None;
  spec.attention.kv = KvSource::Step;
  spec.attention.qkv_bias = spec.attention.o_bias = true;
  spec.mlp = MlpSpec{MlpKind::Plain, text_act, H, inter, true};

  WeightSource text(weights, "text_model.", compute_dtype, device);
  WeightSource vision(weights, "vision_model.", compute_dtype, device);
  WeightSource root(weights, "", compute_dtype, device);
  std::vector<std::string> needed = {"embeddings.token_embedding.weight", "embeddings.position_embedding.weight",
                                     "final_layer_norm.weight", "final_layer_norm.bias"};
  for (int64_t i = 0; i < layers; ++i)
    for (auto& t : Block::tensor_names(i, kClipBlock, spec)) needed.push_back(std::move(t));
  text.require(needed, "CLIP's text model");
  vision.require(VisionTower::tensor_names(v, kClipVisionNames), "CLIP's vision model");
  root.require({"text_projection.weight", "visual_projection.weight", "logit_scale"}, "CLIPModel");

  m->token_emb_ = text.table("embeddings.token_embedding.weight", {m->vocab_, H});
  m->pos_emb_ = text.vector("embeddings.position_embedding.weight", {m->max_positions_, H});
  for (int64_t i = 0; i < layers; ++i) m->text_blocks_.push_back(Block::load(text, i, kClipBlock, spec));
  m->text_final_norm_ = Norm::load(text, "final_layer_norm", H, ln);
  m->vision_ = VisionTower::load(vision, v, kClipVisionNames);
  m->text_projection_ = Linear::load(root, "text_projection", m->projection_dim_, H, false);
  m->visual_projection_ = Linear::load(root, "visual_projection", m->projection_dim_, v.hidden, false);
  Tensor scale = weights.get_as("logit_scale", DType::F32).contiguous();
  if (scale.numel() != 1) fail(ErrorKind::Corrupt, "{}: logit_scale has {} values", weights.dir(), scale.numel());
  m->logit_scale_ = std::exp(scale.data<float>()[0]);
  if (!std::isfinite(m->logit_scale_))
    fail(ErrorKind::Corrupt, "{}: logit_scale {} overflows", weights.dir(), scale.data<float>()[0]);
  return m;
}

int64_t ClipModel::pooled_position(std::span<const int32_t> ids) const {
  int64_t best = 0;
  if (eos_token_id_ == 2) {
    for (size_t i = 1; i < ids.size(); ++i)
      if (ids[i] > ids[static_cast<size_t>(best)]) best = static_cast<int64_t>(i);
    return best;
  }
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] == eos_token_id_) return static_cast<int64_t>(i);
  return 0;
}

Tensor ClipModel::text_features(const StepInputs& step, const std::vector<std::span<const int32_t>>& ids) const {
  const int64_t S = step.num_sequences;
  IA_CHECK(static_cast<int64_t>(ids.size()) == S, "clip: {} id lists for {} sequences", ids.size(), S);
  if (step.max_seq_len > max_positions_)
    fail(ErrorKind::InvalidArgument, "input of {} tokens exceeds the model's limit of {} tokens", step.max_seq_len,
         max_positions_);
  Tensor x = ops::add(ops::embedding(token_emb_, step.token_ids), ops::embedding(pos_emb_, step.positions));
  BlockContext ctx;
  ctx.step = &step;
  ctx.bf16_products = compute_dtype_ == DType::BF16;
  for (const Block& b : text_blocks_) x = b(x, ctx);
  x = text_final_norm_(x);
  std::vector<int64_t> rows(static_cast<size_t>(S));
  int64_t start = 0;
  for (int64_t s = 0; s < S; ++s) {
    rows[static_cast<size_t>(s)] = start + pooled_position(ids[static_cast<size_t>(s)]);
    start += static_cast<int64_t>(ids[static_cast<size_t>(s)].size());
  }
  IA_CHECK(start == step.num_tokens, "clip: {} ids for a step of {} tokens", start, step.num_tokens);
  Tensor pooled = ops::embedding(x, ops::to_device(Tensor::from_vector(rows, {S}), device_));
  return text_projection_(pooled);
}

Tensor ClipModel::image_features(const Tensor& pixel_values) const {
  return visual_projection_(vision_.forward(pixel_values).pooled);
}

}  // namespace ia
