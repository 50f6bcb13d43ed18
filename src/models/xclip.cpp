#include "models/xclip.h"

#include "core/error.h"
#include "models/activation_names.h"
#include "models/cross_kv_cache.h"
#include "ops/ops.h"

namespace ia {

namespace {

constexpr VisionTowerNames kXClipVisionNames = {"embeddings.patch_embedding",
                                                false,
                                                "embeddings.class_embedding",
                                                "embeddings.position_embedding.weight",
                                                "pre_layernorm",
                                                nullptr,
                                                "post_layernorm",
                                                kClipBlockNames};

constexpr CrossFrameNames kXClipCrossFrame = {"message_fc",
                                              "message_ln",
                                              {"message_attn.q_proj", "message_attn.k_proj", "message_attn.v_proj",
                                               nullptr, "message_attn.out_proj", nullptr, nullptr}};

constexpr AttentionWeightNames kPromptCrossAttention = {
    "cross_attn.q_proj", "cross_attn.k_proj", "cross_attn.v_proj", nullptr, "cross_attn.proj", nullptr, nullptr};

Tensor ids_on(const std::vector<int64_t>& v, Device device) {
  return ops::to_device(Tensor::from_vector(v, {static_cast<int64_t>(v.size())}).to(DType::I32), device);
}

}  // namespace

std::unique_ptr<XClipModel> XClipModel::load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                             Device device) {
  const HfConfig tc = clip_sub_config(config, "text_config");
  const HfConfig vc = clip_sub_config(config, "vision_config");
  auto m = std::unique_ptr<XClipModel>(new XClipModel());
  m->compute_dtype_ = compute_dtype;
  m->device_ = device;
  // XCLIPConfig's and XCLIPVisionConfig's defaults (microsoft/xclip-base-patch32).
  const int64_t P = clip_config_int(config, "projection_dim", 512, kMaxConfigDimension);
  m->projection_dim_ = P;
  VisionTowerConfig v = clip_vision_config(vc);
  v.frames = clip_config_int(vc, "num_frames", 8, 1 << 12);
  m->frames_ = v.frames;
  const int64_t mit_hidden = clip_config_int(vc, "mit_hidden_size", 512, kMaxConfigDimension);
  const int64_t mit_inter = clip_config_int(vc, "mit_intermediate_size", 2048, kMaxConfigDimension);
  const int64_t mit_layers = clip_config_int(vc, "mit_num_hidden_layers", 1, kMaxConfigLayers);
  const int64_t mit_heads = clip_config_int(vc, "mit_num_attention_heads", 8, kMaxConfigDimension);
  const int64_t prompt_layers = clip_config_int(config, "prompt_layers", 2, kMaxConfigLayers);
  const int64_t prompt_heads = clip_config_int(config, "prompt_num_attention_heads", 8, kMaxConfigDimension);
  const Activation prompt_act = parse_activation(config.get_string("prompt_hidden_act", "quick_gelu"), config.path());
  // The MIT runs on the projected class tokens, the prompts on projected features: both P wide.
  if (mit_hidden != P || P % mit_heads != 0 || P % prompt_heads != 0)
    fail(ErrorKind::Corrupt,
         "{}: mit_hidden_size {} must equal projection_dim {}, divisible by mit_num_attention_heads {} and "
         "prompt_num_attention_heads {}",
         config.path(), mit_hidden, P, mit_heads, prompt_heads);
  const NormSpec vision_ln{NormKind::LayerNorm, true, v.eps};
  const NormSpec text_ln{NormKind::LayerNorm, true, static_cast<float>(tc.get_float("layer_norm_eps", 1e-5))};

  BlockSpec mit;
  mit.pre_norm = true;
  mit.norm = vision_ln;
  mit.attention.hidden = P;
  mit.attention.heads = mit.attention.kv_heads = mit_heads;
  mit.attention.head_dim = P / mit_heads;
  mit.attention.mask = AttentionMask::Bidirectional;
  mit.attention.kv = KvSource::Step;
  mit.attention.qkv_bias = mit.attention.o_bias = true;
  mit.mlp = MlpSpec{MlpKind::Plain, v.activation, P, mit_inter, true};

  AttentionSpec prompt_attention;
  prompt_attention.hidden = P;
  prompt_attention.heads = prompt_attention.kv_heads = prompt_heads;
  prompt_attention.head_dim = P / prompt_heads;
  prompt_attention.mask = AttentionMask::Bidirectional;
  prompt_attention.kv = KvSource::CrossCache;
  prompt_attention.qkv_bias = false;
  prompt_attention.o_bias = true;
  const MlpSpec prompt_mlp{MlpKind::Plain, prompt_act, P, 4 * P, true};
  const MlpWeightNames prompt_mlp_names{nullptr, "mlp.0", "mlp.3"};

  WeightSource text(weights, "text_model.", compute_dtype, device);
  WeightSource vision(weights, "vision_model.", compute_dtype, device);
  WeightSource mit_w(weights, "mit.", compute_dtype, device);
  WeightSource prompts(weights, "prompts_generator.", compute_dtype, device);
  WeightSource root(weights, "", compute_dtype, device);
  WeightSource root_in_out(weights, "", compute_dtype, device, WeightLayout::InOut);
  vision.require(VisionTower::tensor_names(v, kXClipVisionNames, &kXClipCrossFrame), "X-CLIP's vision model");
  std::vector<std::string> mit_names = {"position_embedding"};
  for (int64_t i = 0; i < mit_layers; ++i)
    for (auto& n : Block::tensor_names(i, kClipBlockNames, mit)) mit_names.push_back(std::move(n));
  mit_w.require(mit_names, "X-CLIP's multi-frame integration transformer");
  std::vector<std::string> prompt_names = {"layernorm.weight", "layernorm.bias", "alpha"};
  for (int64_t i = 0; i < prompt_layers; ++i) {
    const std::string lp = "decoder." + std::to_string(i) + ".";
    for (const char* n : {"norm1", "norm3"})
      for (auto& t : Norm::tensor_names(lp + n, text_ln)) prompt_names.push_back(std::move(t));
    for (auto& t : Attention::tensor_names(lp, kPromptCrossAttention, prompt_attention))
      prompt_names.push_back(std::move(t));
    for (auto& t : Mlp::tensor_names(lp, prompt_mlp_names, prompt_mlp)) prompt_names.push_back(std::move(t));
  }
  prompts.require(prompt_names, "X-CLIP's prompts generator");
  root.require({"text_projection.weight", "visual_projection.weight", "logit_scale", "prompts_visual_layernorm.weight",
                "prompts_visual_layernorm.bias", "prompts_visual_projection"},
               "XCLIPModel");

  m->text_ = ClipTextTower::load(text, tc, TextPooling::Argmax);
  m->vision_ = VisionTower::load(vision, v, kXClipVisionNames, &kXClipCrossFrame);
  m->text_projection_ = Linear::load(root, "text_projection", P, m->text_.hidden(), false);
  m->visual_projection_ = Linear::load(root, "visual_projection", P, v.hidden, false);
  m->logit_scale_ = load_logit_scale(weights);

  m->mit_positions_ = mit_w.vector("position_embedding", {1, v.frames, P}).view({v.frames, P});
  for (int64_t i = 0; i < mit_layers; ++i) m->mit_blocks_.push_back(Block::load(mit_w, i, kClipBlockNames, mit));

  m->prompts_visual_norm_ = Norm::load(root, "prompts_visual_layernorm", v.hidden, vision_ln);
  // A bare [vision hidden, P] parameter used as `features @ projection`: an in-out matrix.
  m->prompts_visual_projection_ = Linear::from(root_in_out.matrix("prompts_visual_projection", P, v.hidden));
  m->prompt_context_norm_ = Norm::load(prompts, "layernorm", P, vision_ln);
  for (int64_t i = 0; i < prompt_layers; ++i) {
    const std::string lp = "decoder." + std::to_string(i) + ".";
    m->prompt_layers_.push_back({Norm::load(prompts, lp + "norm1", P, text_ln),
                                 Norm::load(prompts, lp + "norm3", P, text_ln),
                                 Attention::load(prompts, lp, kPromptCrossAttention, prompt_attention),
                                 Mlp::load(prompts, lp, prompt_mlp_names, prompt_mlp)});
  }
  // alpha as a diagonal matrix, kept in f32: each product alpha_c * x_c is exact before the add.
  Tensor alpha = weights.get_as("prompts_generator.alpha", DType::F32, {P}).contiguous();
  Tensor diag = Tensor::zeros({P, P}, DType::F32);
  for (int64_t c = 0; c < P; ++c) diag.data<float>()[c * P + c] = alpha.data<float>()[c];
  m->prompt_alpha_ = Linear::from(ops::to_device(diag, device));
  return m;
}

Tensor XClipModel::text_features(const StepInputs& step, const std::vector<std::span<const int32_t>>& ids) const {
  return text_projection_(text_.pooled(step, ids));
}

VideoFeatures XClipModel::video_features(const Tensor& pixel_values) const {
  if (pixel_values.dim() != 4 || pixel_values.size(0) % frames_ != 0)
    fail(ErrorKind::InvalidArgument, "X-CLIP takes videos of {} frames each (the model's num_frames); got {}", frames_,
         pixel_values.describe());
  const int64_t B = pixel_values.size(0), V = B / frames_, F = frames_, P = projection_dim_;
  const VisionTowerOutput tower = vision_.forward(pixel_values);
  BlockContext ctx;
  ctx.bf16_products = compute_dtype_ == DType::BF16;

  // The video embedding: the MIT over each video's projected class tokens.
  const Tensor cls = visual_projection_(tower.pooled);  // [B, P]
  Tensor x = ops::add(cls.view({V, F, P}), mit_positions_).view({B, P});
  const StepInputs frames_step = equal_length_step(V, F, device_);
  ctx.step = &frames_step;
  for (const Block& b : mit_blocks_) x = b(x, ctx);
  x = ops::add(x, cls);
  const Tensor all_frames = ids_on(std::vector<int64_t>(static_cast<size_t>(V * F), 1), device_).view({V, F});
  VideoFeatures out;
  out.videos = V;
  out.video_embeds = ops::pool(PoolMode::Mean, x.view({V, F, P}), all_frames);

  // The prompts' context: every patch token (the class token left out) of the last block's
  // output, normed, projected and averaged over each video's frames.
  const int64_t T = tower.tokens_per_image, N = T - 1;
  std::vector<int64_t> patch_rows;
  patch_rows.reserve(static_cast<size_t>(B * N));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 1; j < T; ++j) patch_rows.push_back(b * T + j);
  Tensor patches = ops::embedding(tower.last_hidden_state, ids_on(patch_rows, device_));
  patches = prompts_visual_projection_(prompts_visual_norm_(patches));  // [B * N, P]
  out.prompt_context = ops::pool(PoolMode::Mean, patches.view({V, F, N * P}), all_frames).view({V * N, P});
  out.context_rows = N;
  return out;
}

Tensor XClipModel::video_text_features(const Tensor& text_features, const VideoFeatures& video) const {
  const int64_t S = text_features.size(0), V = video.videos, N = video.context_rows;
  IA_CHECK(text_features.dim() == 2 && text_features.size(1) == projection_dim_, "xclip: text features {}",
           text_features.describe());
  // Every text once per video, video-major.
  std::vector<int64_t> repeat, starts, ranges;
  for (int64_t vi = 0; vi < V; ++vi) {
    for (int64_t s = 0; s < S; ++s) repeat.push_back(s);
    starts.push_back(vi * S);
    ranges.push_back(vi * N);
    ranges.push_back((vi + 1) * N);
  }
  starts.push_back(V * S);
  const Tensor text = ops::embedding(text_features, ids_on(repeat, device_));

  const Tensor context = prompt_context_norm_(video.prompt_context);
  CrossKvCache cache;
  for (const PromptLayer& l : prompt_layers_) {
    auto [k, v] = l.cross_attention.project_kv(context);
    cache.k.push_back(k);
    cache.v.push_back(v);
  }
  StepInputs step;
  step.num_tokens = V * S;
  step.num_sequences = V;
  step.max_seq_len = S;
  step.query_start = ids_on(starts, device_);
  step.cross_ranges = ids_on(ranges, device_).view({V, 2});
  step.cross = &cache;
  BlockContext ctx;
  ctx.step = &step;
  ctx.bf16_products = compute_dtype_ == DType::BF16;
  Tensor x = text;
  for (size_t i = 0; i < prompt_layers_.size(); ++i) {
    const PromptLayer& l = prompt_layers_[i];
    ctx.layer = static_cast<int64_t>(i);
    x = l.cross_attention(l.norm1(x), ctx, &x);
    x = l.mlp(l.norm3(x), &x);
  }
  LinearEpilogue plus_text;
  plus_text.residual = &text;
  return prompt_alpha_(x, plus_text);
}

}  // namespace ia
