#include "models/detr.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/activation_names.h"
#include "models/cross_kv_cache.h"
#include "models/step_inputs.h"
#include "models/vit.h"
#include "ops/ops.h"

namespace ia {

namespace {

constexpr const char* kBackbonePrefix = "model.backbone.conv_encoder.model.";
// DetrSinePositionEmbedding as DetrModel builds it: normalize=True, scale 2 pi, temperature 10000.
constexpr float kPositionTemperature = 10000.0f;
constexpr float kPositionScale = static_cast<float>(2.0 * M_PI);
// nn.LayerNorm's default: DetrConfig has no layer_norm_eps.
constexpr float kLayerNormEps = 1e-5f;

constexpr BlockWeightNames kEncoderNames = {
    "encoder.layers.{}.",
    "self_attn_layer_norm",
    {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", nullptr, "self_attn.out_proj", nullptr, nullptr},
    nullptr,
    {},
    "final_layer_norm",
    {nullptr, "fc1", "fc2"}};

constexpr BlockWeightNames kDecoderNames = {
    "decoder.layers.{}.",
    "self_attn_layer_norm",
    {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", nullptr, "self_attn.out_proj", nullptr, nullptr},
    "encoder_attn_layer_norm",
    {"encoder_attn.q_proj", "encoder_attn.k_proj", "encoder_attn.v_proj", nullptr, "encoder_attn.out_proj", nullptr,
     nullptr},
    "final_layer_norm",
    {nullptr, "fc1", "fc2"}};

int64_t bounded(const HfConfig& c, const std::string& key, int64_t def, int64_t hi) {
  const int64_t v = c.get_int(key, def);
  if (v < 1 || v > hi) fail(ErrorKind::Corrupt, "{}: '{}' is {}, outside [1, {}]", c.path(), key, v, hi);
  return v;
}

// Post-norm blocks whose attention adds positions to the inputs of q and k.
BlockSpec detr_block(const DetrConfig& c, int64_t heads, int64_t ffn, bool cross) {
  BlockSpec spec;
  spec.pre_norm = false;
  spec.norm = NormSpec{NormKind::LayerNorm, true, kLayerNormEps};
  AttentionSpec& a = spec.attention;
  a.hidden = c.d_model;
  a.heads = a.kv_heads = heads;
  a.head_dim = c.d_model / heads;
  a.mask = AttentionMask::Bidirectional;
  a.positions = PositionKind::QueryKey;
  a.kv = KvSource::Step;
  a.qkv_bias = a.o_bias = true;
  if (cross) {
    AttentionSpec x = a;
    x.kv = KvSource::CrossCache;
    spec.cross_attention = x;
  }
  spec.mlp = MlpSpec{MlpKind::Plain, c.activation, c.d_model, ffn, true};
  return spec;
}

// [C, H, W] (or [1, C, H, W]) f32 on any device -> [1, H, W, C] contiguous on the host.
Tensor channels_last(const Tensor& pixel_values, int64_t channels) {
  Tensor pv = pixel_values.device().is_cpu() ? pixel_values : ops::to_device(pixel_values, Device::cpu());
  if (pv.dim() == 4 && pv.size(0) == 1) pv = pv.select(0, 0);
  if (pv.dim() != 3 || pv.size(0) != channels || pv.dtype() != DType::F32)
    fail(ErrorKind::InvalidArgument, "DETR: pixel_values {} must be [{}, H, W] f32", pv.describe(), channels);
  return pv.transpose(0, 1).transpose(1, 2).contiguous().view({1, pv.size(1), pv.size(2), channels});
}

Tensor rows_i32(const std::vector<int64_t>& v, const Shape& shape, Device device) {
  return ops::to_device(Tensor::from_vector(v, shape).to(DType::I32), device);
}

}  // namespace

DetrConfig detr_config(const HfConfig& c) {
  DetrConfig d;
  if (c.get_bool("use_timm_backbone", false))
    fail(ErrorKind::Unsupported,
         "{}: a timm backbone (use_timm_backbone: true, as facebook/detr-resnet-50 stores it) is not supported; "
         "save the model with transformers' Hugging Face ResNet backbone (use_timm_backbone: false, "
         "backbone_config of model_type \"resnet\")",
         c.path());
  const std::string pos = c.get_string("position_embedding_type", "sine");
  if (pos != "sine")
    fail(ErrorKind::Unsupported, "{}: DETR position_embedding_type \"{}\" is not supported (only \"sine\")", c.path(),
         pos);
  d.d_model = bounded(c, "d_model", 256, kMaxConfigDimension);
  d.encoder_layers = bounded(c, "encoder_layers", 6, kMaxConfigLayers);
  d.decoder_layers = bounded(c, "decoder_layers", 6, kMaxConfigLayers);
  d.encoder_heads = bounded(c, "encoder_attention_heads", 8, kMaxConfigDimension);
  d.decoder_heads = bounded(c, "decoder_attention_heads", 8, kMaxConfigDimension);
  d.encoder_ffn = bounded(c, "encoder_ffn_dim", 2048, kMaxConfigDimension);
  d.decoder_ffn = bounded(c, "decoder_ffn_dim", 2048, kMaxConfigDimension);
  d.num_queries = bounded(c, "num_queries", 100, 1 << 16);
  d.activation = parse_activation(c.get_string("activation_function", "relu"), c.path());
  if (d.d_model % 2 != 0 || d.d_model % d.encoder_heads != 0 || d.d_model % d.decoder_heads != 0)
    fail(ErrorKind::Corrupt, "{}: d_model {} must be even and a multiple of the attention heads ({}, {})", c.path(),
         d.d_model, d.encoder_heads, d.decoder_heads);
  std::optional<HfConfig> b = c.sub("backbone_config");
  if (!b) {
    // DetrConfig's default backbone: ResNet-50 read at stage 4.
    if (c.has("backbone") && c.get_string("backbone", "") != "resnet-50" && c.get_string("backbone", "") != "resnet50")
      fail(ErrorKind::Unsupported, "{}: DETR backbone \"{}\" without a backbone_config is not supported", c.path(),
           c.get_string("backbone", ""));
    return d;
  }
  d.backbone = resnet_backbone_config(*b);
  return d;
}

std::vector<uint8_t> nearest_mask(const std::vector<uint8_t>& mask, int64_t H, int64_t W, int64_t h, int64_t w) {
  IA_CHECK(static_cast<int64_t>(mask.size()) == H * W && h >= 1 && w >= 1, "nearest_mask: {} values for {}x{}",
           mask.size(), H, W);
  const float sy = static_cast<float>(H) / static_cast<float>(h), sx = static_cast<float>(W) / static_cast<float>(w);
  std::vector<uint8_t> out(static_cast<size_t>(h * w));
  for (int64_t y = 0; y < h; ++y) {
    const int64_t iy = std::min(H - 1, static_cast<int64_t>(std::floor(static_cast<float>(y) * sy)));
    for (int64_t x = 0; x < w; ++x) {
      const int64_t ix = std::min(W - 1, static_cast<int64_t>(std::floor(static_cast<float>(x) * sx)));
      out[static_cast<size_t>(y * w + x)] = mask[static_cast<size_t>(iy * W + ix)];
    }
  }
  return out;
}

Tensor detr_sine_position_embedding(const std::vector<uint8_t>& mask, int64_t h, int64_t w, int64_t d_model) {
  IA_CHECK(static_cast<int64_t>(mask.size()) == h * w && d_model % 2 == 0, "detr positions: {} mask values for {}x{}",
           mask.size(), h, w);
  const int64_t half = d_model / 2;
  // cumsum of the mask down the rows (y) and along the columns (x), in f32 as torch's cumsum(dtype=float32).
  std::vector<float> ys(static_cast<size_t>(h * w)), xs(static_cast<size_t>(h * w));
  for (int64_t x = 0; x < w; ++x) {
    float s = 0;
    for (int64_t y = 0; y < h; ++y) ys[static_cast<size_t>(y * w + x)] = s += mask[static_cast<size_t>(y * w + x)];
  }
  for (int64_t y = 0; y < h; ++y) {
    float s = 0;
    for (int64_t x = 0; x < w; ++x) xs[static_cast<size_t>(y * w + x)] = s += mask[static_cast<size_t>(y * w + x)];
  }
  // Normalised by the last row / column: y / (y_last + 1e-6) * scale.
  std::vector<float> ny(ys.size()), nx(xs.size());
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const size_t i = static_cast<size_t>(y * w + x);
      ny[i] = ys[i] / (ys[static_cast<size_t>((h - 1) * w + x)] + 1e-6f) * kPositionScale;
      nx[i] = xs[i] / (xs[static_cast<size_t>(y * w + w - 1)] + 1e-6f) * kPositionScale;
    }
  std::vector<float> dim_t(static_cast<size_t>(half));
  for (int64_t k = 0; k < half; ++k)
    dim_t[static_cast<size_t>(k)] =
        std::pow(kPositionTemperature, static_cast<float>(2 * (k / 2)) / static_cast<float>(half));
  Tensor out = Tensor::empty({h * w, d_model}, DType::F32);
  float* o = out.data<float>();
  for (int64_t i = 0; i < h * w; ++i) {
    float* row = o + i * d_model;
    for (int64_t k = 0; k < half; ++k) {
      const float vy = ny[static_cast<size_t>(i)] / dim_t[static_cast<size_t>(k)];
      const float vx = nx[static_cast<size_t>(i)] / dim_t[static_cast<size_t>(k)];
      row[k] = k % 2 == 0 ? std::sin(vy) : std::cos(vy);
      row[half + k] = k % 2 == 0 ? std::sin(vx) : std::cos(vx);
    }
  }
  return out;
}

std::unique_ptr<DetrForObjectDetection> DetrForObjectDetection::load(const HfConfig& config, const WeightStore& weights,
                                                                     DType compute_dtype, Device device) {
  const DetrConfig c = detr_config(config);
  if (weights.has(std::string(kBackbonePrefix) + "conv1.weight"))
    fail(ErrorKind::Unsupported,
         "{}: the checkpoint holds a timm ResNet backbone (conv1, layer1, ...), which this build does not run; "
         "save it with transformers' Hugging Face ResNet backbone (use_timm_backbone: false)",
         weights.dir());
  auto m = std::unique_ptr<DetrForObjectDetection>(new DetrForObjectDetection());
  m->config_ = c;
  m->compute_dtype_ = compute_dtype;
  m->device_ = device;
  WeightSource root(weights, "", compute_dtype, device);
  WeightSource w(weights, "model.", compute_dtype, device);
  const BlockSpec enc = detr_block(c, c.encoder_heads, c.encoder_ffn, false);
  const BlockSpec dec = detr_block(c, c.decoder_heads, c.decoder_ffn, true);
  std::vector<std::string> names = {"input_projection.weight", "input_projection.bias",
                                    "query_position_embeddings.weight", "decoder.layernorm.weight",
                                    "decoder.layernorm.bias"};
  for (int64_t i = 0; i < c.encoder_layers; ++i)
    for (auto& n : Block::tensor_names(i, kEncoderNames, enc)) names.push_back(std::move(n));
  for (int64_t i = 0; i < c.decoder_layers; ++i)
    for (auto& n : Block::tensor_names(i, kDecoderNames, dec)) names.push_back(std::move(n));
  w.require(names, "model_type detr");
  root.require({"class_labels_classifier.weight", "class_labels_classifier.bias", "bbox_predictor.layers.0.weight",
                "bbox_predictor.layers.1.weight", "bbox_predictor.layers.2.weight"},
               "DetrForObjectDetection");

  m->backbone_ = ResNetBackbone::load(WeightSource(weights, kBackbonePrefix, compute_dtype, device), c.backbone);
  const int64_t d = c.d_model;
  m->projection_weight_ = w.vector("input_projection.weight", {d, m->backbone_.channels(), 1, 1});
  m->projection_bias_ = w.vector("input_projection.bias", {d});
  m->query_positions_ = w.vector("query_position_embeddings.weight", {c.num_queries, d});
  for (int64_t i = 0; i < c.encoder_layers; ++i) m->encoder_.push_back(Block::load(w, i, kEncoderNames, enc));
  for (int64_t i = 0; i < c.decoder_layers; ++i) m->decoder_.push_back(Block::load(w, i, kDecoderNames, dec));
  m->decoder_norm_ = Norm::load(w, "decoder.layernorm", d, enc.norm);
  const int64_t classes = weights.info("class_labels_classifier.weight").shape.at(0);
  if (classes < 2 || classes > (int64_t{1} << 20))
    fail(ErrorKind::Corrupt, "{}: class_labels_classifier.weight has {} rows", weights.dir(), classes);
  m->classifier_ = Linear::load(root, "class_labels_classifier", classes, d, true);
  for (int64_t i = 0; i < 3; ++i)
    m->box_mlp_.push_back(Linear::load(root, "bbox_predictor.layers." + std::to_string(i), i == 2 ? 4 : d, d, true));
  m->labels_ = config_labels(config, classes - 1);
  return m;
}

ObjectDetectorOutput DetrForObjectDetection::forward(const std::vector<Tensor>& pixel_values) const {
  const int64_t B = static_cast<int64_t>(pixel_values.size()), d = config_.d_model, Q = config_.num_queries;
  IA_CHECK(B >= 1, "DETR: no images");
  ObjectDetectorOutput out;
  // Each image through the backbone and the input projection at its own size; its rows and
  // positions packed after the previous image's.
  std::vector<Tensor> rows, positions;
  std::vector<int64_t> starts = {0};
  Conv2dParams pointwise;
  pointwise.bf16_products = compute_dtype_ == DType::BF16;
  for (const Tensor& pv : pixel_values) {
    Tensor x = ops::to_device(channels_last(pv, config_.backbone.num_channels), device_);
    Tensor f = ops::conv2d(backbone_(x), projection_weight_, &projection_bias_, pointwise);
    const int64_t h = f.size(1), w = f.size(2);
    out.feature_sizes.emplace_back(h, w);
    rows.push_back(f.view({h * w, d}));
    // The pixel mask of an unpadded image is all ones, and so is its nearest-downsampled copy.
    positions.push_back(detr_sine_position_embedding(std::vector<uint8_t>(static_cast<size_t>(h * w), 1), h, w, d));
    starts.push_back(starts.back() + h * w);
  }
  Tensor enc_positions = ops::to_device(concat_rows(positions), device_);
  Tensor h = ops::concat_rows(rows);

  StepInputs enc_step;
  enc_step.num_tokens = starts.back();
  enc_step.num_sequences = B;
  enc_step.query_start = rows_i32(starts, {B + 1}, device_);
  BlockContext ctx;
  ctx.step = &enc_step;
  ctx.query_key_positions = &enc_positions;
  for (const Block& b : encoder_) h = b(h, ctx);

  // Decoder: the object queries start at zero; their learned positions go to q and k.
  CrossKvCache cross;
  cross.starts = starts;
  for (const Block& b : decoder_) {
    auto [k, v] = b.cross_kv(h, &enc_positions);
    cross.k.push_back(k);
    cross.v.push_back(v);
  }
  std::vector<int64_t> q_starts = {0}, ranges;
  std::vector<Tensor> query_rows;
  for (int64_t i = 0; i < B; ++i) {
    q_starts.push_back(q_starts.back() + Q);
    ranges.push_back(starts[static_cast<size_t>(i)]);
    ranges.push_back(starts[static_cast<size_t>(i) + 1]);
    query_rows.push_back(query_positions_);
  }
  Tensor query_positions = ops::concat_rows(query_rows);
  StepInputs dec_step;
  dec_step.num_tokens = B * Q;
  dec_step.num_sequences = B;
  dec_step.query_start = rows_i32(q_starts, {B + 1}, device_);
  dec_step.cross = &cross;
  dec_step.cross_ranges = rows_i32(ranges, {B, 2}, device_);
  BlockContext dctx;
  dctx.step = &dec_step;
  dctx.query_key_positions = &query_positions;
  Tensor q = ops::to_device(Tensor::zeros({B * Q, d}, DType::F32), device_);
  for (size_t i = 0; i < decoder_.size(); ++i) {
    dctx.layer = static_cast<int64_t>(i);
    q = decoder_[i](q, dctx);
  }
  q = decoder_norm_(q);

  const int64_t classes = classifier_.out_features();
  out.logits = ops::to_device(classifier_(q), Device::cpu()).contiguous().view({B, Q, classes});
  LinearEpilogue relu;
  relu.has_activation = true;
  relu.activation = Activation::Relu;
  Tensor box = box_mlp_[2](box_mlp_[1](box_mlp_[0](q, relu), relu));
  // The sigmoid of B x Q x 4 values, on the host (no device op needed for so few).
  Tensor boxes = ops::to_device(box, Device::cpu()).contiguous();
  float* bp = boxes.data<float>();
  for (int64_t i = 0; i < boxes.numel(); ++i) bp[i] = 1.0f / (1.0f + std::exp(-bp[i]));
  out.pred_boxes = boxes.view({B, Q, 4});
  return out;
}

}  // namespace ia
