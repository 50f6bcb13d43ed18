#include "models/t5.h"

#include <cmath>

#include "core/error.h"
#include "models/activation_names.h"
#include "models/decoder_config.h"
#include "models/layers/block.h"
#include "models/layers/norm.h"
#include "models/layers/relative_position_bias.h"
#include "ops/ops.h"

namespace ia {

namespace {

// Checkpoint names of one block, relative to "encoder." / "decoder.".
constexpr AttentionWeightNames kSelfAttention = {"layer.0.SelfAttention.q",
                                                 "layer.0.SelfAttention.k",
                                                 "layer.0.SelfAttention.v",
                                                 nullptr,
                                                 "layer.0.SelfAttention.o",
                                                 nullptr,
                                                 nullptr};
constexpr AttentionWeightNames kCrossAttention = {"layer.1.EncDecAttention.q",
                                                  "layer.1.EncDecAttention.k",
                                                  "layer.1.EncDecAttention.v",
                                                  nullptr,
                                                  "layer.1.EncDecAttention.o",
                                                  nullptr,
                                                  nullptr};
constexpr BlockWeightNames kEncoderBlock = {"block.{}.",
                                            "layer.0.layer_norm",
                                            kSelfAttention,
                                            nullptr,
                                            {},
                                            "layer.1.layer_norm",
                                            {nullptr, "layer.1.DenseReluDense.wi", "layer.1.DenseReluDense.wo"}};
constexpr BlockWeightNames kEncoderGatedBlock = {
    "block.{}.",
    "layer.0.layer_norm",
    kSelfAttention,
    nullptr,
    {},
    "layer.1.layer_norm",
    {"layer.1.DenseReluDense.wi_0", "layer.1.DenseReluDense.wi_1", "layer.1.DenseReluDense.wo"}};
constexpr BlockWeightNames kDecoderBlock = {"block.{}.",
                                            "layer.0.layer_norm",
                                            kSelfAttention,
                                            "layer.1.layer_norm",
                                            kCrossAttention,
                                            "layer.2.layer_norm",
                                            {nullptr, "layer.2.DenseReluDense.wi", "layer.2.DenseReluDense.wo"}};
constexpr BlockWeightNames kDecoderGatedBlock = {
    "block.{}.",
    "layer.0.layer_norm",
    kSelfAttention,
    "layer.1.layer_norm",
    kCrossAttention,
    "layer.2.layer_norm",
    {"layer.2.DenseReluDense.wi_0", "layer.2.DenseReluDense.wi_1", "layer.2.DenseReluDense.wo"}};
constexpr const char* kRelativeBias = "block.0.layer.0.SelfAttention.relative_attention_bias";
constexpr const char* kFinalNorm = "final_layer_norm";

BlockSpec block_spec(const T5Config& c, bool decoder) {
  BlockSpec s;
  s.pre_norm = true;
  s.norm = NormSpec{NormKind::RmsNorm, false, static_cast<float>(c.layer_norm_epsilon)};
  AttentionSpec a;
  a.hidden = c.d_model;
  a.heads = a.kv_heads = c.num_heads;
  a.head_dim = c.d_kv;
  a.scale = 1.0f;  // T5 does not scale its scores (the 1/sqrt(d) is folded into its init)
  a.positions = PositionKind::RelativeBias;
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
  s.mlp = MlpSpec{c.mlp, c.act, c.d_model, c.d_ff, false};
  return s;
}

const BlockWeightNames& block_names(const T5Config& c, bool decoder) {
  if (decoder) return c.mlp == MlpKind::Gated ? kDecoderGatedBlock : kDecoderBlock;
  return c.mlp == MlpKind::Gated ? kEncoderGatedBlock : kEncoderBlock;
}

RelativeBiasSpec bias_spec(const T5Config& c, bool decoder) {
  return RelativeBiasSpec{c.num_heads, c.relative_attention_num_buckets, c.relative_attention_max_distance, !decoder};
}

// One stack: its blocks, the bias of its first layer and its final norm.
struct T5Stack {
  std::vector<Block> blocks;
  RelativePositionBias bias;
  Norm final_norm;

  static std::vector<std::string> tensor_names(const T5Config& c, bool decoder) {
    const int64_t layers = decoder ? c.num_decoder_layers : c.num_layers;
    std::vector<std::string> names = RelativePositionBias::tensor_names(kRelativeBias);
    for (auto& t : Norm::tensor_names(kFinalNorm, block_spec(c, decoder).norm)) names.push_back(std::move(t));
    for (int64_t i = 0; i < layers; ++i)
      for (auto& t : Block::tensor_names(i, block_names(c, decoder), block_spec(c, decoder)))
        names.push_back(std::move(t));
    return names;
  }

  static T5Stack load(const WeightSource& w, const T5Config& c, bool decoder) {
    T5Stack s;
    const int64_t layers = decoder ? c.num_decoder_layers : c.num_layers;
    for (int64_t i = 0; i < layers; ++i)
      s.blocks.push_back(Block::load(w, i, block_names(c, decoder), block_spec(c, decoder)));
    s.bias = RelativePositionBias::load(w, kRelativeBias, bias_spec(c, decoder));
    s.final_norm = Norm::load(w, kFinalNorm, c.d_model, block_spec(c, decoder).norm);
    return s;
  }

  // The blocks over x [T, d_model]; ctx has the step and (decoder) the cache.
  Tensor run(Tensor x, BlockContext ctx) const {
    ctx.position_bias = &bias.table();
    for (size_t l = 0; l < blocks.size(); ++l) {
      ctx.layer = static_cast<int64_t>(l);
      x = blocks[l](x, ctx);
    }
    return x;
  }
};

class T5Encoder final : public Encoder {
 public:
  T5Encoder(const T5Config& c, Tensor embed, T5Stack stack, DType dtype, Device device)
      : cfg_(c), embed_(std::move(embed)), stack_(std::move(stack)), dtype_(dtype), device_(device) {}

  int64_t hidden_size() const override { return cfg_.d_model; }
  int64_t vocab_size() const override { return cfg_.vocab_size; }
  // Relative positions set no limit of their own.
  int64_t max_input_tokens() const override { return kMaxConfigPositions; }
  DType compute_dtype() const override { return dtype_; }
  Device device() const override { return device_; }

  EncoderOutput forward(const StepInputs& step) const override {
    BlockContext ctx;
    ctx.step = &step;
    Tensor x = stack_.run(ops::embedding(embed_, step.token_ids), ctx);
    EncoderOutput out;
    out.last_hidden_state = stack_.final_norm(x);
    return out;
  }

 private:
  const T5Config& cfg_;
  Tensor embed_;
  T5Stack stack_;
  DType dtype_;
  Device device_;
};

class T5Decoder final : public CausalLM {
 public:
  T5Decoder(const T5Config& c, Tensor embed, T5Stack stack, Linear head, Norm head_norm, DType dtype, Device device,
            int64_t weight_bytes)
      : t5_(c),
        embed_(std::move(embed)),
        stack_(std::move(stack)),
        head_(std::move(head)),
        head_norm_(std::move(head_norm)),
        dtype_(dtype),
        device_(device),
        weight_bytes_(weight_bytes) {
    cfg_.model_type = c.model_type;
    cfg_.vocab_size = c.vocab_size;
    cfg_.hidden_size = c.d_model;
    cfg_.num_layers = c.num_decoder_layers;
    cfg_.num_heads = cfg_.num_kv_heads = c.num_heads;
    cfg_.head_dim = c.d_kv;
    cfg_.intermediate_size = c.d_ff;
    cfg_.max_positions = kMaxConfigPositions;  // relative positions: no limit of their own
    cfg_.norm_eps = c.layer_norm_epsilon;
    cfg_.act = c.act;
    cfg_.norm = NormKind::RmsNorm;
    cfg_.positions = PositionKind::RelativeBias;
    cfg_.mlp = c.mlp;
    cfg_.tie_word_embeddings = c.tie_word_embeddings;
    cfg_.layer_window.assign(static_cast<size_t>(c.num_decoder_layers), 0);
    cfg_.eos_token_ids = c.eos_token_ids;
    cfg_.pad_token_id = c.pad_token_id;
  }

  const DecoderConfig& config() const override { return cfg_; }
  DType compute_dtype() const override { return dtype_; }
  Device device() const override { return device_; }
  int64_t weight_bytes_per_token() const override { return weight_bytes_; }
  KvCacheLayout kv_layout() const override { return {t5_.num_decoder_layers, t5_.num_heads, t5_.d_kv}; }

  Tensor forward(const StepInputs& step, KvCache& cache) const override {
    if (!step.cross || !step.cross_ranges.defined())
      fail(ErrorKind::InvalidArgument, "a {} decoder step needs the encoder's cross-attention cache", t5_.model_type);
    BlockContext ctx;
    ctx.step = &step;
    ctx.cache = &cache;
    Tensor x = stack_.run(ops::embedding(embed_, step.token_ids), ctx);
    if (step.output_rows.defined() && step.output_rows.size(0) != step.num_tokens)
      x = ops::embedding(x, step.output_rows);
    if (step.output == StepOutput::HiddenStates) return stack_.final_norm(x);
    // head_norm_ is the final norm, its weight times d_model^-0.5 when the outputs are scaled.
    return head_(head_norm_(x));
  }

  // Cross-attention K/V of encoder outputs for each block.
  CrossKvCache cross_cache(const Tensor& encoder_hidden, std::vector<int64_t> starts) const {
    CrossKvCache c;
    for (const Block& b : stack_.blocks) {
      auto [k, v] = b.cross_kv(encoder_hidden);
      c.k.push_back(std::move(k));
      c.v.push_back(std::move(v));
    }
    c.starts = std::move(starts);
    return c;
  }

 private:
  const T5Config& t5_;
  DecoderConfig cfg_;
  Tensor embed_;
  T5Stack stack_;
  Linear head_;
  Norm head_norm_;
  DType dtype_;
  Device device_;
  int64_t weight_bytes_ = 0;
};

void check_positive(const HfConfig& cfg, const char* key, int64_t v, int64_t limit) {
  if (v <= 0 || v > limit) fail(ErrorKind::Corrupt, "{}: {} is {}, not between 1 and {}", cfg.path(), key, v, limit);
}

}  // namespace

T5Config T5Config::from(const HfConfig& cfg) {
  T5Config c;
  c.model_type = cfg.model_type();
  if (c.model_type != "t5" && c.model_type != "mt5")
    fail(ErrorKind::Unsupported, "{}: model_type \"{}\" is not T5 (t5, mt5)", cfg.path(), c.model_type);
  c.vocab_size = cfg.require_int("vocab_size");
  c.d_model = cfg.get_int("d_model", 512);
  c.d_kv = cfg.get_int("d_kv", 64);
  c.d_ff = cfg.get_int("d_ff", 2048);
  c.num_heads = cfg.get_int("num_heads", 8);
  c.num_layers = cfg.get_int("num_layers", 6);
  c.num_decoder_layers = cfg.opt_int("num_decoder_layers").value_or(c.num_layers);  // null: as the encoder
  c.relative_attention_num_buckets = cfg.get_int("relative_attention_num_buckets", 32);
  c.relative_attention_max_distance = cfg.get_int("relative_attention_max_distance", 128);
  c.layer_norm_epsilon = cfg.get_float("layer_norm_epsilon", 1e-6);
  check_positive(cfg, "vocab_size", c.vocab_size, kMaxConfigVocabSize);
  check_positive(cfg, "d_model", c.d_model, kMaxConfigDimension);
  check_positive(cfg, "d_kv", c.d_kv, kMaxConfigDimension);
  check_positive(cfg, "d_ff", c.d_ff, kMaxConfigDimension);
  check_positive(cfg, "num_heads", c.num_heads, kMaxConfigDimension);
  check_positive(cfg, "num_layers", c.num_layers, kMaxConfigLayers);
  check_positive(cfg, "num_decoder_layers", c.num_decoder_layers, kMaxConfigLayers);
  check_positive(cfg, "relative_attention_num_buckets", c.relative_attention_num_buckets, int64_t{1} << 16);
  check_positive(cfg, "relative_attention_max_distance", c.relative_attention_max_distance, int64_t{1} << 20);
  if (c.num_heads * c.d_kv > kMaxConfigDimension)
    fail(ErrorKind::Corrupt, "{}: {} heads of {} dims exceed the limit of {}", cfg.path(), c.num_heads, c.d_kv,
         kMaxConfigDimension);
  if (!std::isfinite(c.layer_norm_epsilon) || c.layer_norm_epsilon < 0)
    fail(ErrorKind::Corrupt, "{}: layer_norm_epsilon is {}, not a finite number >= 0", cfg.path(),
         c.layer_norm_epsilon);

  // feed_forward_proj is "ACT" or "gated-ACT"; "gated-gelu" means gelu_new (transformers).
  const std::string proj = cfg.get_string("feed_forward_proj", "relu");
  std::string act = proj;
  if (proj.rfind("gated-", 0) == 0) {
    c.mlp = MlpKind::Gated;
    act = proj.substr(6);
  }
  if (act.empty() || act.find('-') != std::string::npos)
    fail(ErrorKind::Corrupt, "{}: feed_forward_proj \"{}\" is not \"ACT\" or \"gated-ACT\"", cfg.path(), proj);
  if (proj == "gated-gelu") act = "gelu_new";
  c.act = parse_activation(act, cfg.path());

  c.tie_word_embeddings = cfg.get_bool("tie_word_embeddings", true);
  if (cfg.has("scale_decoder_outputs")) {
    c.scale_decoder_outputs = cfg.get_bool("scale_decoder_outputs", true);
  } else {
    c.scale_decoder_outputs = c.model_type == "t5" && c.tie_word_embeddings;
  }
  c.pad_token_id = cfg.opt_int("pad_token_id");
  c.decoder_start_token_id = cfg.opt_int("decoder_start_token_id").value_or(c.pad_token_id.value_or(0));
  if (c.decoder_start_token_id < 0 || c.decoder_start_token_id >= c.vocab_size)
    fail(ErrorKind::Corrupt, "{}: decoder_start_token_id {} is outside the vocabulary of {}", cfg.path(),
         c.decoder_start_token_id, c.vocab_size);
  c.eos_token_ids = parse_token_id_list(cfg, "eos_token_id");
  return c;
}

struct T5Model::Parts {
  std::unique_ptr<T5Encoder> encoder;
  std::unique_ptr<T5Decoder> decoder;
};

T5Model::~T5Model() = default;

const Encoder& T5Model::encoder() const {
  return *parts_->encoder;
}
const CausalLM& T5Model::decoder() const {
  return *parts_->decoder;
}

CrossKvCache T5Model::make_cross_cache(const Tensor& encoder_hidden, std::vector<int64_t> starts) const {
  IA_CHECK(encoder_hidden.dim() == 2 && encoder_hidden.size(1) == cfg_.d_model, "t5: encoder output {}",
           encoder_hidden.describe());
  IA_CHECK(!starts.empty() && starts.front() == 0 && starts.back() == encoder_hidden.size(0),
           "t5: encoder sequence starts do not cover the {} rows", encoder_hidden.size(0));
  return parts_->decoder->cross_cache(encoder_hidden, std::move(starts));
}

std::unique_ptr<T5Model> T5Model::load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                       Device device) {
  auto m = std::unique_ptr<T5Model>(new T5Model());
  m->cfg_ = T5Config::from(config);
  const T5Config& c = m->cfg_;
  const int64_t V = c.vocab_size, H = c.d_model;

  // The token table: shared.weight, or (checkpoints saved without it) each stack's embed_tokens.
  WeightSource root(weights, "", compute_dtype, device);
  WeightSource enc(weights, "encoder.", compute_dtype, device), dec(weights, "decoder.", compute_dtype, device);
  const bool shared = weights.has("shared.weight");
  std::vector<std::string> needed;
  if (!shared) needed = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"};
  const std::string what = "model_type " + c.model_type;
  root.require(needed, what);
  enc.require(T5Stack::tensor_names(c, false), what);
  dec.require(T5Stack::tensor_names(c, true), what);

  // The head: lm_head.weight where the checkpoint has one (an untied model, whatever config.json
  // says: transformers 5 writes tie_word_embeddings true for every T5), else the shared table.
  const bool own_head = weights.has("lm_head.weight");
  Tensor enc_embed, dec_embed;
  Linear head;
  if (shared) {
    if (own_head) {
      enc_embed = dec_embed = root.table("shared.weight", {V, H});
      head = Linear::from(root.matrix_out_in("lm_head.weight", V, H));
    } else {
      head = Linear::from(root.matrix_out_in("shared.weight", V, H));
      enc_embed = dec_embed = head.weight();
    }
  } else {
    enc_embed = root.table("encoder.embed_tokens.weight", {V, H});
    if (own_head) {
      dec_embed = root.table("decoder.embed_tokens.weight", {V, H});
      head = Linear::from(root.matrix_out_in("lm_head.weight", V, H));
    } else {
      head = Linear::from(root.matrix_out_in("decoder.embed_tokens.weight", V, H));
      dec_embed = head.weight();
    }
  }

  T5Stack enc_stack = T5Stack::load(enc, c, false);
  T5Stack dec_stack = T5Stack::load(dec, c, true);
  // The decoder's final norm with d_model^-0.5 folded into its weight when outputs are scaled:
  // (w * s) * x_normed instead of (w * x_normed) * s, equal up to rounding.
  const NormSpec norm = block_spec(c, true).norm;
  Norm head_norm = c.scale_decoder_outputs
                       ? Norm::load_scaled(dec, kFinalNorm, H, norm, static_cast<float>(1.0 / std::sqrt(double(H))))
                       : dec_stack.final_norm;
  const int64_t weight_bytes = dec.matrix_bytes() + root.matrix_bytes();
  auto parts = std::make_unique<Parts>();
  parts->encoder = std::make_unique<T5Encoder>(c, enc_embed, std::move(enc_stack), compute_dtype, device);
  parts->decoder = std::make_unique<T5Decoder>(c, dec_embed, std::move(dec_stack), std::move(head),
                                               std::move(head_norm), compute_dtype, device, weight_bytes);
  m->parts_ = std::move(parts);
  return m;
}

}  // namespace ia
