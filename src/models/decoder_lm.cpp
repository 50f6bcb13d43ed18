#include "models/decoder_lm.h"

#include "core/error.h"
#include "ops/ops.h"

namespace ia {

namespace {

// Where each weight of a decoder lives in a checkpoint; null where the architecture has none.
struct DecoderWeightNames {
  // The base model's prefix ("model." / "transformer."); a checkpoint saved from the base
  // model alone (an embedding model's Qwen3Model, GPT2Model) has its names without it.
  const char* base;
  const char* embed;  // this and the block names are relative to the base model
  const char* pos_embed;
  const char* final_norm;
  const char* lm_head;  // relative to the checkpoint root (GPT-2 keeps it outside "transformer.")
  BlockWeightNames block;
};

constexpr DecoderWeightNames kLlamaNames = {"model.",
                                            "embed_tokens",
                                            nullptr,
                                            "norm",
                                            "lm_head",
                                            {"layers.{}.",
                                             "input_layernorm",
                                             {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", nullptr,
                                              "self_attn.o_proj", "self_attn.q_norm", "self_attn.k_norm"},
                                             nullptr,
                                             {},
                                             "post_attention_layernorm",
                                             {"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}}};

constexpr DecoderWeightNames kGpt2Names = {"transformer.",
                                           "wte",
                                           "wpe",
                                           "ln_f",
                                           "lm_head",
                                           {"h.{}.",
                                            "ln_1",
                                            {nullptr, nullptr, nullptr, "attn.c_attn", "attn.c_proj", nullptr, nullptr},
                                            nullptr,
                                            {},
                                            "ln_2",
                                            {nullptr, "mlp.c_fc", "mlp.c_proj"}}};

const DecoderWeightNames& weight_names_for(const std::string& model_type) {
  return model_type == "gpt2" ? kGpt2Names : kLlamaNames;
}

BlockSpec block_spec(const DecoderConfig& c, int64_t layer) {
  BlockSpec s;
  s.pre_norm = true;
  s.norm = NormSpec{c.norm, c.norm == NormKind::LayerNorm, static_cast<float>(c.norm_eps)};
  AttentionSpec& a = s.attention;
  a.hidden = c.hidden_size;
  a.heads = c.num_heads;
  a.kv_heads = c.num_kv_heads;
  a.head_dim = c.head_dim;
  a.mask = AttentionMask::Causal;
  a.positions = c.positions == PositionKind::Rotary ? PositionKind::Rotary : PositionKind::None;
  a.kv = KvSource::PagedCache;
  a.qkv_bias = c.qkv_bias;
  a.o_bias = c.o_bias;
  a.qk_norm = c.qk_norm;
  a.qk_norm_eps = static_cast<float>(c.norm_eps);
  a.window = c.layer_window[static_cast<size_t>(layer)];
  s.mlp = MlpSpec{c.mlp, c.act, c.hidden_size, c.intermediate_size, c.mlp_bias};
  return s;
}

}  // namespace

std::unique_ptr<DecoderLM> DecoderLM::load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                           Device device, bool with_lm_head, const DecoderWeightPrefix* nested) {
  auto d = std::unique_ptr<DecoderLM>(new DecoderLM());
  d->cfg_ = DecoderConfig::from(config);
  d->compute_dtype_ = compute_dtype;
  d->device_ = device;
  const DecoderConfig& c = d->cfg_;
  const Backend& be = backend_for(device);
  if (compute_dtype == DType::BF16 && c.norm == NormKind::RmsNorm && c.mlp == MlpKind::Gated &&
      be.supports(OpKind::RmsNorm, DType::BF16) && be.supports(OpKind::SwiGlu, DType::BF16))
    d->linear_input_dtype_ = DType::BF16;
  const DecoderWeightNames& n = weight_names_for(c.model_type);
  const int64_t H = c.hidden_size, V = c.vocab_size;

  // Checkpoints come with the base model's prefix ("model.", GPT-2's "transformer.") and,
  // saved from the base model alone, without it.
  const std::string embed_name = std::string(n.embed) + ".weight";
  const std::string pre = nested                                                         ? nested->base
                          : weights.has(n.base + embed_name) || !weights.has(embed_name) ? n.base
                                                                                         : "";
  WeightSource w(weights, pre, compute_dtype, device, c.weight_layout);
  if (!w.has(embed_name))
    fail(ErrorKind::Corrupt, "{}: no token embedding tensor \"{}\"", weights.dir(), pre + embed_name);
  std::vector<std::string> needed = Norm::tensor_names(n.final_norm, block_spec(c, 0).norm);
  if (c.positions == PositionKind::Learned) needed.push_back(std::string(n.pos_embed) + ".weight");
  for (int64_t i = 0; i < c.num_layers; ++i)
    for (auto& t : Block::tensor_names(i, n.block, block_spec(c, i))) needed.push_back(std::move(t));
  w.require(needed, "model_type " + c.model_type);
  if (c.positions == PositionKind::Learned)
    d->pos_embed_ = w.vector(std::string(n.pos_embed) + ".weight", {c.max_positions, H});
  d->final_norm_ = Norm::load(w, n.final_norm, H, block_spec(c, 0).norm);
  for (int64_t i = 0; i < c.num_layers; ++i) d->blocks_.push_back(Block::load(w, i, n.block, block_spec(c, i)));

  const std::string head = (nested ? nested->lm_head : std::string(n.lm_head)) + ".weight";
  WeightSource root(weights, "", compute_dtype, device);
  if (!with_lm_head) {  // hidden states only (an embedding model): no head, tied or not
    d->embed_ = w.table(embed_name, {V, H});
  } else if (weights.has(head) && !c.tie_word_embeddings) {
    d->lm_head_ = Linear::from(root.matrix_out_in(head, V, H));
    d->embed_ = w.table(embed_name, {V, H});
  } else if (!c.tie_word_embeddings && c.positions != PositionKind::Learned) {
    fail(ErrorKind::Corrupt, "{}: no \"{}\" tensor and tie_word_embeddings is false", weights.dir(), head);
  } else {
    // Tied: the head's matrix is the table (one copy, or none for a checkpoint in the compute dtype).
    d->lm_head_ = Linear::from(w.matrix_out_in(embed_name, V, H));
    // A head packed at load (--quantize) is no lookup table: the table then stays in the compute dtype.
    d->embed_ = is_quantized(d->lm_head_.weight().dtype()) ? w.table(embed_name, {V, H}) : d->lm_head_.weight();
  }
  d->weight_bytes_ = w.matrix_bytes() + root.matrix_bytes();
  if (c.positions == PositionKind::Rotary)
    d->rotary_ = std::make_unique<RotaryEmbedding>(c.rope, c.max_positions, device);
  return d;
}

Tensor DecoderLM::embed_tokens(const Tensor& ids) const {
  return ops::embedding(embed_, ids);
}

Tensor DecoderLM::forward(const StepInputs& step, KvCache& cache) const {
  return run(step, &cache);
}

bool DecoderLM::replayable(const StepInputs& step) const {
  // Past the trained length, dynamic rope builds each step's tables on the host.
  return !step.input_embeddings.defined() && step.max_seq_len <= cfg_.max_positions;
}

Tensor DecoderLM::forward_prompt(const StepInputs& step) const {
  for (int64_t p : step.host_first_pos)
    if (p != 0) fail(ErrorKind::InvalidArgument, "a prompt step without a KV cache must start each sequence at 0");
  return run(step, nullptr);
}

Tensor DecoderLM::run(const StepInputs& step, KvCache* cache) const {
  if (step.max_seq_len > cfg_.max_positions &&
      (cfg_.positions != PositionKind::Rotary || cfg_.rope.type != RopeType::Dynamic))
    fail(ErrorKind::InvalidArgument, "sequence of {} tokens exceeds the model's context of {} tokens", step.max_seq_len,
         cfg_.max_positions);
  Tensor x = step.input_embeddings.defined() ? step.input_embeddings : ops::embedding(embed_, step.token_ids);
  if (pos_embed_.defined()) x = ops::add(x, ops::embedding(pos_embed_, step.positions));

  RotaryTables rotary;
  BlockContext ctx;
  ctx.step = &step;
  ctx.cache = cache;  // null: each layer attends within the step (Attention)
  ctx.linear_input_dtype = linear_input_dtype_;
  ctx.bf16_products = linear_input_dtype_ == DType::BF16;  // a bf16 model, as transformers runs it
  if (rotary_) {
    rotary = rotary_->for_step(step);
    ctx.rotary = &rotary;
  }
  for (size_t l = 0; l < blocks_.size(); ++l) {
    ctx.layer = static_cast<int64_t>(l);
    x = blocks_[l](x, ctx);
  }
  if (step.output_rows.defined() && step.output_rows.size(0) != step.num_tokens)
    x = ops::embedding(x, step.output_rows);  // gathers the rows that need outputs
  if (step.output == StepOutput::HiddenStates) return final_norm_(x, DType::F32);
  if (!lm_head_.weight().defined())
    fail(ErrorKind::Unsupported, "the model was loaded without its LM head (for hidden states): it gives no logits");
  return lm_head_(final_norm_(x, linear_input_dtype_));
}

}  // namespace ia
