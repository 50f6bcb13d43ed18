#include "models/wav2vec2.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/activation_names.h"
#include "ops/ops.h"

namespace ia {

namespace {

// Where each weight lives under the model's prefix ("wav2vec2." in a Wav2Vec2ForCTC checkpoint).
constexpr const char* kConvLayer = "feature_extractor.conv_layers.{}.";
constexpr const char* kProjectionNorm = "feature_projection.layer_norm";
constexpr const char* kProjection = "feature_projection.projection";
constexpr const char* kPosConv = "encoder.pos_conv_embed.conv.";
constexpr const char* kEncoderNorm = "encoder.layer_norm";
constexpr const char* kLmHead = "lm_head";  // from the checkpoint's root

constexpr BlockWeightNames kBlockNames = {
    "encoder.layers.{}.",
    "layer_norm",
    {"attention.q_proj", "attention.k_proj", "attention.v_proj", nullptr, "attention.out_proj", nullptr, nullptr},
    nullptr,
    {},
    "final_layer_norm",
    {nullptr, "feed_forward.intermediate_dense", "feed_forward.output_dense"}};

// The positional convolution's weight norm under the names torch gives it: nn.utils.weight_norm
// (weight_g, weight_v) and nn.utils.parametrizations.weight_norm (original0 = g, original1 = v).
constexpr std::pair<const char*, const char*> kWeightNormNames[] = {
    {"weight_g", "weight_v"}, {"parametrizations.weight.original0", "parametrizations.weight.original1"}};

// nn.LayerNorm / nn.GroupNorm in the conv layers keep torch's default eps.
constexpr float kConvNormEps = 1e-5f;

std::vector<int64_t> int_list(const HfConfig& cfg, const char* key, std::vector<int64_t> def) {
  if (!cfg.has(key)) return def;
  const nlohmann::json& j = cfg.json().at(key);
  if (!j.is_array()) fail(ErrorKind::Corrupt, "{}: \"{}\" must be a list of integers", cfg.path(), key);
  std::vector<int64_t> out;
  for (const auto& v : j) {
    if (v.is_number_integer()) {
      out.push_back(v.get<int64_t>());
    } else if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
               std::fabs(v.get<double>()) < 9e15) {
      out.push_back(static_cast<int64_t>(v.get<double>()));
    } else {
      fail(ErrorKind::Corrupt, "{}: \"{}\" must be a list of integers", cfg.path(), key);
    }
  }
  return out;
}

void check_range(const HfConfig& cfg, const char* what, int64_t v, int64_t max) {
  if (v < 1 || v > max) fail(ErrorKind::Corrupt, "{}: {} is {} (must be 1 .. {})", cfg.path(), what, v, max);
}

}  // namespace

Wav2Vec2Config Wav2Vec2Config::from(const HfConfig& cfg) {
  Wav2Vec2Config c;
  c.vocab_size = cfg.get_int("vocab_size", 32);
  c.hidden_size = cfg.get_int("hidden_size", 768);
  c.num_hidden_layers = cfg.get_int("num_hidden_layers", 12);
  c.num_attention_heads = cfg.get_int("num_attention_heads", 12);
  c.intermediate_size = cfg.get_int("intermediate_size", 3072);
  c.hidden_act = cfg.get_string("hidden_act", "gelu");
  c.feat_extract_activation = cfg.get_string("feat_extract_activation", "gelu");
  const std::string norm = cfg.get_string("feat_extract_norm", "group");
  if (norm != "group" && norm != "layer")
    fail(ErrorKind::Corrupt, "{}: feat_extract_norm is \"{}\" (must be \"group\" or \"layer\")", cfg.path(), norm);
  c.feat_extract_group_norm = norm == "group";
  c.conv_dim = int_list(cfg, "conv_dim", {512, 512, 512, 512, 512, 512, 512});
  c.conv_kernel = int_list(cfg, "conv_kernel", {10, 3, 3, 3, 3, 2, 2});
  c.conv_stride = int_list(cfg, "conv_stride", {5, 2, 2, 2, 2, 2, 2});
  c.conv_bias = cfg.get_bool("conv_bias", false);
  c.num_conv_pos_embeddings = cfg.get_int("num_conv_pos_embeddings", 128);
  c.num_conv_pos_embedding_groups = cfg.get_int("num_conv_pos_embedding_groups", 16);
  c.layer_norm_eps = cfg.get_float("layer_norm_eps", 1e-5);
  c.do_stable_layer_norm = cfg.get_bool("do_stable_layer_norm", false);

  check_range(cfg, "vocab_size", c.vocab_size, kMaxConfigVocabSize);
  check_range(cfg, "hidden_size", c.hidden_size, kMaxConfigDimension);
  check_range(cfg, "num_hidden_layers", c.num_hidden_layers, kMaxConfigLayers);
  check_range(cfg, "num_attention_heads", c.num_attention_heads, kMaxConfigDimension);
  check_range(cfg, "intermediate_size", c.intermediate_size, kMaxConfigDimension);
  check_range(cfg, "num_conv_pos_embeddings", c.num_conv_pos_embeddings, kMaxConfigDimension);
  check_range(cfg, "num_conv_pos_embedding_groups", c.num_conv_pos_embedding_groups, kMaxConfigDimension);
  if (c.hidden_size % c.num_attention_heads != 0)
    fail(ErrorKind::Corrupt, "{}: hidden_size {} is not a multiple of num_attention_heads {}", cfg.path(),
         c.hidden_size, c.num_attention_heads);
  if (c.hidden_size % c.num_conv_pos_embedding_groups != 0)
    fail(ErrorKind::Corrupt, "{}: hidden_size {} is not a multiple of num_conv_pos_embedding_groups {}", cfg.path(),
         c.hidden_size, c.num_conv_pos_embedding_groups);
  const size_t n = c.conv_dim.size();
  if (n == 0 || n > static_cast<size_t>(kMaxConfigLayers) || c.conv_kernel.size() != n || c.conv_stride.size() != n)
    fail(ErrorKind::Corrupt, "{}: conv_dim ({}), conv_kernel ({}) and conv_stride ({}) must list the same layers",
         cfg.path(), c.conv_dim.size(), c.conv_kernel.size(), c.conv_stride.size());
  if (auto layers = cfg.opt_int("num_feat_extract_layers"); layers && *layers != static_cast<int64_t>(n))
    fail(ErrorKind::Corrupt, "{}: num_feat_extract_layers {} but conv_dim lists {} layers", cfg.path(), *layers, n);
  for (size_t i = 0; i < n; ++i) {
    check_range(cfg, "a conv_dim", c.conv_dim[i], kMaxConfigDimension);
    check_range(cfg, "a conv_kernel", c.conv_kernel[i], kMaxConfigDimension);
    check_range(cfg, "a conv_stride", c.conv_stride[i], kMaxConfigDimension);
  }
  if (!(c.layer_norm_eps >= 0))
    fail(ErrorKind::Corrupt, "{}: layer_norm_eps {} must be >= 0", cfg.path(), c.layer_norm_eps);
  if (cfg.get_bool("add_adapter", false))
    fail(ErrorKind::Unsupported, "{}: Wav2Vec2 with add_adapter (a convolutional adapter) is not supported yet",
         cfg.path());
  if (cfg.has("adapter_attn_dim"))
    fail(ErrorKind::Unsupported, "{}: Wav2Vec2 with attention adapters (adapter_attn_dim) is not supported yet",
         cfg.path());
  return c;
}

int64_t Wav2Vec2Config::output_frames(int64_t samples) const {
  int64_t len = samples;
  for (size_t i = 0; i < conv_dim.size(); ++i) {
    if (len < conv_kernel[i]) return 0;
    len = (len - conv_kernel[i]) / conv_stride[i] + 1;
  }
  return len;
}

Tensor CtcOutput::clip_logits(int64_t s) const {
  IA_CHECK(s >= 0 && s < num_clips(), "ctc output: clip {} of {}", s, num_clips());
  const int64_t begin = frame_start[static_cast<size_t>(s)], end = frame_start[static_cast<size_t>(s) + 1];
  return logits.narrow(0, begin, end - begin);
}

std::unique_ptr<Wav2Vec2ForCtc> Wav2Vec2ForCtc::load(const HfConfig& config, const WeightStore& weights,
                                                     DType compute_dtype, Device device) {
  const Wav2Vec2Config c = Wav2Vec2Config::from(config);
  auto m = std::unique_ptr<Wav2Vec2ForCtc>(new Wav2Vec2ForCtc());
  m->config_ = c;
  m->compute_dtype_ = compute_dtype;
  m->device_ = device;
  m->feat_act_ = parse_activation(c.feat_extract_activation, config.path());
  const int64_t H = c.hidden_size, G = c.num_conv_pos_embedding_groups, K = c.num_conv_pos_embeddings;
  const int64_t layers = static_cast<int64_t>(c.conv_dim.size());

  // Wav2Vec2ForCTC saves the model under "wav2vec2."; a bare Wav2Vec2Model checkpoint has no prefix.
  std::string prefix = "wav2vec2.";
  if (!weights.has(prefix + kProjection + std::string(".weight")) && weights.has(kProjection + std::string(".weight")))
    prefix = "";
  WeightSource w(weights, prefix, compute_dtype, device);
  WeightSource root(weights, "", compute_dtype, device);

  // Every tensor first, so a folder missing one costs nothing.
  const NormSpec conv_ln{NormKind::LayerNorm, true, kConvNormEps};
  const NormSpec ln{NormKind::LayerNorm, true, static_cast<float>(c.layer_norm_eps)};
  BlockSpec spec;
  spec.pre_norm = c.do_stable_layer_norm;
  spec.norm = ln;
  spec.attention.hidden = H;
  spec.attention.heads = spec.attention.kv_heads = c.num_attention_heads;
  spec.attention.head_dim = H / c.num_attention_heads;
  spec.attention.mask = AttentionMask::Bidirectional;
  spec.attention.positions = PositionKind::None;  // the positional convolution, added before the blocks
  spec.attention.kv = KvSource::Step;
  spec.attention.qkv_bias = spec.attention.o_bias = true;
  spec.mlp = MlpSpec{MlpKind::Plain, parse_activation(c.hidden_act, config.path()), H, c.intermediate_size, true};
  std::vector<std::string> needed;
  for (int64_t i = 0; i < layers; ++i) {
    const std::string lp = fmt::format(fmt::runtime(kConvLayer), i);
    needed.push_back(lp + "conv.weight");
    if (c.conv_bias) needed.push_back(lp + "conv.bias");
    if (!c.feat_extract_group_norm || i == 0)
      for (auto& t : Norm::tensor_names(lp + "layer_norm", conv_ln)) needed.push_back(std::move(t));
  }
  for (auto& t : Norm::tensor_names(kProjectionNorm, ln)) needed.push_back(std::move(t));
  for (auto& t : Linear::tensor_names({kProjection}, true)) needed.push_back(std::move(t));
  needed.push_back(std::string(kPosConv) + "bias");
  for (auto& t : Norm::tensor_names(kEncoderNorm, ln)) needed.push_back(std::move(t));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i)
    for (auto& t : Block::tensor_names(i, kBlockNames, spec)) needed.push_back(std::move(t));
  w.require(needed, "model_type wav2vec2");
  root.require(Linear::tensor_names({kLmHead}, true), "the CTC head of model_type wav2vec2");
  const std::string pos = prefix + kPosConv;
  const char* g_name = nullptr;
  const char* v_name = nullptr;
  for (const auto& [g, v] : kWeightNormNames)
    if (weights.has(pos + g) && weights.has(pos + v)) {
      g_name = g;
      v_name = v;
      break;
    }
  if (!g_name && !weights.has(pos + "weight"))
    fail(ErrorKind::NotFound,
         "{}: no weight for the positional convolution (\"{}weight_g\"/\"weight_v\", "
         "\"{}parametrizations.weight.original0\"/\"original1\" or \"{}weight\")",
         weights.dir(), pos, pos, pos);

  // The feature encoder.
  int64_t in_channels = 1;
  m->samples_per_frame_ = 1;
  for (int64_t i = 0; i < layers; ++i) {
    const std::string lp = fmt::format(fmt::runtime(kConvLayer), i);
    const int64_t out = c.conv_dim[static_cast<size_t>(i)];
    ConvLayer layer;
    layer.stride = c.conv_stride[static_cast<size_t>(i)];
    layer.weight = w.vector(lp + "conv.weight", {out, in_channels, c.conv_kernel[static_cast<size_t>(i)]});
    if (c.conv_bias) layer.bias = w.vector(lp + "conv.bias", {out});
    if (c.feat_extract_group_norm && i == 0) {
      layer.norm_weight = w.vector(lp + "layer_norm.weight", {out});
      layer.norm_bias = w.vector(lp + "layer_norm.bias", {out});
    } else if (!c.feat_extract_group_norm) {
      layer.layer_norm = Norm::load(w, lp + "layer_norm", out, conv_ln);
    }
    m->conv_.push_back(std::move(layer));
    m->samples_per_frame_ *= c.conv_stride[static_cast<size_t>(i)];
    in_channels = out;
  }
  int64_t need = 1;  // samples for one frame: walk the layers back from one output frame
  for (int64_t i = layers - 1; i >= 0; --i)
    need = (need - 1) * c.conv_stride[static_cast<size_t>(i)] + c.conv_kernel[static_cast<size_t>(i)];
  m->min_samples_ = need;

  m->projection_norm_ = Norm::load(w, kProjectionNorm, in_channels, ln);
  m->projection_ = Linear::load(w, kProjection, H, in_channels, true);

  // The positional convolution: weight = g * v / ||v||, the norm over all dims but the kernel's
  // (torch's weight_norm(dim=2), as transformers builds it), folded once here.
  m->pos_bias_ = w.vector(std::string(kPosConv) + "bias", {H});
  if (g_name) {
    const Shape& g_shape = weights.info(pos + g_name).shape;
    if (g_shape.size() != 3 || g_shape[0] != 1 || g_shape[1] != 1)
      fail(ErrorKind::Unsupported,
           "{}: tensor \"{}{}\" has shape {}: a weight norm over other dims than transformers' (dim=2, g of "
           "shape [1, 1, kernel])",
           weights.dir(), pos, g_name, shape_str(g_shape));
    const Tensor g = weights.get_as(pos + g_name, DType::F32, {1, 1, K}).contiguous();
    const Tensor v = weights.get_as(pos + v_name, DType::F32, {H, H / G, K}).contiguous();
    Tensor folded = Tensor::empty({H, H / G, K}, DType::F32);
    const float* gp = g.data<float>();
    const float* vp = v.data<float>();
    float* fp = folded.data<float>();
    const int64_t rows = H * (H / G);
    for (int64_t k = 0; k < K; ++k) {
      double ss = 0;
      for (int64_t r = 0; r < rows; ++r) ss += static_cast<double>(vp[r * K + k]) * vp[r * K + k];
      const float scale = gp[k] / static_cast<float>(std::sqrt(ss));  // torch: v * (g / norm), in f32
      for (int64_t r = 0; r < rows; ++r) fp[r * K + k] = vp[r * K + k] * scale;
    }
    m->pos_weight_ = ops::to_device(folded, device);
  } else {
    m->pos_weight_ = w.vector(std::string(kPosConv) + "weight", {H, H / G, K});
  }

  m->encoder_norm_ = Norm::load(w, kEncoderNorm, H, ln);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) m->blocks_.push_back(Block::load(w, i, kBlockNames, spec));
  m->lm_head_ = Linear::load(root, kLmHead, c.vocab_size, H, true);
  return m;
}

Tensor Wav2Vec2ForCtc::feature_encoder(const Tensor& samples) const {
  const int64_t n = samples.size(0);
  // On the device and contiguous (a device clip may be a strided view), as [1, n, 1].
  Tensor x = ops::concat_rows({ops::to_device(samples, device_)}).view({1, n, 1});
  for (size_t i = 0; i < conv_.size(); ++i) {
    const ConvLayer& l = conv_[i];
    Conv1dParams p;
    p.stride = l.stride;
    x = ops::conv1d(x, l.weight, l.bias.defined() ? &l.bias : nullptr, p);
    if (l.norm_weight.defined()) {
      // GroupNorm with a group per channel: each channel normalised over the clip's frames.
      x = ops::group_norm(x, x.size(2), l.norm_weight, &l.norm_bias, kConvNormEps);
    } else if (l.layer_norm.defined()) {
      x = l.layer_norm(x);
    }
    x = ops::activation(feat_act_, x);
  }
  return x.view({x.size(1), x.size(2)});
}

CtcOutput Wav2Vec2ForCtc::forward(const std::vector<Tensor>& clips) const {
  if (clips.empty()) fail(ErrorKind::InvalidArgument, "wav2vec2: no audio clips to run");
  const int64_t S = static_cast<int64_t>(clips.size());
  CtcOutput out;
  out.frame_start.push_back(0);
  std::vector<int64_t> frames;
  for (int64_t s = 0; s < S; ++s) {
    const Tensor& clip = clips[static_cast<size_t>(s)];
    if (!clip.defined() || clip.dtype() != DType::F32 || clip.dim() != 1)
      fail(ErrorKind::InvalidArgument, "wav2vec2: clip {} must be a 1-D f32 tensor of samples, got {}", s,
           clip.defined() ? clip.describe() : std::string("nothing"));
    const int64_t n = clip.size(0), f = output_frames(n);
    if (f < 1)
      fail(ErrorKind::InvalidArgument,
           "wav2vec2: clip {} has {} samples, fewer than the {} the feature encoder needs for one frame", s, n,
           min_samples_);
    frames.push_back(f);
    out.frame_start.push_back(out.frame_start.back() + f);
  }
  const int64_t T = out.frame_start.back(), H = config_.hidden_size;

  // Each clip's convolutions alone, then every frame packed into one step's rows.
  std::vector<Tensor> features;
  for (const Tensor& clip : clips) features.push_back(feature_encoder(clip));
  Tensor h = projection_(projection_norm_(ops::concat_rows(features)));

  // The positional convolution sees one clip at a time (zero padding at its ends, as alone).
  const int64_t K = config_.num_conv_pos_embeddings;
  Conv1dParams pc;
  pc.padding = K / 2;
  pc.groups = config_.num_conv_pos_embedding_groups;
  std::vector<Tensor> positions;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t f = frames[static_cast<size_t>(s)];
    Tensor rows = h.narrow(0, out.frame_start[static_cast<size_t>(s)], f).view({1, f, H});
    // An even kernel gives one frame more than the input (Wav2Vec2SamePadLayer drops it).
    Tensor conv = ops::conv1d(rows, pos_weight_, &pos_bias_, pc).select(0, 0).narrow(0, 0, f);
    positions.push_back(ops::activation(feat_act_, conv));
  }
  h = ops::add(h, ops::concat_rows(positions));
  if (!config_.do_stable_layer_norm) h = encoder_norm_(h);

  StepInputs step;
  step.num_tokens = T;
  step.num_sequences = S;
  step.query_start = ops::to_device(Tensor::from_vector(out.frame_start, {S + 1}), device_);
  step.host_seq_lens = frames;
  step.host_first_pos.assign(static_cast<size_t>(S), 0);
  step.max_seq_len = *std::max_element(frames.begin(), frames.end());
  BlockContext ctx;
  ctx.step = &step;
  ctx.bf16_products = compute_dtype_ == DType::BF16;
  for (const Block& b : blocks_) h = b(h, ctx);
  if (config_.do_stable_layer_norm) h = encoder_norm_(h);
  out.hidden_states = h;
  out.logits = lm_head_(h);
  return out;
}

}  // namespace ia
