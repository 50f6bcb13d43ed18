#include "models/whisper.h"

#include <cmath>

#include "core/error.h"
#include "models/activation_names.h"
#include "models/decoder_config.h"
#include "models/layers/block.h"
#include "models/layers/norm.h"
#include "ops/ops.h"

namespace ia {

namespace {

// Checkpoint names, relative to the model's prefix ("model." in WhisperForConditionalGeneration).
constexpr AttentionWeightNames kSelfAttention = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", nullptr, "self_attn.out_proj", nullptr, nullptr};
constexpr AttentionWeightNames kCrossAttention = {"encoder_attn.q_proj",
                                                  "encoder_attn.k_proj",
                                                  "encoder_attn.v_proj",
                                                  nullptr,
                                                  "encoder_attn.out_proj",
                                                  nullptr,
                                                  nullptr};
constexpr BlockWeightNames kEncoderBlock = {"encoder.layers.{}.", "self_attn_layer_norm", kSelfAttention, nullptr, {},
                                            "final_layer_norm",   {nullptr, "fc1", "fc2"}};
constexpr BlockWeightNames kDecoderBlock = {"decoder.layers.{}.",      "self_attn_layer_norm", kSelfAttention,
                                            "encoder_attn_layer_norm", kCrossAttention,        "final_layer_norm",
                                            {nullptr, "fc1", "fc2"}};
constexpr const char* kConv1 = "encoder.conv1.";
constexpr const char* kConv2 = "encoder.conv2.";
constexpr const char* kEncoderPositions = "encoder.embed_positions.weight";
constexpr const char* kEncoderNorm = "encoder.layer_norm";
constexpr const char* kTokens = "decoder.embed_tokens.weight";
constexpr const char* kDecoderPositions = "decoder.embed_positions.weight";
constexpr const char* kDecoderNorm = "decoder.layer_norm";
constexpr const char* kHead = "proj_out.weight";  // from the root; absent when tied

constexpr float kNormEps = 1e-5f;  // nn.LayerNorm's default, which Whisper keeps
constexpr int64_t kConvKernel = 3;

BlockSpec block_spec(const WhisperConfig& c, bool decoder) {
  BlockSpec s;
  s.pre_norm = true;
  s.norm = NormSpec{NormKind::LayerNorm, true, kNormEps};
  AttentionSpec a;
  a.hidden = c.d_model;
  a.heads = a.kv_heads = decoder ? c.decoder_attention_heads : c.encoder_attention_heads;
  a.head_dim = c.d_model / a.heads;
  a.qkv_bias = a.o_bias = true;
  a.k_bias = false;                     // k_proj has no bias
  a.positions = PositionKind::Learned;  // added to the embeddings, before the blocks
  a.mask = decoder ? AttentionMask::Causal : AttentionMask::Bidirectional;
  a.kv = decoder ? KvSource::PagedCache : KvSource::Step;
  s.attention = a;
  if (decoder) {
    AttentionSpec x = a;
    x.positions = PositionKind::None;
    x.mask = AttentionMask::Bidirectional;
    x.kv = KvSource::CrossCache;
    s.cross_attention = x;
  }
  s.mlp = MlpSpec{MlpKind::Plain, c.act, c.d_model, decoder ? c.decoder_ffn_dim : c.encoder_ffn_dim, true};
  return s;
}

struct ConvLayer {
  Tensor weight, bias;  // f32 [Cout, Cin, 3], [Cout]
  Conv1dParams params;
};

class WhisperEncoder final : public Encoder {
 public:
  WhisperEncoder(const WhisperConfig& c, ConvLayer conv1, ConvLayer conv2, Tensor positions, std::vector<Block> blocks,
                 Norm norm, DType dtype, Device device)
      : cfg_(c),
        conv1_(std::move(conv1)),
        conv2_(std::move(conv2)),
        positions_(std::move(positions)),
        blocks_(std::move(blocks)),
        norm_(std::move(norm)),
        dtype_(dtype),
        device_(device) {}

  int64_t hidden_size() const override { return cfg_.d_model; }
  int64_t vocab_size() const override { return cfg_.vocab_size; }
  int64_t max_input_tokens() const override { return cfg_.input_frames(); }
  DType compute_dtype() const override { return dtype_; }
  Device device() const override { return device_; }

  EncoderOutput forward(const StepInputs& step) const override {
    const int64_t F = cfg_.input_frames(), P = cfg_.max_source_positions, M = cfg_.num_mel_bins;
    const Tensor& frames = step.input_embeddings;
    if (!frames.defined() || frames.dtype() != DType::F32 || frames.dim() != 2 || frames.size(1) != M ||
        frames.size(0) == 0 || frames.size(0) % F != 0)
      fail(ErrorKind::InvalidArgument,
           "whisper: the encoder takes log-mel frames [windows * {}, {}] f32 as the step's input_embeddings, got {}", F,
           M, frames.defined() ? frames.describe() : std::string("token ids"));
    const int64_t S = frames.size(0) / F;
    // Each window's convolutions alone (zero padding at its own ends), then positions added.
    std::vector<Tensor> windows;
    for (int64_t s = 0; s < S; ++s) {
      Tensor x = ops::concat_rows({ops::to_device(frames.narrow(0, s * F, F), device_)}).view({1, F, M});
      x = ops::gelu(ops::conv1d(x, conv1_.weight, &conv1_.bias, conv1_.params));
      x = ops::gelu(ops::conv1d(x, conv2_.weight, &conv2_.bias, conv2_.params));
      IA_CHECK(x.size(1) == P, "whisper: the stem gave {} positions for {} frames", x.size(1), F);
      windows.push_back(ops::add(x.view({P, cfg_.d_model}), positions_));
    }
    Tensor h = ops::concat_rows(windows);

    std::vector<int64_t> starts, lens(static_cast<size_t>(S), P);
    for (int64_t s = 0; s <= S; ++s) starts.push_back(s * P);
    StepInputs enc;
    enc.num_tokens = S * P;
    enc.num_sequences = S;
    enc.query_start = ops::to_device(Tensor::from_vector(starts, {S + 1}), device_);
    enc.host_seq_lens = lens;
    enc.host_first_pos.assign(static_cast<size_t>(S), 0);
    enc.max_seq_len = P;
    BlockContext ctx;
    ctx.step = &enc;
    ctx.bf16_products = dtype_ == DType::BF16;
    for (const Block& b : blocks_) h = b(h, ctx);
    EncoderOutput out;
    out.last_hidden_state = norm_(h);
    return out;
  }

 private:
  const WhisperConfig& cfg_;
  ConvLayer conv1_, conv2_;
  Tensor positions_;  // [max_source_positions, d_model] f32
  std::vector<Block> blocks_;
  Norm norm_;
  DType dtype_;
  Device device_;
};

class WhisperDecoder final : public CausalLM {
 public:
  WhisperDecoder(const WhisperConfig& c, Tensor embed, Tensor positions, std::vector<Block> blocks, Norm norm,
                 Linear head, DType dtype, Device device, int64_t weight_bytes)
      : embed_(std::move(embed)),
        positions_(std::move(positions)),
        blocks_(std::move(blocks)),
        norm_(std::move(norm)),
        head_(std::move(head)),
        dtype_(dtype),
        device_(device),
        weight_bytes_(weight_bytes) {
    cfg_.model_type = "whisper";
    cfg_.vocab_size = c.vocab_size;
    cfg_.hidden_size = c.d_model;
    cfg_.num_layers = c.decoder_layers;
    cfg_.num_heads = cfg_.num_kv_heads = c.decoder_attention_heads;
    cfg_.head_dim = c.d_model / c.decoder_attention_heads;
    cfg_.intermediate_size = c.decoder_ffn_dim;
    cfg_.max_positions = c.max_target_positions;
    cfg_.norm_eps = kNormEps;
    cfg_.act = c.act;
    cfg_.norm = NormKind::LayerNorm;
    cfg_.positions = PositionKind::Learned;
    cfg_.mlp = MlpKind::Plain;
    cfg_.tie_word_embeddings = true;
    cfg_.qkv_bias = cfg_.o_bias = cfg_.mlp_bias = true;
    cfg_.layer_window.assign(static_cast<size_t>(c.decoder_layers), 0);
    cfg_.eos_token_ids = c.eos_token_ids;
    cfg_.pad_token_id = c.pad_token_id;
    cfg_.bos_token_id = c.bos_token_id;
  }

  const DecoderConfig& config() const override { return cfg_; }
  DType compute_dtype() const override { return dtype_; }
  Device device() const override { return device_; }
  int64_t weight_bytes_per_token() const override { return weight_bytes_; }
  KvCacheLayout kv_layout() const override { return {cfg_.num_layers, cfg_.num_kv_heads, cfg_.head_dim}; }

  Tensor forward(const StepInputs& step, KvCache& cache) const override {
    if (!step.cross || !step.cross_ranges.defined())
      fail(ErrorKind::InvalidArgument, "a whisper decoder step needs the encoder's cross-attention cache");
    // The learned position table ends here (transformers fails past it too).
    if (step.max_seq_len > cfg_.max_positions)
      fail(ErrorKind::InvalidArgument, "whisper: a decoder sequence of {} tokens exceeds max_target_positions {}",
           step.max_seq_len, cfg_.max_positions);
    Tensor x = ops::embedding(embed_, step.token_ids);
    x = ops::add(x, ops::embedding(positions_, step.positions));
    BlockContext ctx;
    ctx.step = &step;
    ctx.cache = &cache;
    ctx.bf16_products = dtype_ == DType::BF16;
    for (size_t l = 0; l < blocks_.size(); ++l) {
      ctx.layer = static_cast<int64_t>(l);
      x = blocks_[l](x, ctx);
    }
    if (step.output_rows.defined() && step.output_rows.size(0) != step.num_tokens)
      x = ops::embedding(x, step.output_rows);
    if (step.output == StepOutput::HiddenStates) return norm_(x);
    return head_(norm_(x));
  }

  CrossKvCache cross_cache(const Tensor& encoder_hidden, std::vector<int64_t> starts) const {
    CrossKvCache c;
    for (const Block& b : blocks_) {
      auto [k, v] = b.cross_kv(encoder_hidden);
      c.k.push_back(std::move(k));
      c.v.push_back(std::move(v));
    }
    c.starts = std::move(starts);
    return c;
  }

 private:
  DecoderConfig cfg_;
  Tensor embed_, positions_;
  std::vector<Block> blocks_;
  Norm norm_;
  Linear head_;
  DType dtype_;
  Device device_;
  int64_t weight_bytes_ = 0;
};

void check_range(const HfConfig& cfg, const char* key, int64_t v, int64_t limit) {
  if (v <= 0 || v > limit) fail(ErrorKind::Corrupt, "{}: {} is {}, not between 1 and {}", cfg.path(), key, v, limit);
}

}  // namespace

WhisperConfig WhisperConfig::from(const HfConfig& cfg) {
  WhisperConfig c;
  if (cfg.model_type() != "whisper")
    fail(ErrorKind::Unsupported, "{}: model_type \"{}\" is not whisper", cfg.path(), cfg.model_type());
  c.vocab_size = cfg.get_int("vocab_size", 51865);
  c.num_mel_bins = cfg.get_int("num_mel_bins", 80);
  c.d_model = cfg.get_int("d_model", 384);
  c.encoder_layers = cfg.get_int("encoder_layers", 4);
  c.decoder_layers = cfg.get_int("decoder_layers", 4);
  c.encoder_attention_heads = cfg.get_int("encoder_attention_heads", 6);
  c.decoder_attention_heads = cfg.get_int("decoder_attention_heads", 6);
  c.encoder_ffn_dim = cfg.get_int("encoder_ffn_dim", 1536);
  c.decoder_ffn_dim = cfg.get_int("decoder_ffn_dim", 1536);
  c.max_source_positions = cfg.get_int("max_source_positions", 1500);
  c.max_target_positions = cfg.get_int("max_target_positions", 448);
  check_range(cfg, "vocab_size", c.vocab_size, kMaxConfigVocabSize);
  check_range(cfg, "num_mel_bins", c.num_mel_bins, 4096);
  check_range(cfg, "d_model", c.d_model, kMaxConfigDimension);
  check_range(cfg, "encoder_layers", c.encoder_layers, kMaxConfigLayers);
  check_range(cfg, "decoder_layers", c.decoder_layers, kMaxConfigLayers);
  check_range(cfg, "encoder_attention_heads", c.encoder_attention_heads, kMaxConfigDimension);
  check_range(cfg, "decoder_attention_heads", c.decoder_attention_heads, kMaxConfigDimension);
  check_range(cfg, "encoder_ffn_dim", c.encoder_ffn_dim, kMaxConfigDimension);
  check_range(cfg, "decoder_ffn_dim", c.decoder_ffn_dim, kMaxConfigDimension);
  check_range(cfg, "max_source_positions", c.max_source_positions, int64_t{1} << 20);
  check_range(cfg, "max_target_positions", c.max_target_positions, int64_t{1} << 20);
  if (c.d_model % c.encoder_attention_heads != 0 || c.d_model % c.decoder_attention_heads != 0)
    fail(ErrorKind::Corrupt, "{}: d_model {} is not a multiple of the attention heads ({}, {})", cfg.path(), c.d_model,
         c.encoder_attention_heads, c.decoder_attention_heads);
  c.act = parse_activation(cfg.get_string("activation_function", "gelu"), cfg.path());
  // No released Whisper scales its embeddings; refused rather than guessed.
  if (cfg.get_bool("scale_embedding", false))
    fail(ErrorKind::Unsupported, "{}: Whisper with scale_embedding true is not supported", cfg.path());
  c.pad_token_id = cfg.opt_int("pad_token_id");
  c.bos_token_id = cfg.opt_int("bos_token_id");
  c.decoder_start_token_id = cfg.get_int("decoder_start_token_id", 50257);
  if (c.decoder_start_token_id < 0 || c.decoder_start_token_id >= c.vocab_size)
    fail(ErrorKind::Corrupt, "{}: decoder_start_token_id {} is outside the vocabulary of {}", cfg.path(),
         c.decoder_start_token_id, c.vocab_size);
  c.eos_token_ids = parse_token_id_list(cfg, "eos_token_id");
  return c;
}

struct WhisperModel::Parts {
  std::unique_ptr<WhisperEncoder> encoder;
  std::unique_ptr<WhisperDecoder> decoder;
};

WhisperModel::~WhisperModel() = default;

const Encoder& WhisperModel::encoder() const {
  return *parts_->encoder;
}
const CausalLM& WhisperModel::decoder() const {
  return *parts_->decoder;
}

CrossKvCache WhisperModel::make_cross_cache(const Tensor& encoder_hidden, std::vector<int64_t> starts) const {
  IA_CHECK(encoder_hidden.dim() == 2 && encoder_hidden.size(1) == cfg_.d_model, "whisper: encoder output {}",
           encoder_hidden.describe());
  IA_CHECK(!starts.empty() && starts.front() == 0 && starts.back() == encoder_hidden.size(0),
           "whisper: encoder sequence starts do not cover the {} rows", encoder_hidden.size(0));
  return parts_->decoder->cross_cache(encoder_hidden, std::move(starts));
}

Tensor WhisperModel::encode(const Tensor& input_features) const {
  const int64_t M = cfg_.num_mel_bins, F = cfg_.input_frames();
  const bool batched = input_features.dim() == 3;
  if (!input_features.defined() || input_features.dtype() != DType::F32 || (input_features.dim() != 2 && !batched) ||
      input_features.size(-2) != M || input_features.size(-1) != F || (batched && input_features.size(0) < 1))
    fail(ErrorKind::InvalidArgument, "whisper: input_features must be f32 [windows, {}, {}] or [{}, {}], got {}", M, F,
         M, F, input_features.defined() ? input_features.describe() : std::string("nothing"));
  // Time-major frames ([windows * F, M]), as the channels-last convolutions take them.
  const Tensor host = ops::to_device(input_features, Device::cpu());
  const Tensor t = (batched ? host : host.view({1, M, F})).transpose(1, 2).contiguous();
  StepInputs step;
  step.input_embeddings = t.view({t.size(0) * F, M});
  step.num_sequences = t.size(0);
  return parts_->encoder->forward(step).last_hidden_state;
}

std::unique_ptr<WhisperModel> WhisperModel::load(const HfConfig& config, const WeightStore& weights,
                                                 DType compute_dtype, Device device) {
  auto m = std::unique_ptr<WhisperModel>(new WhisperModel());
  m->cfg_ = WhisperConfig::from(config);
  const WhisperConfig& c = m->cfg_;
  const int64_t V = c.vocab_size, H = c.d_model, M = c.num_mel_bins;

  // WhisperForConditionalGeneration saves the model under "model."; a bare WhisperModel has no prefix.
  std::string prefix = "model.";
  if (!weights.has(prefix + kTokens) && weights.has(kTokens)) prefix = "";
  WeightSource w(weights, prefix, compute_dtype, device);
  WeightSource root(weights, "", compute_dtype, device);

  // Every tensor first, so a folder missing one costs nothing.
  const BlockSpec enc_spec = block_spec(c, false), dec_spec = block_spec(c, true);
  std::vector<std::string> needed = {std::string(kConv1) + "weight",
                                     std::string(kConv1) + "bias",
                                     std::string(kConv2) + "weight",
                                     std::string(kConv2) + "bias",
                                     kEncoderPositions,
                                     kTokens,
                                     kDecoderPositions};
  for (auto& t : Norm::tensor_names(kEncoderNorm, enc_spec.norm)) needed.push_back(std::move(t));
  for (auto& t : Norm::tensor_names(kDecoderNorm, dec_spec.norm)) needed.push_back(std::move(t));
  for (int64_t i = 0; i < c.encoder_layers; ++i)
    for (auto& t : Block::tensor_names(i, kEncoderBlock, enc_spec)) needed.push_back(std::move(t));
  for (int64_t i = 0; i < c.decoder_layers; ++i)
    for (auto& t : Block::tensor_names(i, kDecoderBlock, dec_spec)) needed.push_back(std::move(t));
  w.require(needed, "model_type whisper");

  ConvLayer conv1, conv2;
  conv1.weight = w.vector(std::string(kConv1) + "weight", {H, M, kConvKernel});
  conv1.bias = w.vector(std::string(kConv1) + "bias", {H});
  conv1.params.padding = 1;
  conv2.weight = w.vector(std::string(kConv2) + "weight", {H, H, kConvKernel});
  conv2.bias = w.vector(std::string(kConv2) + "bias", {H});
  conv2.params.padding = 1;
  conv2.params.stride = 2;
  Tensor enc_positions = w.vector(kEncoderPositions, {c.max_source_positions, H});
  std::vector<Block> enc_blocks, dec_blocks;
  for (int64_t i = 0; i < c.encoder_layers; ++i) enc_blocks.push_back(Block::load(w, i, kEncoderBlock, enc_spec));
  Norm enc_norm = Norm::load(w, kEncoderNorm, H, enc_spec.norm);

  // The head: proj_out.weight where the checkpoint has one, else the token table (tied).
  Tensor embed;
  Linear head;
  if (weights.has(kHead)) {
    embed = w.table(kTokens, {V, H});
    head = Linear::from(root.matrix_out_in(kHead, V, H));
  } else {
    head = Linear::from(w.matrix_out_in(kTokens, V, H));
    embed = head.weight();
  }
  Tensor dec_positions = w.vector(kDecoderPositions, {c.max_target_positions, H});
  const int64_t before_blocks = w.matrix_bytes();
  for (int64_t i = 0; i < c.decoder_layers; ++i) dec_blocks.push_back(Block::load(w, i, kDecoderBlock, dec_spec));
  Norm dec_norm = Norm::load(w, kDecoderNorm, H, dec_spec.norm);
  const int64_t weight_bytes = w.matrix_bytes() - before_blocks + root.matrix_bytes() +
                               head.weight().numel() * static_cast<int64_t>(dtype_size(compute_dtype));

  auto parts = std::make_unique<Parts>();
  parts->encoder = std::make_unique<WhisperEncoder>(c, std::move(conv1), std::move(conv2), std::move(enc_positions),
                                                    std::move(enc_blocks), std::move(enc_norm), compute_dtype, device);
  parts->decoder =
      std::make_unique<WhisperDecoder>(c, std::move(embed), std::move(dec_positions), std::move(dec_blocks),
                                       std::move(dec_norm), std::move(head), compute_dtype, device, weight_bytes);
  m->parts_ = std::move(parts);
  return m;
}

}  // namespace ia
