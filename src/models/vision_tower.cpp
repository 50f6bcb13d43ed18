#include "models/vision_tower.h"

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "core/error.h"
#include "models/step_inputs.h"
#include "ops/ops.h"

namespace ia {

namespace {

// torch's cubic convolution weights (A = -0.75) for a fractional offset t, in float as its kernel.
void cubic_weights(float t, float w[4]) {
  constexpr float A = -0.75f;
  auto c1 = [](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
  auto c2 = [](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
  w[0] = c2(t + 1.0f);
  w[1] = c1(t);
  w[2] = c1(1.0f - t);
  w[3] = c2(2.0f - t);
}

// For each output index: the source index of its first tap and the four weights.
void cubic_taps(int64_t in, int64_t out, std::vector<int64_t>& first, std::vector<float>& weights) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  first.resize(static_cast<size_t>(out));
  weights.resize(static_cast<size_t>(out) * 4);
  for (int64_t o = 0; o < out; ++o) {
    const float real = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
    const float f = std::floor(real);
    float t = real - f;
    t = std::min(std::max(t, 0.0f), 1.0f);
    first[static_cast<size_t>(o)] = static_cast<int64_t>(f) - 1;
    cubic_weights(t, weights.data() + o * 4);
  }
}

}  // namespace

namespace {

AttentionSpec message_attention_spec(const VisionTowerConfig& c) {
  AttentionSpec a;
  a.hidden = c.hidden;
  a.heads = a.kv_heads = c.heads;
  a.head_dim = c.hidden / c.heads;
  a.mask = AttentionMask::Bidirectional;
  a.positions = PositionKind::None;
  a.kv = KvSource::Step;
  a.qkv_bias = a.o_bias = true;
  return a;
}

Tensor row_ids(const std::vector<int64_t>& rows, Device device) {
  return ops::to_device(Tensor::from_vector(rows, {static_cast<int64_t>(rows.size())}).to(DType::I32), device);
}

}  // namespace

StepInputs equal_length_step(int64_t sequences, int64_t length, Device device) {
  StepInputs step;
  step.num_tokens = sequences * length;
  step.num_sequences = sequences;
  step.max_seq_len = length;
  std::vector<int64_t> starts(static_cast<size_t>(sequences + 1));
  for (int64_t b = 0; b <= sequences; ++b) starts[static_cast<size_t>(b)] = b * length;
  step.query_start = ops::to_device(Tensor::from_vector(starts, {sequences + 1}).to(DType::I32), device);
  step.host_seq_lens.assign(static_cast<size_t>(sequences), length);
  step.host_first_pos.assign(static_cast<size_t>(sequences), 0);
  return step;
}

std::vector<std::string> VisionTower::tensor_names(const VisionTowerConfig& c, const VisionTowerNames& n,
                                                   const CrossFrameNames* cross_frame) {
  std::vector<std::string> out = {std::string(n.patch) + ".weight", n.cls, n.positions};
  if (n.patch_bias) out.push_back(std::string(n.patch) + ".bias");
  const NormSpec ln{NormKind::LayerNorm, true, c.eps};
  for (const char* norm : {n.pre_norm, n.final_norm, n.post_norm})
    if (norm)
      for (auto& t : Norm::tensor_names(norm, ln)) out.push_back(std::move(t));
  BlockSpec spec;
  spec.norm = ln;
  spec.attention.qkv_bias = c.qkv_bias;
  spec.attention.o_bias = true;
  spec.mlp.bias = true;
  for (int64_t i = 0; i < c.layers; ++i)
    for (auto& t : Block::tensor_names(i, n.block, spec)) out.push_back(std::move(t));
  if (cross_frame)
    for (int64_t i = 0; i < c.layers; ++i) {
      const std::string lp = fmt::format(fmt::runtime(n.block.layer), i);
      for (auto& t : Linear::tensor_names({lp + cross_frame->fc}, true)) out.push_back(std::move(t));
      for (auto& t : Norm::tensor_names(lp + cross_frame->norm, ln)) out.push_back(std::move(t));
      for (auto& t : Attention::tensor_names(lp, cross_frame->attention, message_attention_spec(c)))
        out.push_back(std::move(t));
    }
  return out;
}

VisionTower VisionTower::load(const WeightSource& w, const VisionTowerConfig& c, const VisionTowerNames& n,
                              const CrossFrameNames* cross_frame) {
  const std::string& dir = w.store().dir();
  if (c.hidden <= 0 || c.layers <= 0 || c.heads <= 0 || c.hidden % c.heads != 0 || c.intermediate <= 0 ||
      c.patch <= 0 || c.image_size < c.patch || c.channels <= 0)
    fail(ErrorKind::Corrupt, "{}: vision config: hidden {} heads {} layers {} patch {} image_size {} channels {}", dir,
         c.hidden, c.heads, c.layers, c.patch, c.image_size, c.channels);
  VisionTower t;
  t.config_ = c;
  t.device_ = w.device();
  const int64_t H = c.hidden, K = c.channels * c.patch * c.patch, N = c.grid() * c.grid();
  const std::string& p = w.prefix();
  Tensor kernel = w.store().get_as(p + n.patch + ".weight", w.compute_dtype(), {H, c.channels, c.patch, c.patch});
  t.patch_ = Linear::from(ops::to_device(kernel.contiguous().view({H, K}), w.device()));
  t.patch_bias_ = n.patch_bias ? w.store().get_as(p + n.patch + ".bias", DType::F32, {H}).contiguous()
                               : Tensor::zeros({H}, DType::F32);
  t.cls_ = w.store().get_as(p + n.cls, DType::F32).contiguous();
  if (t.cls_.numel() != H)
    fail(ErrorKind::Corrupt, "{}: {} has {} values, not hidden_size {}", dir, p + n.cls, t.cls_.numel(), H);
  t.cls_ = t.cls_.view({H});
  t.pos_ = w.store().get_as(p + n.positions, DType::F32).contiguous();
  if (t.pos_.numel() != (N + 1) * H)
    fail(ErrorKind::Corrupt, "{}: {} has {} values, not (({} / {})^2 + 1) x {}", dir, p + n.positions, t.pos_.numel(),
         c.image_size, c.patch, H);
  t.pos_ = t.pos_.view({N + 1, H});
  t.table_ = t.table_for(c.grid(), c.grid());
  const NormSpec ln{NormKind::LayerNorm, true, c.eps};
  if (n.pre_norm) t.pre_norm_ = Norm::load(w, n.pre_norm, H, ln);
  if (n.final_norm) t.final_norm_ = Norm::load(w, n.final_norm, H, ln);
  if (n.post_norm) t.post_norm_ = Norm::load(w, n.post_norm, H, ln);
  BlockSpec spec;
  spec.pre_norm = true;
  spec.norm = ln;
  spec.attention.hidden = H;
  spec.attention.heads = spec.attention.kv_heads = c.heads;
  spec.attention.head_dim = H / c.heads;
  spec.attention.mask = AttentionMask::Bidirectional;
  spec.attention.positions = PositionKind::None;  // learned, added to the embeddings
  spec.attention.kv = KvSource::Step;
  spec.attention.qkv_bias = c.qkv_bias;
  spec.attention.o_bias = true;
  spec.mlp = MlpSpec{MlpKind::Plain, c.activation, H, c.intermediate, true};
  for (int64_t i = 0; i < c.layers; ++i) t.blocks_.push_back(Block::load(w, i, n.block, spec));
  if (cross_frame) {
    if (c.frames < 1) fail(ErrorKind::Corrupt, "{}: vision config: num_frames {} (at least 1)", dir, c.frames);
    for (int64_t i = 0; i < c.layers; ++i) {
      const std::string lp = fmt::format(fmt::runtime(n.block.layer), i);
      t.messages_.push_back({Linear::load(w, lp + cross_frame->fc, H, H, true),
                             Norm::load(w, lp + cross_frame->norm, H, ln),
                             Attention::load(w, lp, cross_frame->attention, message_attention_spec(c))});
    }
  }
  return t;
}

Tensor VisionTower::positions_for(int64_t gh, int64_t gw) const {
  const int64_t g = config_.grid(), H = config_.hidden;
  if (gh == g && gw == g) return pos_;
  // Resized as [1, H, g, g] -> [1, H, gh, gw]: each hidden channel an image of the grid.
  std::vector<int64_t> fy, fx;
  std::vector<float> wy, wx;
  cubic_taps(g, gh, fy, wy);
  cubic_taps(g, gw, fx, wx);
  Tensor out = Tensor::empty({1 + gh * gw, H}, DType::F32);
  std::memcpy(out.data<float>(), pos_.data<float>(), static_cast<size_t>(H) * sizeof(float));
  const float* src = pos_.data<float>() + H;  // patch positions, row-major over the grid
  auto at = [&](int64_t y, int64_t x) {
    y = std::min(std::max<int64_t>(y, 0), g - 1);
    x = std::min(std::max<int64_t>(x, 0), g - 1);
    return src + (y * g + x) * H;
  };
  std::vector<float> rows(static_cast<size_t>(4 * H));
  for (int64_t oy = 0; oy < gh; ++oy)
    for (int64_t ox = 0; ox < gw; ++ox) {
      const float* wyo = wy.data() + oy * 4;
      const float* wxo = wx.data() + ox * 4;
      float* o = out.data<float>() + (1 + oy * gw + ox) * H;
      for (int64_t h = 0; h < H; ++h) {
        float acc = 0;
        for (int i = 0; i < 4; ++i) {
          const int64_t y = fy[static_cast<size_t>(oy)] + i;
          const int64_t x0 = fx[static_cast<size_t>(ox)];
          const float r =
              at(y, x0)[h] * wxo[0] + at(y, x0 + 1)[h] * wxo[1] + at(y, x0 + 2)[h] * wxo[2] + at(y, x0 + 3)[h] * wxo[3];
          acc += r * wyo[i];
        }
        o[h] = acc;
      }
    }
  return out;
}

Tensor VisionTower::table_for(int64_t gh, int64_t gw) const {
  Tensor pos = positions_for(gh, gw);
  const int64_t H = config_.hidden, T = 1 + gh * gw;
  Tensor table = Tensor::empty({T, H}, DType::F32);
  const float* ps = pos.data<float>();
  const float* b = patch_bias_.data<float>();
  const float* cls = cls_.data<float>();
  float* o = table.data<float>();
  for (int64_t h = 0; h < H; ++h) o[h] = cls[h] + ps[h];
  for (int64_t r = 1; r < T; ++r)
    for (int64_t h = 0; h < H; ++h) o[r * H + h] = b[h] + ps[r * H + h];
  return ops::to_device(table, device_);
}

Tensor VisionTower::embed(const Tensor& pixel_values, int64_t& images, int64_t& tokens) const {
  const VisionTowerConfig& c = config_;
  if (pixel_values.dim() != 4 || pixel_values.dtype() != DType::F32 || pixel_values.size(1) != c.channels)
    fail(ErrorKind::InvalidArgument, "pixel_values must be f32 [images, {}, height, width], got {}", c.channels,
         pixel_values.describe());
  const int64_t B = pixel_values.size(0), Hi = pixel_values.size(2), Wi = pixel_values.size(3), p = c.patch;
  if (B < 1 || Hi < p || Wi < p)
    fail(ErrorKind::InvalidArgument, "pixel_values {}: images must be at least one {}x{} patch",
         pixel_values.describe(), p, p);
  const int64_t gh = Hi / p, gw = Wi / p, T = 1 + gh * gw, K = c.channels * p * p, H = c.hidden;
  // Patches as rows, each image's row 0 left zero for its class token: [B * T, C * p * p] on the host,
  // one copy to the device.
  Tensor host_px = pixel_values.device().is_cpu() ? pixel_values.contiguous()
                                                  : ops::to_device(pixel_values, Device::cpu()).contiguous();
  Tensor patches = Tensor::zeros({B * T, K}, DType::F32);
  const float* px = host_px.data<float>();
  float* pr = patches.data<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t gy = 0; gy < gh; ++gy)
      for (int64_t gx = 0; gx < gw; ++gx) {
        float* row = pr + (b * T + 1 + gy * gw + gx) * K;
        for (int64_t ch = 0; ch < c.channels; ++ch)
          for (int64_t ky = 0; ky < p; ++ky)
            std::memcpy(row + (ch * p + ky) * p, px + ((b * c.channels + ch) * Hi + gy * p + ky) * Wi + gx * p,
                        static_cast<size_t>(p) * sizeof(float));
      }
  Tensor x = patch_(ops::to_device(patches, device_));
  const Tensor table = gh == c.grid() && gw == c.grid() ? table_ : table_for(gh, gw);
  x = ops::add(x.view({B, T, H}), table).view({B * T, H});
  if (pre_norm_.defined()) x = pre_norm_(x);

  images = B;
  tokens = T;
  return x;
}

std::vector<Tensor> VisionTower::hidden_states(const Tensor& pixel_values, const std::vector<int64_t>& indices) const {
  if (!messages_.empty()) fail(ErrorKind::Unsupported, "hidden states of a tower with cross-frame messages");
  const auto L = static_cast<int64_t>(blocks_.size());
  std::vector<int64_t> at;
  int64_t deepest = 0;
  for (int64_t i : indices) {
    const int64_t k = i < 0 ? L + 1 + i : i;
    if (k < 0 || k > L)
      fail(ErrorKind::InvalidArgument, "hidden state {} of a vision tower with {} layers ({} states)", i, L, L + 1);
    at.push_back(k);
    deepest = std::max(deepest, k);
  }
  int64_t B = 0, T = 0;
  Tensor x = embed(pixel_values, B, T);
  const StepInputs step = equal_length_step(B, T, device_);
  BlockContext ctx;
  ctx.step = &step;
  ctx.bf16_products = patch_.weight().dtype() == DType::BF16;
  std::vector<Tensor> states(static_cast<size_t>(deepest + 1));
  states[0] = x;
  for (int64_t l = 0; l < deepest; ++l) {
    x = blocks_[static_cast<size_t>(l)](x, ctx);
    states[static_cast<size_t>(l + 1)] = x;
  }
  std::vector<Tensor> out;
  for (int64_t k : at) out.push_back(states[static_cast<size_t>(k)]);
  return out;
}

VisionTowerOutput VisionTower::forward(const Tensor& pixel_values) const {
  const VisionTowerConfig& c = config_;
  int64_t B = 0, T = 0;
  Tensor x = embed(pixel_values, B, T);
  const StepInputs step = equal_length_step(B, T, device_);
  BlockContext ctx;
  ctx.step = &step;
  ctx.bf16_products = patch_.weight().dtype() == DType::BF16;
  const Tensor cls_rows = step.query_start.narrow(0, 0, B);
  if (messages_.empty()) {
    for (const Block& blk : blocks_) x = blk(x, ctx);
  } else {
    const int64_t F = c.frames;
    if (B % F != 0)
      fail(ErrorKind::InvalidArgument, "{} frames are not whole videos of {} frames (the model's num_frames)", B, F);
    // Each frame's rows, then its message row (appended after all frames' rows): the order the
    // block sees; and back.
    std::vector<int64_t> with_message, without_message;
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t j = 0; j < T; ++j) {
        with_message.push_back(b * T + j);
        without_message.push_back(b * (T + 1) + j);
      }
      with_message.push_back(B * T + b);
    }
    const Tensor insert = row_ids(with_message, device_), strip = row_ids(without_message, device_);
    const StepInputs frames_step = equal_length_step(B / F, F, device_),
                     block_step = equal_length_step(B, T + 1, device_);
    BlockContext frames_ctx = ctx, block_ctx = ctx;
    frames_ctx.step = &frames_step;
    block_ctx.step = &block_step;
    for (size_t i = 0; i < blocks_.size(); ++i) {
      const CrossFrameLayer& m = messages_[i];
      Tensor msg = m.fc(ops::embedding(x, cls_rows));
      msg = m.attention(m.norm(msg), frames_ctx, &msg);
      Tensor xm = blocks_[i](ops::embedding(ops::concat_rows({x, msg}), insert), block_ctx);
      x = ops::embedding(xm, strip);
    }
  }
  VisionTowerOutput out;
  out.encoder_output = x;
  if (final_norm_.defined()) x = final_norm_(x);
  out.last_hidden_state = x;
  out.tokens_per_image = T;
  out.pooled = ops::embedding(x, cls_rows);
  if (post_norm_.defined()) out.pooled = post_norm_(out.pooled);
  return out;
}

}  // namespace ia
