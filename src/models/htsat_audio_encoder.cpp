#include "models/htsat_audio_encoder.h"

#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/activation_names.h"
#include "ops/ops.h"

namespace ia {

namespace {

// An int or a list of equal ints (patch_size, patch_stride may be either in ClapAudioConfig).
int64_t square_size(const HfConfig& c, const std::string& key, int64_t def) {
  const nlohmann::json& j = c.json();
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_array() && !it->empty() && (*it)[0].is_number_integer()) {
    const int64_t v = (*it)[0].get<int64_t>();
    for (const auto& e : *it)
      if (!e.is_number_integer() || e.get<int64_t>() != v)
        fail(ErrorKind::Unsupported, "{}: non-square '{}' {} is not supported", c.path(), key, it->dump());
    return v;
  }
  fail(ErrorKind::Corrupt, "{}: '{}' must be an int or a list of ints, got {}", c.path(), key, it->dump());
}

std::vector<int64_t> int_list(const HfConfig& c, const std::string& key, const std::vector<int64_t>& def) {
  const nlohmann::json& j = c.json();
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_array() || it->empty() || it->size() > 16)
    fail(ErrorKind::Corrupt, "{}: '{}' must be a list of 1 to 16 ints, got {}", c.path(), key, it->dump());
  std::vector<int64_t> out;
  for (const auto& e : *it) {
    if (!e.is_number_integer() || e.get<int64_t>() < 1 || e.get<int64_t>() > kMaxConfigLayers)
      fail(ErrorKind::Corrupt, "{}: '{}' holds {}, not a positive int", c.path(), key, e.dump());
    out.push_back(e.get<int64_t>());
  }
  return out;
}

// torch's cubic convolution weights (A = -0.75) for a fractional offset t.
void cubic_weights(float t, float w[4]) {
  constexpr float A = -0.75f;
  auto c1 = [](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
  auto c2 = [](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
  w[0] = c2(t + 1.0f);
  w[1] = c1(t);
  w[2] = c1(1.0f - t);
  w[3] = c2(2.0f - t);
}

Tensor index_on(const std::vector<int64_t>& rows, Device device) {
  return ops::to_device(Tensor::from_vector(rows, {static_cast<int64_t>(rows.size())}).to(DType::I32), device);
}

}  // namespace

HtsatConfig HtsatConfig::from(const HfConfig& ac) {
  if (ac.get_bool("enable_fusion", false))
    fail(ErrorKind::Unsupported,
         "{}: CLAP with enable_fusion (the fused HTSAT of e.g. laion/clap-htsat-fused) is not supported yet; "
         "unfused checkpoints (laion/clap-htsat-unfused, larger_clap_*) run",
         ac.path());
  HtsatConfig c;
  auto bounded = [&](const char* key, int64_t v, int64_t hi) {
    if (v < 1 || v > hi) fail(ErrorKind::Corrupt, "{}: '{}' is {}, outside [1, {}]", ac.path(), key, v, hi);
    return v;
  };
  c.num_mel_bins = bounded("num_mel_bins", ac.get_int("num_mel_bins", 64), 4096);
  c.spec_size = bounded("spec_size", ac.get_int("spec_size", 256), 1 << 14);
  c.patch_size = bounded("patch_size", square_size(ac, "patch_size", 4), 1 << 10);
  c.patch_stride = bounded("patch_stride", square_size(ac, "patch_stride", 4), 1 << 10);
  c.channels = bounded("patch_embed_input_channels", ac.get_int("patch_embed_input_channels", 1), 64);
  c.patch_hidden = bounded("patch_embeds_hidden_size", ac.get_int("patch_embeds_hidden_size", 96), 1 << 16);
  c.window = bounded("window_size", ac.get_int("window_size", 8), 1 << 10);
  c.depths = int_list(ac, "depths", c.depths);
  c.heads = int_list(ac, "num_attention_heads", c.heads);
  c.mlp_ratio = ac.get_float("mlp_ratio", 4.0);
  c.eps = static_cast<float>(ac.get_float("layer_norm_eps", 1e-5));
  c.qkv_bias = ac.get_bool("qkv_bias", true);
  c.patch_norm = ac.get_bool("enable_patch_layer_norm", true);
  c.activation = parse_activation(ac.get_string("hidden_act", "gelu"), ac.path());
  if (!ac.get_bool("flatten_patch_embeds", true))
    fail(ErrorKind::Unsupported, "{}: flatten_patch_embeds false is not supported", ac.path());
  if (c.channels != 1)
    fail(ErrorKind::Unsupported, "{}: patch_embed_input_channels {} (only 1 runs without fusion)", ac.path(),
         c.channels);
  if (c.patch_size != c.patch_stride)
    fail(ErrorKind::Unsupported, "{}: patch_size {} differs from patch_stride {} (overlapping patches)", ac.path(),
         c.patch_size, c.patch_stride);
  if (c.depths.size() != c.heads.size())
    fail(ErrorKind::Corrupt, "{}: {} depths but {} num_attention_heads", ac.path(), c.depths.size(), c.heads.size());
  if (c.mlp_ratio <= 0 || c.mlp_ratio > 64)
    fail(ErrorKind::Corrupt, "{}: mlp_ratio {} outside (0, 64]", ac.path(), c.mlp_ratio);
  const int64_t stages = static_cast<int64_t>(c.depths.size());
  if (c.spec_size < c.num_mel_bins || c.spec_size % c.num_mel_bins != 0 || c.spec_height() != c.num_mel_bins)
    fail(ErrorKind::Unsupported, "{}: spec_size {} is not a multiple of num_mel_bins {} that keeps every mel bin",
         ac.path(), c.spec_size, c.num_mel_bins);
  if (c.spec_size % c.patch_stride != 0 || c.grid() % (int64_t{1} << (stages - 1)) != 0)
    fail(ErrorKind::Unsupported, "{}: spec_size {} / patch {} does not halve through {} stages", ac.path(), c.spec_size,
         c.patch_stride, stages);
  for (int64_t i = 0; i < stages; ++i) {
    const int64_t res = c.grid() >> i, dim = c.patch_hidden << i;
    if (res < c.window || (res > c.window && res % c.window != 0))
      fail(ErrorKind::Unsupported, "{}: stage {} is {}x{} patches, not a multiple of window_size {}", ac.path(), i, res,
           res, c.window);
    if (dim % c.heads[static_cast<size_t>(i)] != 0)
      fail(ErrorKind::Corrupt, "{}: stage {} width {} is not a multiple of its {} heads", ac.path(), i, dim,
           c.heads[static_cast<size_t>(i)]);
  }
  if (ac.has("hidden_size") && ac.get_int("hidden_size", 0) != c.hidden())
    fail(ErrorKind::Corrupt, "{}: hidden_size {} is not patch_embeds_hidden_size {} * 2^{}", ac.path(),
         ac.get_int("hidden_size", 0), c.patch_hidden, stages - 1);
  return c;
}

HtsatAudioEncoder HtsatAudioEncoder::load(const WeightSource& w, const HtsatConfig& c) {
  HtsatAudioEncoder e;
  e.config_ = c;
  e.device_ = w.device();
  const NormSpec ln{NormKind::LayerNorm, true, 1e-5f};  // nn.LayerNorm's default where transformers passes no eps
  const NormSpec block_ln{NormKind::LayerNorm, true, c.eps};
  const int64_t stages = static_cast<int64_t>(c.depths.size());
  const int64_t p = c.patch_size, P = c.patch_hidden;

  std::vector<std::string> needed = {"batch_norm.weight",
                                     "batch_norm.bias",
                                     "batch_norm.running_mean",
                                     "batch_norm.running_var",
                                     "patch_embed.proj.weight",
                                     "patch_embed.proj.bias",
                                     "norm.weight",
                                     "norm.bias"};
  if (c.patch_norm) needed.insert(needed.end(), {"patch_embed.norm.weight", "patch_embed.norm.bias"});
  for (int64_t i = 0; i < stages; ++i) {
    for (int64_t j = 0; j < c.depths[static_cast<size_t>(i)]; ++j) {
      const std::string b = fmt::format("layers.{}.blocks.{}.", i, j);
      for (const char* n : {"layernorm_before", "attention.self.query", "attention.self.key", "attention.self.value",
                            "attention.output.dense", "layernorm_after", "intermediate.dense", "output.dense"})
        needed.push_back(b + n + ".weight");
      needed.push_back(b + "attention.self.relative_position_bias_table");
    }
    if (i + 1 < stages) {
      needed.push_back(fmt::format("layers.{}.downsample.norm.weight", i));
      needed.push_back(fmt::format("layers.{}.downsample.reduction.weight", i));
    }
  }
  w.require(needed, "CLAP's HTSAT audio encoder");
  const WeightStore& store = w.store();
  const std::string& pre = w.prefix();

  // bn0 in eval: (x - mean) / sqrt(var + eps) * weight + bias, one affine per mel bin.
  const int64_t M = c.num_mel_bins;
  auto bn = [&](const char* n) { return store.get_as(pre + "batch_norm." + n, DType::F32, {M}).to_f32_vector(); };
  const auto bw = bn("weight"), bb = bn("bias"), mean = bn("running_mean"), var = bn("running_var");
  e.bn_scale_.resize(static_cast<size_t>(M));
  e.bn_shift_.resize(static_cast<size_t>(M));
  for (size_t f = 0; f < static_cast<size_t>(M); ++f) {
    e.bn_scale_[f] = bw[f] / std::sqrt(var[f] + 1e-5f);
    e.bn_shift_[f] = bb[f] - mean[f] * e.bn_scale_[f];
  }

  Tensor kernel = store.get_as(pre + "patch_embed.proj.weight", w.compute_dtype(), {P, c.channels, p, p});
  e.patch_ = Linear::from(ops::to_device(kernel.contiguous().view({P, c.channels * p * p}), w.device()),
                          w.vector("patch_embed.proj.bias", {P}));
  if (c.patch_norm) e.patch_norm_ = Norm::load(w, "patch_embed.norm", P, ln);

  for (int64_t i = 0; i < stages; ++i) {
    Stage s;
    s.dim = P << i;
    s.res = c.grid() >> i;
    const int64_t C = s.dim, heads = c.heads[static_cast<size_t>(i)], d = C / heads;
    const auto inter = static_cast<int64_t>(c.mlp_ratio * static_cast<double>(C));
    for (int64_t j = 0; j < c.depths[static_cast<size_t>(i)]; ++j) {
      const std::string b = fmt::format("layers.{}.blocks.{}.", i, j);
      SwinBlock blk;
      blk.dim = C;
      blk.heads = heads;
      blk.res = s.res;
      // transformers' set_shift_and_window_size: a stage no larger than the window is one window, unshifted.
      blk.window = std::min(c.window, s.res);
      blk.shift = (j % 2 == 1 && s.res > c.window) ? c.window / 2 : 0;
      blk.norm_before = Norm::load(w, b + "layernorm_before", C, block_ln);
      blk.norm_after = Norm::load(w, b + "layernorm_after", C, block_ln);

      // Q|K|V as one matrix, Q's rows and bias scaled by 1/sqrt(head_dim) (the scores' scale).
      const float scale = 1.0f / std::sqrt(static_cast<float>(d));
      Tensor qkv = Tensor::empty({3 * C, C}, DType::F32);
      std::vector<float> qkv_bias(static_cast<size_t>(3 * C), 0.0f);
      const char* parts[3] = {"attention.self.query", "attention.self.key", "attention.self.value"};
      for (int k = 0; k < 3; ++k) {
        const float s_k = k == 0 ? scale : 1.0f;
        Tensor m = store.get_as(pre + b + parts[k] + ".weight", DType::F32, {C, C}).contiguous();
        float* dst = qkv.data<float>() + k * C * C;
        const float* src = m.data<float>();
        for (int64_t r = 0; r < C * C; ++r) dst[r] = src[r] * s_k;
        if (c.qkv_bias) {
          const auto bias = store.get_as(pre + b + parts[k] + ".bias", DType::F32, {C}).to_f32_vector();
          for (int64_t r = 0; r < C; ++r) qkv_bias[static_cast<size_t>(k * C + r)] = bias[static_cast<size_t>(r)] * s_k;
        }
      }
      blk.qkv = Linear::from(ops::to_device(qkv.to(w.compute_dtype()), w.device()),
                             ops::to_device(Tensor::from_vector(qkv_bias, {3 * C}), w.device()));
      blk.out = Linear::load(w, b + "attention.output.dense", C, C, true);
      blk.fc1 = Linear::load(w, b + "intermediate.dense", inter, C, true);
      blk.fc2 = Linear::load(w, b + "output.dense", C, inter, true);

      // The bias added to each window's scores: the relative position bias of each head, plus for a
      // shifted block the -100 mask between tokens that the cyclic shift brought from different regions.
      const int64_t ws = blk.window, T = ws * ws, span = 2 * c.window - 1, side = s.res / ws;
      const auto table =
          store.get_as(pre + b + "attention.self.relative_position_bias_table", DType::F32, {span * span, heads})
              .to_f32_vector();
      const int64_t windows = blk.shift > 0 ? side * side : 1;
      std::vector<float> bias(static_cast<size_t>(windows * heads * T * T));
      auto region = [&](int64_t v) { return v < s.res - ws ? 0 : (v < s.res - blk.shift ? 1 : 2); };
      for (int64_t win = 0; win < windows; ++win) {
        const int64_t wy = win / side, wx = win % side;
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t a = 0; a < T; ++a)
            for (int64_t q = 0; q < T; ++q) {
              const int64_t ay = a / ws, ax = a % ws, qy = q / ws, qx = q % ws;
              const int64_t rel = (ay - qy + c.window - 1) * span + (ax - qx + c.window - 1);
              float v = table[static_cast<size_t>(rel * heads + h)];
              if (blk.shift > 0) {
                const int64_t ra = region(wy * ws + ay) * 3 + region(wx * ws + ax);
                const int64_t rq = region(wy * ws + qy) * 3 + region(wx * ws + qx);
                if (ra != rq) v += -100.0f;
              }
              bias[static_cast<size_t>(((win * heads + h) * T + a) * T + q)] = v;
            }
      }
      blk.bias = ops::to_device(Tensor::from_vector(bias, {windows * heads * T * T}), w.device());
      s.blocks.push_back(std::move(blk));
    }
    if (i + 1 < stages) {
      s.merges = true;
      s.merge_norm = Norm::load(w, fmt::format("layers.{}.downsample.norm", i), 4 * C, ln);
      s.merge_reduction = Linear::load(w, fmt::format("layers.{}.downsample.reduction", i), 2 * C, 4 * C, false);
    }
    e.stages_.push_back(std::move(s));
  }
  e.final_norm_ = Norm::load(w, "norm", c.hidden(), ln);
  return e;
}

Tensor HtsatAudioEncoder::patch_rows(const Tensor& input_features) const {
  const HtsatConfig& c = config_;
  if (input_features.dim() != 4 || input_features.dtype() != DType::F32 || input_features.size(1) != 1)
    fail(ErrorKind::InvalidArgument, "input_features must be f32 [clips, 1, frames, mel bins], got {}",
         input_features.describe());
  const int64_t B = input_features.size(0), T = input_features.size(2), F = input_features.size(3);
  const int64_t W = c.spec_width(), r = c.freq_ratio(), p = c.patch_size, g = c.grid();
  if (B < 1 || T < 1) fail(ErrorKind::InvalidArgument, "input_features {} holds no frames", input_features.describe());
  if (F != c.num_mel_bins)
    fail(ErrorKind::InvalidArgument, "input_features have {} mel bins; the model takes {}", F, c.num_mel_bins);
  if (T > W)
    fail(ErrorKind::InvalidArgument, "input_features have {} frames, more than the model's {} (spec_size {} x {})", T,
         W, c.spec_size, r);
  Tensor host = input_features.device().is_cpu() ? input_features.contiguous()
                                                 : ops::to_device(input_features, Device::cpu()).contiguous();

  // Bicubic taps in time (align_corners=True, as torch computes them in float).
  std::vector<int64_t> first(static_cast<size_t>(W));
  std::vector<float> weights(static_cast<size_t>(W) * 4);
  const float scale = W > 1 ? static_cast<float>(T - 1) / static_cast<float>(W - 1) : 0.0f;
  for (int64_t o = 0; o < W; ++o) {
    const float real = T == W ? static_cast<float>(o) : scale * static_cast<float>(o);
    const int64_t idx = std::min(static_cast<int64_t>(std::floor(real)), T - 1);
    const float t = std::min(std::max(real - static_cast<float>(idx), 0.0f), 1.0f);
    first[static_cast<size_t>(o)] = idx - 1;
    cubic_weights(t, weights.data() + o * 4);
  }
  const int64_t K = p * p, rows_per_clip = g * g;
  Tensor rows = Tensor::empty({B * rows_per_clip, K}, DType::F32);
  std::vector<float> mel(static_cast<size_t>(T * F)), wide(static_cast<size_t>(W * F));
  for (int64_t b = 0; b < B; ++b) {
    const float* x = host.data<float>() + b * T * F;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t f = 0; f < F; ++f)
        mel[static_cast<size_t>(t * F + f)] =
            x[t * F + f] * bn_scale_[static_cast<size_t>(f)] + bn_shift_[static_cast<size_t>(f)];
    if (T == W) {
      wide = mel;
    } else {
      for (int64_t o = 0; o < W; ++o) {
        const float* wo = weights.data() + o * 4;
        for (int64_t f = 0; f < F; ++f) {
          float acc = 0;
          for (int k = 0; k < 4; ++k) {
            const int64_t src = std::min(std::max<int64_t>(first[static_cast<size_t>(o)] + k, 0), T - 1);
            acc += mel[static_cast<size_t>(src * F + f)] * wo[k];
          }
          wide[static_cast<size_t>(o * F + f)] = acc;
        }
      }
    }
    // Image row k * F + f, column w: frame k * (W / r) + w, bin f (reshape_mel2img).
    const int64_t cols = W / r;
    auto pixel = [&](int64_t y, int64_t xcol) {
      const int64_t k = y / F, f = y % F;
      return wide[static_cast<size_t>((k * cols + xcol) * F + f)];
    };
    float* out = rows.data<float>() + b * rows_per_clip * K;
    for (int64_t gy = 0; gy < g; ++gy)
      for (int64_t gx = 0; gx < g; ++gx)
        for (int64_t ky = 0; ky < p; ++ky)
          for (int64_t kx = 0; kx < p; ++kx) *out++ = pixel(gy * p + ky, gx * p + kx);
  }
  return rows;
}

Tensor HtsatAudioEncoder::block_forward(const SwinBlock& b, const Tensor& x, int64_t clips) const {
  const int64_t C = b.dim, heads = b.heads, d = C / heads, ws = b.window, T = ws * ws, res = b.res;
  const int64_t side = res / ws, nW = side * side, L = res * res, G = clips * nW;
  // Rows of each (shifted) window in window order: torch.roll by -shift, then window_partition.
  std::vector<int64_t> win(static_cast<size_t>(clips * L)), back(static_cast<size_t>(clips * L * heads));
  for (int64_t n = 0; n < clips; ++n)
    for (int64_t wy = 0; wy < side; ++wy)
      for (int64_t wx = 0; wx < side; ++wx)
        for (int64_t t = 0; t < T; ++t) {
          const int64_t y = (wy * ws + t / ws + b.shift) % res, xx = (wx * ws + t % ws + b.shift) % res;
          const int64_t g = n * nW + wy * side + wx;
          win[static_cast<size_t>(g * T + t)] = n * L + y * res + xx;
          // The context of that window token, head h, goes back to grid row (y, xx): window_reverse and
          // the reverse roll, with the heads merged.
          for (int64_t h = 0; h < heads; ++h)
            back[static_cast<size_t>(((n * L + y * res + xx) * heads) + h)] = (g * heads + h) * T + t;
        }
  std::vector<int64_t> split(static_cast<size_t>(3 * G * heads * T));
  for (int64_t part = 0; part < 3; ++part)
    for (int64_t g = 0; g < G; ++g)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t t = 0; t < T; ++t)
          split[static_cast<size_t>(((part * G + g) * heads + h) * T + t)] = ((g * T + t) * 3 + part) * heads + h;

  Tensor h = b.norm_before(x);
  Tensor windows = ops::embedding(h, index_on(win, device_));        // [G * T, C]
  Tensor qkv = b.qkv(windows).view({G * T * 3 * heads, d});          // per row: q | k | v, each heads x d
  Tensor qkv_heads = ops::embedding(qkv, index_on(split, device_));  // [3, G, heads, T, d]
  const int64_t part = G * heads * T * d;
  auto piece = [&](int64_t i) {
    return Tensor(qkv_heads.storage(), qkv_heads.offset_bytes() + static_cast<size_t>(i * part) * sizeof(float),
                  {G * heads, T, d}, {T * d, d, 1}, DType::F32);
  };
  Tensor scores = ops::matmul(piece(0), piece(1), true);  // [G * heads, T, T], already scaled
  const int64_t bias_rows = b.bias.numel() / (heads * T * T) == 1 ? G : clips;
  scores = ops::add(scores.view({bias_rows, b.bias.numel()}), b.bias);
  Tensor probs = ops::softmax(scores.view({G * heads, T, T}));
  Tensor context = ops::matmul(probs, piece(2)).view({G * heads * T, d});
  Tensor merged = ops::embedding(context, index_on(back, device_)).view({clips * L, C});
  LinearEpilogue residual;
  residual.residual = &x;
  Tensor y = b.out(merged, residual);
  LinearEpilogue act;
  act.has_activation = true;
  act.activation = config_.activation;
  Tensor m = b.fc1(b.norm_after(y), act);
  LinearEpilogue residual2;
  residual2.residual = &y;
  return b.fc2(m, residual2);
}

Tensor HtsatAudioEncoder::forward(const Tensor& input_features) const {
  Tensor rows = patch_rows(input_features);  // checks the shape first
  const int64_t B = input_features.size(0);
  Tensor x = patch_(ops::to_device(rows, device_));
  if (patch_norm_.defined()) x = patch_norm_(x);
  for (const Stage& s : stages_) {
    for (const SwinBlock& b : s.blocks) x = block_forward(b, x, B);
    if (!s.merges) continue;
    // Patch merging: each 2x2 neighbourhood's rows (0,0), (1,0), (0,1), (1,1) side by side.
    const int64_t half = s.res / 2, L = s.res * s.res;
    std::vector<int64_t> rows(static_cast<size_t>(B * half * half * 4));
    size_t i = 0;
    for (int64_t n = 0; n < B; ++n)
      for (int64_t y = 0; y < half; ++y)
        for (int64_t xx = 0; xx < half; ++xx)
          for (const auto& [dy, dx] : {std::pair{0, 0}, std::pair{1, 0}, std::pair{0, 1}, std::pair{1, 1}})
            rows[i++] = n * L + (2 * y + dy) * s.res + 2 * xx + dx;
    x = ops::embedding(x, index_on(rows, device_)).view({B * half * half, 4 * s.dim});
    x = s.merge_reduction(s.merge_norm(x));
  }
  x = final_norm_(x);
  const int64_t L = x.size(0) / B, H = x.size(1);
  std::vector<int64_t> ones(static_cast<size_t>(B * L), 1);
  Tensor mask = ops::to_device(Tensor::from_vector(ones, {B, L}).to(DType::I32), device_);
  return ops::pool(PoolMode::Mean, x.view({B, L, H}), mask);
}

}  // namespace ia
