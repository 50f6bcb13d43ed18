#include "models/bert_encoder.h"

#include <cmath>
#include <cstring>

#include "core/logging.h"
#include "ops/ops.h"

namespace ia {

namespace {

// Where each weight of the generic encoder block lives in a checkpoint.
struct EncoderWeightNames {
  const char* word_emb;
  const char* pos_emb;
  const char* type_emb;  // nullptr: no token types
  const char* emb_ln;
  const char* layer;  // printf-style prefix for layer i
  const char* q;
  const char* k;
  const char* v;
  const char* attn_out;
  const char* ln1;
  const char* ffn_in;
  const char* ffn_out;
  const char* ln2;
  const char* pooler;  // nullptr: none
};

constexpr EncoderWeightNames kBertNames = {"embeddings.word_embeddings",
                                           "embeddings.position_embeddings",
                                           "embeddings.token_type_embeddings",
                                           "embeddings.LayerNorm",
                                           "encoder.layer.{}.",
                                           "attention.self.query",
                                           "attention.self.key",
                                           "attention.self.value",
                                           "attention.output.dense",
                                           "attention.output.LayerNorm",
                                           "intermediate.dense",
                                           "output.dense",
                                           "output.LayerNorm",
                                           "pooler.dense"};

constexpr EncoderWeightNames kDistilBertNames = {"embeddings.word_embeddings",
                                                 "embeddings.position_embeddings",
                                                 nullptr,
                                                 "embeddings.LayerNorm",
                                                 "transformer.layer.{}.",
                                                 "attention.q_lin",
                                                 "attention.k_lin",
                                                 "attention.v_lin",
                                                 "attention.out_lin",
                                                 "sa_layer_norm",
                                                 "ffn.lin1",
                                                 "ffn.lin2",
                                                 "output_layer_norm",
                                                 nullptr};

Activation parse_activation(const std::string& act, const std::string& where) {
  if (act == "gelu") return Activation::GeluErf;
  if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") return Activation::GeluTanh;
  if (act == "relu") return Activation::Relu;
  if (act == "silu" || act == "swish") return Activation::Silu;
  if (act == "tanh") return Activation::Tanh;
  fail(ErrorKind::Unsupported, "{}: hidden_act \"{}\" is not supported", where, act);
}

}  // namespace

std::unique_ptr<BertEncoder> BertEncoder::load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                               Device device) {
  BertConfig bc = BertConfig::from(config);
  const std::string type = config.model_type();
  const bool distil = type == "distilbert";
  const EncoderWeightNames& names = distil ? kDistilBertNames : kBertNames;

  auto enc = std::unique_ptr<BertEncoder>(new BertEncoder());
  enc->compute_dtype_ = compute_dtype;
  enc->device_ = device;
  enc->hidden_ = bc.hidden_size;
  enc->heads_ = bc.num_attention_heads;
  enc->eps_ = static_cast<float>(bc.layer_norm_eps);
  enc->max_positions_ = bc.max_position_embeddings;
  enc->act_ = parse_activation(bc.hidden_act, config.path());
  enc->roberta_positions_ = type == "roberta" || type == "xlm-roberta" || type == "camembert";
  if (enc->roberta_positions_) {
    enc->padding_idx_ = bc.pad_token_id;
    enc->position_offset_ = bc.pad_token_id + 1;
  }

  // Task heads save the encoder under a prefix ("bert.", "roberta.", ...).
  const std::string word = std::string(names.word_emb) + ".weight";
  for (const char* p : {"", "bert.", "roberta.", "distilbert.", "model.", "encoder."}) {
    if (weights.has(std::string(p) + word)) {
      enc->prefix_ = p;
      break;
    }
  }
  if (!weights.has(enc->prefix_ + word)) {
    fail(ErrorKind::Corrupt, "{}: no word embedding tensor \"{}\" (with or without a model prefix)", weights.dir(),
         word);
  }
  const std::string& pre = enc->prefix_;
  const int64_t H = bc.hidden_size, I = bc.intermediate_size;

  // Host tensors of the compute dtype (matrices) or f32 (vectors, tables), then moved to the device.
  auto f32 = [&](const std::string& name, const Shape& shape) {
    return ops::to_device(weights.get_as(pre + name, DType::F32, shape), device);
  };
  auto mat_host = [&](const std::string& name, const Shape& shape) {
    return weights.get_as(pre + name, compute_dtype, shape);
  };
  auto mat = [&](const std::string& name, const Shape& shape) { return ops::to_device(mat_host(name, shape), device); };

  enc->word_emb_ = f32(word, {bc.vocab_size, H});
  enc->pos_emb_ = f32(std::string(names.pos_emb) + ".weight", {bc.max_position_embeddings, H});
  if (names.type_emb && bc.type_vocab_size > 0 && weights.has(pre + names.type_emb + ".weight")) {
    enc->type_emb_ = f32(std::string(names.type_emb) + ".weight", {bc.type_vocab_size, H});
  }
  enc->emb_ln_w_ = f32(std::string(names.emb_ln) + ".weight", {H});
  enc->emb_ln_b_ = f32(std::string(names.emb_ln) + ".bias", {H});

  for (int64_t i = 0; i < bc.num_hidden_layers; ++i) {
    const std::string lp = fmt::format(fmt::runtime(names.layer), i);
    auto w = [&](const char* n) { return lp + n + ".weight"; };
    auto b = [&](const char* n) { return lp + n + ".bias"; };
    Layer L;
    // One GEMM for Q, K and V instead of three.
    L.qkv_w = ops::to_device(
        concat_rows({mat_host(w(names.q), {H, H}), mat_host(w(names.k), {H, H}), mat_host(w(names.v), {H, H})}),
        device);
    L.qkv_b = ops::to_device(concat_rows({weights.get_as(pre + b(names.q), DType::F32, {H}),
                                          weights.get_as(pre + b(names.k), DType::F32, {H}),
                                          weights.get_as(pre + b(names.v), DType::F32, {H})}),
                             device);
    L.out_w = mat(w(names.attn_out), {H, H});
    L.out_b = f32(b(names.attn_out), {H});
    L.ln1_w = f32(w(names.ln1), {H});
    L.ln1_b = f32(b(names.ln1), {H});
    L.ffn_in_w = mat(w(names.ffn_in), {I, H});
    L.ffn_in_b = f32(b(names.ffn_in), {I});
    L.ffn_out_w = mat(w(names.ffn_out), {H, I});
    L.ffn_out_b = f32(b(names.ffn_out), {H});
    L.ln2_w = f32(w(names.ln2), {H});
    L.ln2_b = f32(b(names.ln2), {H});
    enc->layers_.push_back(std::move(L));
  }
  if (names.pooler && weights.has(pre + names.pooler + std::string(".weight"))) {
    enc->pooler_w_ = mat(std::string(names.pooler) + ".weight", {H, H});
    enc->pooler_b_ = f32(std::string(names.pooler) + ".bias", {H});
  }
  return enc;
}

Tensor BertEncoder::embed(const Tensor& input_ids, const Tensor& attention_mask, const Tensor* token_type_ids) const {
  const int64_t B = input_ids.size(0), S = input_ids.size(1);
  // Position ids: 0..S-1, or for RoBERTa padding_idx + cumulative count of real tokens.
  Tensor positions = Tensor::empty({B, S}, DType::I64);
  const int64_t* mask = attention_mask.data<int64_t>();
  int64_t* pos = positions.data<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    int64_t count = 0;
    for (int64_t s = 0; s < S; ++s) {
      if (roberta_positions_) {
        bool real = mask[b * S + s] != 0;
        count += real ? 1 : 0;
        pos[b * S + s] = real ? padding_idx_ + count : padding_idx_;
      } else {
        pos[b * S + s] = s;
      }
    }
  }
  Tensor ids = ops::to_device(input_ids, device_);
  Tensor x = ops::embedding(word_emb_, ids);
  x = ops::add(x, ops::embedding(pos_emb_, ops::to_device(positions, device_)));
  if (type_emb_.defined()) {
    Tensor types = token_type_ids ? ops::to_device(*token_type_ids, device_)
                                  : ops::to_device(Tensor::zeros({B, S}, DType::I64), device_);
    x = ops::add(x, ops::embedding(type_emb_, types));
  }
  return ops::layer_norm(x, emb_ln_w_, &emb_ln_b_, eps_);
}

EncoderOutput BertEncoder::forward(const Tensor& input_ids, const Tensor& attention_mask,
                                   const Tensor* token_type_ids) const {
  IA_CHECK(input_ids.dim() == 2 && attention_mask.shape() == input_ids.shape(), "encoder: ids {} mask {}",
           input_ids.describe(), attention_mask.describe());
  const int64_t B = input_ids.size(0), S = input_ids.size(1);
  const int64_t H = hidden_, NH = heads_, D = hidden_ / heads_;
  Tensor mask = ops::to_device(attention_mask, device_);
  Tensor x = embed(input_ids, attention_mask, token_type_ids);  // [B, S, H]

  AttentionParams attn;
  attn.scale = 1.0f / std::sqrt(static_cast<float>(D));
  for (const Layer& L : layers_) {
    Tensor qkv = ops::linear(x, L.qkv_w, &L.qkv_b).view({B, S, 3, NH, D});
    Tensor ctx = ops::attention(qkv.select(2, 0), qkv.select(2, 1), qkv.select(2, 2), &mask, attn).view({B, S, H});
    // Bias, activation and the residual add ride in the GEMMs' output pass.
    LinearEpilogue add_x, gelu, add_h;
    add_x.residual = &x;
    gelu.has_activation = true;
    gelu.activation = act_;
    Tensor h = ops::layer_norm(ops::linear(ctx, L.out_w, &L.out_b, add_x), L.ln1_w, &L.ln1_b, eps_);
    add_h.residual = &h;
    Tensor ff = ops::linear(h, L.ffn_in_w, &L.ffn_in_b, gelu);
    x = ops::layer_norm(ops::linear(ff, L.ffn_out_w, &L.ffn_out_b, add_h), L.ln2_w, &L.ln2_b, eps_);
  }
  EncoderOutput out;
  out.last_hidden_state = x;
  if (pooler_w_.defined()) {
    Tensor cls = x.select(1, 0).contiguous();  // [B, H]
    out.pooler_output = ops::activation(Activation::Tanh, ops::linear(cls, pooler_w_, &pooler_b_));
  }
  return out;
}

}  // namespace ia
