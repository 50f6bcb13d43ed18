#include "models/decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "ops/ops.h"

namespace ia {

namespace {

// Where each weight of the generic decoder block lives in a checkpoint. A null
// entry is a weight the architecture does not have.
struct DecoderWeightNames {
  const char* embed;
  const char* pos_embed;
  const char* final_norm;
  const char* lm_head;
  const char* layer;  // fmt pattern for layer i
  const char* norm1;
  const char* q;
  const char* k;
  const char* v;
  const char* qkv;  // already fused (GPT-2 c_attn)
  const char* o;
  const char* q_norm;
  const char* k_norm;
  const char* norm2;
  const char* gate;  // null: plain MLP with an activation
  const char* up;
  const char* down;
};

constexpr DecoderWeightNames kLlamaNames = {"model.embed_tokens", nullptr,
                                            "model.norm",         "lm_head",
                                            "model.layers.{}.",   "input_layernorm",
                                            "self_attn.q_proj",   "self_attn.k_proj",
                                            "self_attn.v_proj",   nullptr,
                                            "self_attn.o_proj",   "self_attn.q_norm",
                                            "self_attn.k_norm",   "post_attention_layernorm",
                                            "mlp.gate_proj",      "mlp.up_proj",
                                            "mlp.down_proj"};

constexpr DecoderWeightNames kGpt2Names = {"wte",   "wpe",   "ln_f",  "lm_head",     "h.{}.",       "ln_1",
                                           nullptr, nullptr, nullptr, "attn.c_attn", "attn.c_proj", nullptr,
                                           nullptr, "ln_2",  nullptr, "mlp.c_fc",    "mlp.c_proj"};

}  // namespace

std::unique_ptr<Decoder> Decoder::load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                       Device device) {
  auto d = std::unique_ptr<Decoder>(new Decoder());
  d->cfg_ = DecoderConfig::from(config);
  d->compute_dtype_ = compute_dtype;
  d->device_ = device;
  const DecoderConfig& c = d->cfg_;
  const Backend& be = backend_for(device);
  if (compute_dtype == DType::BF16 && !c.gpt2 && be.supports(OpKind::RmsNorm, DType::BF16) &&
      be.supports(OpKind::SwiGlu, DType::BF16))
    d->linear_input_dtype_ = DType::BF16;
  const DecoderWeightNames& n = c.gpt2 ? kGpt2Names : kLlamaNames;
  if (!c.gpt2 && c.act != Activation::Silu)
    fail(ErrorKind::Unsupported, "{}: gated MLP with an activation other than silu is not supported", config.path());
  const int64_t H = c.hidden_size, D = c.head_dim, Hq = c.num_heads, Hkv = c.num_kv_heads, I = c.intermediate_size;
  const int64_t V = c.vocab_size;

  // GPT-2 checkpoints come with and without the "transformer." prefix.
  std::string pre;
  if (c.gpt2) {
    pre = weights.has("transformer.wte.weight") ? "transformer." : "";
  }
  auto f32 = [&](const std::string& name, const Shape& shape) {
    return ops::to_device(weights.get_as(pre + name, DType::F32, shape), device);
  };
  auto mat_host = [&](const std::string& name, const Shape& shape) {
    if (c.gpt2) {
      // Conv1D stores [in, out]; linear wants [out, in].
      return weights.get_as(pre + name, compute_dtype, {shape[1], shape[0]}).transpose(0, 1).contiguous();
    }
    return weights.get_as(pre + name, compute_dtype, shape);
  };
  auto bias_or_empty = [&](bool present, const std::string& name, int64_t size) {
    return present ? weights.get_as(pre + name, DType::F32, {size}) : Tensor();
  };
  auto track = [&](const Tensor& w) {
    d->weight_bytes_ += static_cast<int64_t>(w.nbytes());
    return ops::to_device(w, device);
  };

  const std::string embed_name = std::string(n.embed) + ".weight";
  if (!weights.has(pre + embed_name))
    fail(ErrorKind::Corrupt, "{}: no token embedding tensor \"{}\"", weights.dir(), pre + embed_name);
  d->embed_ = f32(embed_name, {V, H});
  if (n.pos_embed) d->pos_embed_ = f32(std::string(n.pos_embed) + ".weight", {c.max_positions, H});
  d->final_w_ = f32(std::string(n.final_norm) + ".weight", {H});
  if (c.gpt2) d->final_b_ = f32(std::string(n.final_norm) + ".bias", {H});

  const int64_t qkv_rows = (Hq + 2 * Hkv) * D;
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string lp = fmt::format(fmt::runtime(n.layer), i);
    auto w = [&](const char* s) { return lp + s + ".weight"; };
    auto b = [&](const char* s) { return lp + s + ".bias"; };
    Layer L;
    L.window = c.layer_window[static_cast<size_t>(i)];
    L.norm1_w = f32(w(n.norm1), {H});
    L.norm2_w = f32(w(n.norm2), {H});
    if (c.gpt2) {
      L.norm1_b = f32(b(n.norm1), {H});
      L.norm2_b = f32(b(n.norm2), {H});
    }
    // One GEMM for Q, K and V; one for gate and up.
    if (n.qkv) {
      L.qkv_w = track(mat_host(w(n.qkv), {qkv_rows, H}));
      if (c.qkv_bias) L.qkv_b = f32(b(n.qkv), {qkv_rows});
    } else {
      L.qkv_w = track(
          concat_rows({mat_host(w(n.q), {Hq * D, H}), mat_host(w(n.k), {Hkv * D, H}), mat_host(w(n.v), {Hkv * D, H})}));
      if (c.qkv_bias)
        L.qkv_b = ops::to_device(concat_rows({bias_or_empty(true, b(n.q), Hq * D), bias_or_empty(true, b(n.k), Hkv * D),
                                              bias_or_empty(true, b(n.v), Hkv * D)}),
                                 device);
    }
    L.o_w = track(mat_host(w(n.o), {H, Hq * D}));
    if (c.o_bias) L.o_b = f32(b(n.o), {H});
    if (c.qk_norm) {
      L.q_norm = f32(w(n.q_norm), {D});
      L.k_norm = f32(w(n.k_norm), {D});
    }
    if (n.gate) {
      L.up_w = track(concat_rows({mat_host(w(n.gate), {I, H}), mat_host(w(n.up), {I, H})}));
      if (c.mlp_bias)
        L.up_b =
            ops::to_device(concat_rows({bias_or_empty(true, b(n.gate), I), bias_or_empty(true, b(n.up), I)}), device);
    } else {
      L.up_w = track(mat_host(w(n.up), {I, H}));
      if (c.mlp_bias) L.up_b = f32(b(n.up), {I});
    }
    L.down_w = track(mat_host(w(n.down), {H, I}));
    if (c.mlp_bias) L.down_b = f32(b(n.down), {H});
    d->layers_.push_back(std::move(L));
  }
  const std::string head = n.lm_head ? std::string(n.lm_head) + ".weight" : "";
  if (!head.empty() && weights.has(head) && !c.tie_word_embeddings) {
    d->lm_head_ = track(weights.get_as(head, compute_dtype, {V, H}));
  } else if (!head.empty() && !c.tie_word_embeddings && !c.gpt2) {
    fail(ErrorKind::Corrupt, "{}: no \"{}\" tensor and tie_word_embeddings is false", weights.dir(), head);
  } else {
    d->lm_head_ = track(weights.get_as(pre + embed_name, compute_dtype, {V, H}));
  }
  return d;
}

std::unique_ptr<KvCache> Decoder::make_cache(int64_t num_blocks, int64_t block_size) const {
  return std::make_unique<KvCache>(cfg_.num_layers, cfg_.num_kv_heads, cfg_.head_dim, block_size, num_blocks, device_);
}

Tensor Decoder::norm(const Tensor& x, const Tensor& w, const Tensor& b) const {
  if (cfg_.gpt2) return ops::layer_norm(x, w, b.defined() ? &b : nullptr, static_cast<float>(cfg_.norm_eps));
  return ops::rms_norm(x, w, static_cast<float>(cfg_.norm_eps), linear_input_dtype_);
}

void Decoder::rope_for(int64_t positions, Tensor& cos, Tensor& sin) const {
  std::lock_guard<std::mutex> lock(rope_mu_);
  if (positions > rope_rows_) {
    const int64_t rows = std::max<int64_t>({positions, 2 * rope_rows_, 256});
    Tensor c, s;
    rope_tables(rope_frequencies(cfg_.rope, cfg_.max_positions, cfg_.max_positions), rows, c, s);
    cos_ = ops::to_device(c, device_);
    sin_ = ops::to_device(s, device_);
    rope_rows_ = rows;
  }
  cos = cos_;
  sin = sin_;
}

Tensor Decoder::forward(const std::vector<SeqChunk>& chunks, KvCache& cache, bool all_logits) const {
  const int64_t S = static_cast<int64_t>(chunks.size());
  int64_t T = 0, max_pos = 0, max_blocks = 1;
  for (const auto& ch : chunks) {
    const int64_t end = cache.length(ch.seq) + static_cast<int64_t>(ch.tokens.size());
    IA_CHECK(!ch.tokens.empty(), "decoder: empty chunk for sequence {}", ch.seq);
    if (end > cfg_.max_positions && (cfg_.gpt2 || cfg_.rope.type != "dynamic"))
      fail(ErrorKind::InvalidArgument, "sequence of {} tokens exceeds the model's context of {} tokens", end,
           cfg_.max_positions);
    T += static_cast<int64_t>(ch.tokens.size());
    max_pos = std::max(max_pos, end);
    max_blocks = std::max(max_blocks, cache.blocks_for(end));
  }
  const int64_t D = cfg_.head_dim, Hq = cfg_.num_heads, Hkv = cfg_.num_kv_heads;
  // Dynamic (NTK) rope past the trained length: the frequencies depend on the
  // sequence's current length, so each sequence gets its own, as a
  // transformers run of that sequence alone computes them (HF batches take the
  // batch's longest; here a sequence's output must not depend on its batch).
  // One cos/sin row per new token, indexed by token rather than position.
  const bool rope_per_token = !cfg_.gpt2 && cfg_.rope.type == "dynamic" && max_pos > cfg_.max_positions;
  const int64_t half = cfg_.rope.rotary_dim / 2;
  Tensor tok_cos, tok_sin, tok_idx;
  if (rope_per_token) {
    tok_cos = Tensor::empty({T, half}, DType::F32);
    tok_sin = Tensor::empty({T, half}, DType::F32);
    tok_idx = Tensor::empty({T}, DType::I64);
    int64_t row = 0;
    for (const auto& ch : chunks) {
      const int64_t n = static_cast<int64_t>(ch.tokens.size()), p0 = cache.length(ch.seq);
      const RopeFrequencies f = rope_frequencies(cfg_.rope, cfg_.max_positions, p0 + n);
      for (int64_t i = 0; i < n; ++i, ++row) {
        rope_row(f, p0 + i, tok_cos.data<float>() + row * half, tok_sin.data<float>() + row * half);
        tok_idx.data<int64_t>()[row] = row;
      }
    }
  }

  // Host-side bookkeeping: ids, positions, cache slots, block tables.
  Tensor ids = Tensor::empty({T}, DType::I64), pos = Tensor::empty({T}, DType::I64),
         slots = Tensor::empty({T}, DType::I64);
  Tensor tables = Tensor::empty({S, max_blocks}, DType::I32), lens = Tensor::empty({S}, DType::I32);
  Tensor starts = Tensor::empty({S + 1}, DType::I32), last_rows = Tensor::empty({S}, DType::I64);
  std::fill(tables.data<int32_t>(), tables.data<int32_t>() + S * max_blocks, -1);
  int64_t t = 0;
  starts.data<int32_t>()[0] = 0;
  for (int64_t s = 0; s < S; ++s) {
    const SeqChunk& ch = chunks[static_cast<size_t>(s)];
    const int64_t n = static_cast<int64_t>(ch.tokens.size()), p0 = cache.length(ch.seq);
    for (int64_t i = 0; i < n; ++i) {
      const int32_t id = ch.tokens[static_cast<size_t>(i)];
      if (id < 0 || id >= cfg_.vocab_size)
        fail(ErrorKind::InvalidArgument, "token id {} is outside the model's vocabulary of {}", id, cfg_.vocab_size);
      ids.data<int64_t>()[t + i] = id;
      pos.data<int64_t>()[t + i] = p0 + i;
    }
    std::vector<int64_t> sl = cache.append(ch.seq, n);
    std::copy(sl.begin(), sl.end(), slots.data<int64_t>() + t);
    const auto& bt = cache.block_table(ch.seq);
    std::copy(bt.begin(), bt.end(), tables.data<int32_t>() + s * max_blocks);
    lens.data<int32_t>()[s] = static_cast<int32_t>(cache.length(ch.seq));
    t += n;
    starts.data<int32_t>()[s + 1] = static_cast<int32_t>(t);
    last_rows.data<int64_t>()[s] = t - 1;
  }
  Tensor ids_d = ops::to_device(ids, device_), pos_d = ops::to_device(pos, device_),
         slots_d = ops::to_device(slots, device_);
  Tensor tables_d = ops::to_device(tables, device_), lens_d = ops::to_device(lens, device_),
         starts_d = ops::to_device(starts, device_);

  Tensor x = ops::embedding(embed_, ids_d);  // [T, H]
  if (pos_embed_.defined()) x = ops::add(x, ops::embedding(pos_embed_, pos_d));
  Tensor cos, sin, rope_pos = pos_d;
  if (rope_per_token) {
    cos = ops::to_device(tok_cos, device_);
    sin = ops::to_device(tok_sin, device_);
    rope_pos = ops::to_device(tok_idx, device_);
  } else if (!cfg_.gpt2) {
    rope_for(max_pos, cos, sin);
  }

  PagedAttentionParams attn;
  attn.scale = 1.0f / std::sqrt(static_cast<float>(D));
  attn.bf16_products = linear_input_dtype_ == DType::BF16;  // a bf16 model, as transformers runs it
  const float eps = static_cast<float>(cfg_.norm_eps);
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    Tensor h = norm(x, L.norm1_w, L.norm1_b);
    Tensor qkv = ops::linear(h, L.qkv_w, L.qkv_b.defined() ? &L.qkv_b : nullptr).view({T, Hq + 2 * Hkv, D});
    Tensor q = qkv.narrow(1, 0, Hq), k = qkv.narrow(1, Hq, Hkv), v = qkv.narrow(1, Hq + Hkv, Hkv);
    if (cfg_.qk_norm) {
      q = ops::rms_norm(q, L.q_norm, eps);
      k = ops::rms_norm(k, L.k_norm, eps);
    }
    if (!cfg_.gpt2) {
      q = ops::rotary(q, rope_pos, cos, sin);
      k = ops::rotary(k, rope_pos, cos, sin);
    }
    ops::kv_cache_write(k, v, slots_d, cache.k(static_cast<int64_t>(l)), cache.v(static_cast<int64_t>(l)));
    attn.window = L.window;
    Tensor a = ops::paged_attention(q, cache.k(static_cast<int64_t>(l)), cache.v(static_cast<int64_t>(l)), tables_d,
                                    lens_d, starts_d, attn)
                   .view({T, Hq * D});
    x = ops::add(x, ops::linear(a, L.o_w, L.o_b.defined() ? &L.o_b : nullptr));
    h = norm(x, L.norm2_w, L.norm2_b);
    Tensor up = ops::linear(h, L.up_w, L.up_b.defined() ? &L.up_b : nullptr);
    Tensor act = cfg_.gpt2 ? ops::activation(cfg_.act, up) : ops::swiglu(up, linear_input_dtype_);
    x = ops::add(x, ops::linear(act, L.down_w, L.down_b.defined() ? &L.down_b : nullptr));
  }
  if (!all_logits && T != S)
    x = ops::embedding(x, ops::to_device(last_rows, device_));  // gathers each chunk's last row
  x = norm(x, final_w_, final_b_);
  Tensor logits = ops::linear(x, lm_head_, nullptr);
  return ops::to_device(logits, Device::cpu());
}

}  // namespace ia
