#include "models/bert_encoder.h"

#include "core/error.h"
#include "models/activation_names.h"
#include "ops/ops.h"

namespace ia {

namespace {

// Where each weight of a BERT-family encoder lives in a checkpoint.
struct EncoderWeightNames {
  const char* word_emb;
  const char* pos_emb;
  const char* type_emb;  // null: no token types
  const char* emb_norm;
  const char* pooler;  // null: none
  BlockWeightNames block;
};

constexpr EncoderWeightNames kBertNames = {"embeddings.word_embeddings",
                                           "embeddings.position_embeddings",
                                           "embeddings.token_type_embeddings",
                                           "embeddings.LayerNorm",
                                           "pooler.dense",
                                           {"encoder.layer.{}.",
                                            "attention.output.LayerNorm",
                                            {"attention.self.query", "attention.self.key", "attention.self.value",
                                             nullptr, "attention.output.dense", nullptr, nullptr},
                                            nullptr,
                                            {},
                                            "output.LayerNorm",
                                            {nullptr, "intermediate.dense", "output.dense"}}};

constexpr EncoderWeightNames kDistilBertNames = {
    "embeddings.word_embeddings",
    "embeddings.position_embeddings",
    nullptr,
    "embeddings.LayerNorm",
    nullptr,
    {"transformer.layer.{}.",
     "sa_layer_norm",
     {"attention.q_lin", "attention.k_lin", "attention.v_lin", nullptr, "attention.out_lin", nullptr, nullptr},
     nullptr,
     {},
     "output_layer_norm",
     {nullptr, "ffn.lin1", "ffn.lin2"}}};

}  // namespace

std::unique_ptr<BertEncoder> BertEncoder::load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                               Device device, const std::optional<std::string>& prefix) {
  const BertConfig bc = BertConfig::from(config);
  const EncoderWeightNames& names = bc.model_type == "distilbert" ? kDistilBertNames : kBertNames;
  auto enc = std::unique_ptr<BertEncoder>(new BertEncoder());
  enc->compute_dtype_ = compute_dtype;
  enc->device_ = device;
  enc->hidden_ = bc.hidden_size;
  enc->vocab_ = bc.vocab_size;
  enc->max_positions_ = bc.max_position_embeddings;
  enc->position_offset_ = bc.position_offset();

  // Task heads save the encoder under a prefix ("bert.", "roberta.", ...).
  const std::string word = std::string(names.word_emb) + ".weight";
  for (const char* p : {"", "bert.", "roberta.", "distilbert.", "model.", "encoder."}) {
    if (prefix) {
      enc->prefix_ = *prefix;
      break;
    }
    if (weights.has(std::string(p) + word)) {
      enc->prefix_ = p;
      break;
    }
  }
  if (!weights.has(enc->prefix_ + word))
    fail(ErrorKind::Corrupt, "{}: no word embedding tensor \"{}\" (with or without a model prefix)", weights.dir(),
         word);
  WeightSource w(weights, enc->prefix_, compute_dtype, device);
  const int64_t H = bc.hidden_size;
  const NormSpec ln{NormKind::LayerNorm, true, static_cast<float>(bc.layer_norm_eps)};
  BlockSpec spec;
  spec.pre_norm = false;
  spec.norm = ln;
  spec.attention.hidden = H;
  spec.attention.heads = spec.attention.kv_heads = bc.num_attention_heads;
  spec.attention.head_dim = bc.head_dim();
  spec.attention.mask = AttentionMask::Bidirectional;
  spec.attention.positions = PositionKind::None;  // learned, added to the embeddings
  spec.attention.kv = KvSource::Step;
  spec.attention.qkv_bias = spec.attention.o_bias = true;
  spec.mlp = MlpSpec{MlpKind::Plain, parse_activation(bc.hidden_act, config.path()), H, bc.intermediate_size, true};
  std::vector<std::string> needed = {std::string(names.pos_emb) + ".weight"};
  for (auto& t : Norm::tensor_names(names.emb_norm, ln)) needed.push_back(std::move(t));
  for (int64_t i = 0; i < bc.num_hidden_layers; ++i)
    for (auto& t : Block::tensor_names(i, names.block, spec)) needed.push_back(std::move(t));
  w.require(needed, "model_type " + bc.model_type);
  enc->word_emb_ = w.vector(word, {bc.vocab_size, H});
  enc->pos_emb_ = w.vector(std::string(names.pos_emb) + ".weight", {bc.max_position_embeddings, H});
  if (names.type_emb && bc.type_vocab_size > 0 && w.has(std::string(names.type_emb) + ".weight"))
    enc->type_emb_ = w.vector(std::string(names.type_emb) + ".weight", {bc.type_vocab_size, H});
  enc->emb_norm_ = Norm::load(w, names.emb_norm, H, ln);

  for (int64_t i = 0; i < bc.num_hidden_layers; ++i) enc->blocks_.push_back(Block::load(w, i, names.block, spec));
  if (names.pooler && w.has(std::string(names.pooler) + ".weight")) {
    enc->pooler_ = Linear::load(w, names.pooler, H, H, true);
    enc->has_pooler_ = true;
  }
  return enc;
}

EncoderOutput BertEncoder::forward(const StepInputs& step) const {
  const int64_t S = step.num_sequences;
  if (step.max_seq_len > max_input_tokens())
    fail(ErrorKind::InvalidArgument, "input of {} tokens exceeds the model's limit of {} tokens", step.max_seq_len,
         max_input_tokens());
  // Packed rows have no padding, so RoBERTa's positions (padding_idx + 1 + i) are the
  // table from row position_offset_ on.
  Tensor positions = pos_emb_.narrow(0, position_offset_, max_positions_ - position_offset_);
  Tensor x = ops::add(ops::embedding(word_emb_, step.token_ids), ops::embedding(positions, step.positions));
  if (type_emb_.defined()) {
    x = step.token_types.defined() ? ops::add(x, ops::embedding(type_emb_, step.token_types))
                                   : ops::add(x, type_emb_.narrow(0, 0, 1).view({hidden_}));
  }
  x = emb_norm_(x);

  BlockContext ctx;
  ctx.step = &step;
  ctx.bf16_products = compute_dtype_ == DType::BF16;
  for (const Block& b : blocks_) x = b(x, ctx);
  EncoderOutput out;
  out.last_hidden_state = x;
  if (has_pooler_) {
    // The first ([CLS]) row of each sequence.
    Tensor cls = ops::embedding(x, step.query_start.narrow(0, 0, S));
    LinearEpilogue tanh;
    tanh.has_activation = true;
    tanh.activation = Activation::Tanh;
    out.pooler_output = pooler_(cls, tanh);
  }
  return out;
}

}  // namespace ia
