// CLAP (ClapModel) parity against transformers (tests/fixtures/models/clap/reference.*): the
// input_features our front end makes of audio.wav, audio_embeds, text_embeds and logits_per_audio
// within the fixture's tolerances, on IA_TEST_DEVICE.
//
// The fixture's Swin stages hold one block each, so none of its blocks is shifted. A variant with a
// second, shifted block in the first stage (its weights the first block's, perturbed) is checked
// against an f64 re-implementation of ClapAudioEncoder written out below, which first reproduces
// the fixture's own audio_embeds.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/safetensors.h"
#include "models/clap.h"
#include "models/model_registry.h"
#include "ops/ops.h"
#include "preprocess/audio/audio_loader.h"
#include "runtime/audio_text_endpoint.h"
#include "test_device.h"

namespace ia {
namespace {

namespace fs = std::filesystem;
using Vec = std::vector<double>;

std::string fixture() {
  return std::string(IA_FIXTURES_DIR) + "/models/clap";
}

struct Reference {
  std::shared_ptr<SafetensorsFile> file;
  nlohmann::json meta;
  double atol = 0, atol_features = 0;
  Tensor get(const std::string& n) const { return file->tensor(n).contiguous(); }
};

Reference load_reference() {
  Reference r;
  r.file = SafetensorsFile::open(fixture() + "/reference.safetensors");
  std::ifstream in(fixture() + "/reference.json");
  r.meta = nlohmann::json::parse(in);
  r.atol = r.meta["atol"].get<double>();
  r.atol_features = r.meta["atol_features"].get<double>();
  return r;
}

Vec values(const Tensor& t) {
  std::vector<float> f = ops::to_device(t, Device::cpu()).contiguous().to_f32_vector();
  return Vec(f.begin(), f.end());
}

Vec flat(const std::vector<std::vector<float>>& rows) {
  Vec out;
  for (const auto& r : rows) out.insert(out.end(), r.begin(), r.end());
  return out;
}

double max_err(const Vec& got, const Vec& want) {
  EXPECT_EQ(got.size(), want.size());
  double err = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    const double d = std::fabs(got[i] - want[i]);
    if (!(d <= err)) err = std::isnan(d) ? INFINITY : d;  // NaN never passes
  }
  return err;
}

// The reference's padded input_ids, each row cut at its attention mask.
std::vector<std::vector<int32_t>> reference_ids(const Reference& ref) {
  Tensor ids = ref.get("input_ids"), mask = ref.get("attention_mask");
  const int64_t S = ids.size(0), L = ids.size(1);
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(S));
  for (int64_t s = 0; s < S; ++s)
    for (int64_t i = 0; i < L; ++i)
      if (mask.data<int64_t>()[s * L + i])
        out[static_cast<size_t>(s)].push_back(static_cast<int32_t>(ids.data<int64_t>()[s * L + i]));
  return out;
}

std::vector<float> fixture_clip(int rate) {
  return audio::load_audio_file(fixture() + "/audio.wav", rate).samples;
}

TEST(ClapParity, InputFeaturesFromAudioWav) {
  Reference ref = load_reference();
  auto ep = AudioTextEndpoint::load(fixture(), test_device(), DType::F32);
  Tensor f = ep->input_features({fixture_clip(ep->sampling_rate())});
  ASSERT_EQ(f.shape(), ref.get("input_features").shape());
  const double e = max_err(values(f), values(ref.get("input_features")));
  std::printf("[ clap     ] max |input_features - ref| = %.3g (atol_features %.g)\n", e, ref.atol_features);
  EXPECT_LT(e, ref.atol_features);
}

TEST(ClapParity, TokenizerGivesTheReferenceIds) {
  Reference ref = load_reference();
  auto ep = AudioTextEndpoint::load(fixture(), Device::cpu(), DType::F32);
  std::vector<std::string> texts = ref.meta["texts"].get<std::vector<std::string>>();
  const auto want = reference_ids(ref);
  const auto got = ep->tokenize(texts);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].ids, want[i]) << texts[i];
}

// Both towers on the reference's own inputs: embeddings and both directions of logits.
TEST(ClapParity, EmbeddingsAndLogitsFromReferenceInputs) {
  Reference ref = load_reference();
  auto ep = AudioTextEndpoint::load(fixture(), test_device(), DType::F32);
  AudioTextSimilarity r;
  Tensor te = ep->text_embeddings_of_ids(reference_ids(ref), true);
  Tensor ae = ep->audio_embeddings_of(ref.get("input_features"), true);
  for (int64_t i = 0; i < te.size(0); ++i)
    r.text_embeds.emplace_back(te.data<float>() + i * te.size(1), te.data<float>() + (i + 1) * te.size(1));
  r.audio_embeds.emplace_back(ae.data<float>(), ae.data<float>() + ae.size(1));
  ep->score(r);
  const double tee = max_err(values(te), values(ref.get("text_embeds")));
  const double aee = max_err(values(ae), values(ref.get("audio_embeds")));
  const double le = max_err(flat(r.logits_per_audio), values(ref.get("logits_per_audio")));
  std::printf(
      "[ clap     ] max |text_embeds - ref| = %.3g, |audio_embeds - ref| = %.3g, |logits_per_audio - ref| = "
      "%.3g (atol %.g)\n",
      tee, aee, le, ref.atol);
  EXPECT_LT(tee, ref.atol);
  EXPECT_LT(aee, ref.atol);
  EXPECT_LT(le, ref.atol);
  // logits_per_text is logits_per_audio transposed, with logit_scale_t for logit_scale_a.
  const float ratio = ep->model().logit_scale_text() / ep->model().logit_scale_audio();
  for (size_t t = 0; t < r.logits_per_text.size(); ++t)
    EXPECT_NEAR(r.logits_per_text[t][0], r.logits_per_audio[0][t] * ratio, 1e-4);
}

// The path a user takes: audio.wav decoded and featurized, the texts tokenized.
TEST(ClapParity, SimilarityFromTextsAndAudio) {
  Reference ref = load_reference();
  auto ep = AudioTextEndpoint::load(fixture(), test_device(), DType::F32);
  AudioTextSimilarity r =
      ep->similarity({fixture_clip(ep->sampling_rate())}, ref.meta["texts"].get<std::vector<std::string>>());
  const double tee = max_err(flat(r.text_embeds), values(ref.get("text_embeds")));
  const double aee = max_err(flat(r.audio_embeds), values(ref.get("audio_embeds")));
  const double le = max_err(flat(r.logits_per_audio), values(ref.get("logits_per_audio")));
  std::printf("[ clap     ] from audio.wav: |text_embeds| %.3g, |audio_embeds| %.3g, |logits_per_audio| %.3g\n", tee,
              aee, le);
  EXPECT_LT(tee, ref.atol);
  // The front end's input_features are the reference's (InputFeaturesFromAudioWav): the same atol holds.
  EXPECT_LT(aee, ref.atol);
  EXPECT_LT(le, ref.atol);
  ASSERT_EQ(r.probs_per_audio.size(), 1u);
  double sum = 0;
  for (float p : r.probs_per_audio[0]) sum += p;
  EXPECT_NEAR(sum, 1.0, 1e-5);
  EXPECT_EQ(r.token_counts.size(), 3u);
}

// Clips in one batch give what each gives alone (the window gathers index per clip).
TEST(ClapParity, BatchOfClipsMatchesEachAlone) {
  Reference ref = load_reference();
  auto ep = AudioTextEndpoint::load(fixture(), test_device(), DType::F32);
  Tensor one = ref.get("input_features");
  Tensor two = Tensor::empty({2, 1, one.size(2), one.size(3)}, DType::F32);
  const int64_t n = one.numel();
  for (int64_t i = 0; i < n; ++i) {
    two.data<float>()[i] = one.data<float>()[i];
    two.data<float>()[n + i] = one.data<float>()[n - 1 - i] * 0.5f;  // another clip: reversed, quieter
  }
  Tensor second = Tensor::empty(one.shape(), DType::F32);
  std::copy_n(two.data<float>() + n, n, second.data<float>());
  const Vec both = values(ep->audio_embeddings_of(two, true));
  const Vec a = values(ep->audio_embeddings_of(one, true)), b = values(ep->audio_embeddings_of(second, true));
  const size_t D = a.size();
  EXPECT_LT(max_err(Vec(both.begin(), both.begin() + static_cast<std::ptrdiff_t>(D)), a), 1e-5);
  EXPECT_LT(max_err(Vec(both.begin() + static_cast<std::ptrdiff_t>(D), both.end()), b), 1e-5);
  EXPECT_GT(max_err(a, b), 1e-3);  // the two clips do differ
}

// bf16 matrices: the embeddings move by what bf16 rounding moves them.
TEST(ClapParity, Bf16EmbeddingsStayClose) {
  Reference ref = load_reference();
  auto ep = AudioTextEndpoint::load(fixture(), test_device(), DType::BF16);
  const double ae =
      max_err(values(ep->audio_embeddings_of(ref.get("input_features"), true)), values(ref.get("audio_embeds")));
  const double te =
      max_err(values(ep->text_embeddings_of_ids(reference_ids(ref), true)), values(ref.get("text_embeds")));
  std::printf("[ bf16     ] clap max |audio_embeds - ref| = %.3g, |text_embeds - ref| = %.3g\n", ae, te);
  EXPECT_LT(ae, 0.03);
  EXPECT_LT(te, 0.03);
}

TEST(ClapParity, RegistryRunsClap) {
  const ModelKind k = classify_model({{"model_type", "clap"}, {"architectures", {"ClapModel"}}}, "cfg");
  EXPECT_TRUE(k.implemented);
  EXPECT_EQ(k.task, "zero-shot-audio-classification");
  EXPECT_TRUE(has_audio_text_model(k));
  EXPECT_FALSE(has_audio_text_model(classify_model({{"model_type", "clip"}}, "cfg")));
}

TEST(ClapParity, RefusesFusionCheckpoints) {
  nlohmann::json audio = {{"enable_fusion", true}, {"model_type", "clap_audio_model"}};
  try {
    HtsatConfig::from(HfConfig::from_json(audio, "config.json:audio_config"));
    FAIL() << "a fusion config loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("enable_fusion"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------- f64 ClapAudioEncoder

// transformers' ClapAudioEncoder (enable_fusion false) + audio_projection + normalize, in double,
// step by step as modeling_clap.py writes it.
class ReferenceHtsat {
 public:
  explicit ReferenceHtsat(const std::string& dir) : store_(WeightStore::open(dir)) {
    std::ifstream in(dir + "/config.json");
    cfg_ = nlohmann::json::parse(in)["audio_config"];
  }

  Vec embed(const Tensor& features) const {  // [1, 1, T, F]
    const int64_t T = features.size(2), F = features.size(3);
    const int64_t spec = cfg_["spec_size"], r = spec / F, Wd = spec * r, p = cfg_["patch_size"];
    const int64_t P = cfg_["patch_embeds_hidden_size"], ws = cfg_["window_size"];
    const Vec x = values(features);
    const Vec bw = w("batch_norm.weight"), bb = w("batch_norm.bias"), bm = w("batch_norm.running_mean"),
              bv = w("batch_norm.running_var");
    Vec mel(static_cast<size_t>(T * F));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t f = 0; f < F; ++f)
        mel[i(t * F + f)] = (x[i(t * F + f)] - bm[i(f)]) / std::sqrt(bv[i(f)] + 1e-5) * bw[i(f)] + bb[i(f)];
    // bicubic, align_corners=True, in time
    Vec wide(static_cast<size_t>(Wd * F));
    for (int64_t o = 0; o < Wd; ++o) {
      const double real = static_cast<double>(T - 1) / static_cast<double>(Wd - 1) * static_cast<double>(o);
      const auto idx = static_cast<int64_t>(std::floor(real));
      const double t = real - static_cast<double>(idx);
      constexpr double A = -0.75;
      auto c1 = [](double v) { return ((A + 2) * v - (A + 3)) * v * v + 1; };
      auto c2 = [](double v) { return ((A * v - 5 * A) * v + 8 * A) * v - 4 * A; };
      const double cw[4] = {c2(t + 1), c1(t), c1(1 - t), c2(2 - t)};
      for (int64_t f = 0; f < F; ++f) {
        double acc = 0;
        for (int k = 0; k < 4; ++k) acc += cw[k] * mel[i(std::clamp<int64_t>(idx - 1 + k, 0, T - 1) * F + f)];
        wide[i(o * F + f)] = acc;
      }
    }
    // reshape [r, Wd/r, F] -> permute [r, F, Wd/r] -> image [r*F, Wd/r]
    const int64_t side = Wd / r;
    auto img = [&](int64_t y, int64_t xc) { return wide[i(((y / F) * side + xc) * F + y % F)]; };
    const int64_t g = spec / p;
    const Vec pw = w("patch_embed.proj.weight"), pb = w("patch_embed.proj.bias");
    Vec h(static_cast<size_t>(g * g * P));
    for (int64_t gy = 0; gy < g; ++gy)
      for (int64_t gx = 0; gx < g; ++gx)
        for (int64_t c = 0; c < P; ++c) {
          double acc = pb[i(c)];
          for (int64_t ky = 0; ky < p; ++ky)
            for (int64_t kx = 0; kx < p; ++kx) acc += pw[i((c * p + ky) * p + kx)] * img(gy * p + ky, gx * p + kx);
          h[i((gy * g + gx) * P + c)] = acc;
        }
    h = layer_norm(h, P, "patch_embed.norm", 1e-5);
    const auto depths = cfg_["depths"].get<std::vector<int64_t>>();
    const auto heads = cfg_["num_attention_heads"].get<std::vector<int64_t>>();
    int64_t res = g, C = P;
    for (size_t s = 0; s < depths.size(); ++s) {
      for (int64_t j = 0; j < depths[s]; ++j) {
        const int64_t shift = (j % 2 == 1 && res > ws) ? ws / 2 : 0;
        h = swin_block(h, res, C, heads[s], std::min(ws, res), shift, ws,
                       "layers." + std::to_string(s) + ".blocks." + std::to_string(j) + ".");
      }
      if (s + 1 < depths.size()) {
        const std::string m = "layers." + std::to_string(s) + ".downsample.";
        const int64_t half = res / 2;
        Vec cat(static_cast<size_t>(half * half * 4 * C));
        const int64_t dy[4] = {0, 1, 0, 1}, dx[4] = {0, 0, 1, 1};
        for (int64_t y = 0; y < half; ++y)
          for (int64_t xx = 0; xx < half; ++xx)
            for (int q = 0; q < 4; ++q)
              for (int64_t c = 0; c < C; ++c)
                cat[i(((y * half + xx) * 4 + q) * C + c)] = h[i(((2 * y + dy[q]) * res + 2 * xx + dx[q]) * C + c)];
        cat = layer_norm(cat, 4 * C, m + "norm", 1e-5);
        h = linear(cat, 4 * C, m + "reduction", 2 * C, false);
        res = half;
        C *= 2;
      }
    }
    h = layer_norm(h, C, "norm", 1e-5);
    Vec pooled(static_cast<size_t>(C), 0.0);
    for (int64_t t = 0; t < res * res; ++t)
      for (int64_t c = 0; c < C; ++c) pooled[i(c)] += h[i(t * C + c)] / static_cast<double>(res * res);
    const int64_t D = cfg_["projection_dim"];
    Vec a = linear(pooled, C, "", D, true, "audio_projection.linear1");
    for (double& v : a) v = std::max(v, 0.0);
    a = linear(a, D, "", D, true, "audio_projection.linear2");
    double ss = 0;
    for (double v : a) ss += v * v;
    for (double& v : a) v /= std::sqrt(ss);
    return a;
  }

 private:
  static size_t i(int64_t v) { return static_cast<size_t>(v); }
  Vec w(const std::string& n, const std::string& root = "audio_model.audio_encoder.") const {
    return values(store_->get_as(root + n, DType::F32));
  }
  Vec layer_norm(const Vec& x, int64_t C, const std::string& n, double eps) const {
    const Vec g = w(n + ".weight"), b = w(n + ".bias");
    Vec out(x.size());
    for (size_t r = 0; r < x.size() / static_cast<size_t>(C); ++r) {
      double mean = 0, var = 0;
      for (int64_t c = 0; c < C; ++c) mean += x[r * i(C) + i(c)] / static_cast<double>(C);
      for (int64_t c = 0; c < C; ++c) var += std::pow(x[r * i(C) + i(c)] - mean, 2) / static_cast<double>(C);
      for (int64_t c = 0; c < C; ++c)
        out[r * i(C) + i(c)] = (x[r * i(C) + i(c)] - mean) / std::sqrt(var + eps) * g[i(c)] + b[i(c)];
    }
    return out;
  }
  // full: a name from the checkpoint's root instead of under the audio encoder.
  Vec linear(const Vec& x, int64_t in, const std::string& n, int64_t out, bool bias,
             const std::string& full = "") const {
    const Vec W = full.empty() ? w(n + ".weight") : w(full + ".weight", "");
    const Vec B = bias ? (full.empty() ? w(n + ".bias") : w(full + ".bias", "")) : Vec(i(out), 0.0);
    const size_t rows = x.size() / i(in);
    Vec y(rows * i(out));
    for (size_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double acc = B[i(o)];
        for (int64_t k = 0; k < in; ++k) acc += W[i(o * in + k)] * x[r * i(in) + i(k)];
        y[r * i(out) + i(o)] = acc;
      }
    return y;
  }
  Vec swin_block(const Vec& x, int64_t res, int64_t C, int64_t heads, int64_t ws, int64_t shift, int64_t cfg_ws,
                 const std::string& b) const {
    const int64_t d = C / heads, T = ws * ws, span = 2 * cfg_ws - 1;
    const Vec h = layer_norm(x, C, b + "layernorm_before", cfg_["layer_norm_eps"].get<double>());
    // torch.roll(shifts=-shift): shifted[y][x] = h[y + shift][x + shift]
    Vec sh(h.size());
    for (int64_t y = 0; y < res; ++y)
      for (int64_t xx = 0; xx < res; ++xx)
        for (int64_t c = 0; c < C; ++c)
          sh[i((y * res + xx) * C + c)] = h[i((((y + shift) % res) * res + (xx + shift) % res) * C + c)];
    // get_attn_mask's regions over the shifted image
    auto region = [&](int64_t v) {
      if (v < res - ws) return 0;
      return v < res - shift ? 1 : 2;
    };
    const Vec table = w(b + "attention.self.relative_position_bias_table");
    Vec attn(sh.size());
    for (int64_t wy = 0; wy < res / ws; ++wy)
      for (int64_t wx = 0; wx < res / ws; ++wx) {
        Vec win(i(T * C));
        for (int64_t t = 0; t < T; ++t)
          for (int64_t c = 0; c < C; ++c)
            win[i(t * C + c)] = sh[i(((wy * ws + t / ws) * res + wx * ws + t % ws) * C + c)];
        const Vec q = linear(win, C, b + "attention.self.query", C, true);
        const Vec k = linear(win, C, b + "attention.self.key", C, true);
        const Vec v = linear(win, C, b + "attention.self.value", C, true);
        Vec ctx(i(T * C), 0.0);
        for (int64_t hd = 0; hd < heads; ++hd)
          for (int64_t a = 0; a < T; ++a) {
            Vec s(i(T));
            double mx = -INFINITY;
            for (int64_t z = 0; z < T; ++z) {
              double dot = 0;
              for (int64_t e = 0; e < d; ++e) dot += q[i(a * C + hd * d + e)] * k[i(z * C + hd * d + e)];
              const int64_t rel = (a / ws - z / ws + cfg_ws - 1) * span + (a % ws - z % ws + cfg_ws - 1);
              s[i(z)] = dot / std::sqrt(static_cast<double>(d)) + table[i(rel * heads + hd)];
              if (shift > 0) {
                const int64_t ra = region(wy * ws + a / ws) * 3 + region(wx * ws + a % ws);
                const int64_t rz = region(wy * ws + z / ws) * 3 + region(wx * ws + z % ws);
                if (ra != rz) s[i(z)] += -100.0;
              }
              mx = std::max(mx, s[i(z)]);
            }
            double sum = 0;
            for (double& e : s) sum += (e = std::exp(e - mx));
            for (int64_t z = 0; z < T; ++z)
              for (int64_t e = 0; e < d; ++e) ctx[i(a * C + hd * d + e)] += s[i(z)] / sum * v[i(z * C + hd * d + e)];
          }
        const Vec o = linear(ctx, C, b + "attention.output.dense", C, true);
        for (int64_t t = 0; t < T; ++t)
          for (int64_t c = 0; c < C; ++c)
            attn[i(((wy * ws + t / ws) * res + wx * ws + t % ws) * C + c)] = o[i(t * C + c)];
      }
    Vec y(x.size());
    for (int64_t yy = 0; yy < res; ++yy)  // the reverse roll, then the residual
      for (int64_t xx = 0; xx < res; ++xx)
        for (int64_t c = 0; c < C; ++c)
          y[i((yy * res + xx) * C + c)] =
              x[i((yy * res + xx) * C + c)] +
              attn[i((((yy - shift + res) % res) * res + (xx - shift + res) % res) * C + c)];
    const int64_t inter = static_cast<int64_t>(cfg_["mlp_ratio"].get<double>() * static_cast<double>(C));
    Vec m = linear(layer_norm(y, C, b + "layernorm_after", cfg_["layer_norm_eps"].get<double>()), C,
                   b + "intermediate.dense", inter, true);
    for (double& v : m) v = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    const Vec o = linear(m, inter, b + "output.dense", C, true);
    for (size_t n = 0; n < y.size(); ++n) y[n] += o[n];
    return y;
  }

  std::shared_ptr<WeightStore> store_;
  nlohmann::json cfg_;
};

class TempFolder {
 public:
  TempFolder() {
    path_ = fs::temp_directory_path() / ("ia_clap_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
  static inline int counter_ = 0;
};

TEST(ClapParity, ReferenceImplementationReproducesTheFixture) {
  Reference ref = load_reference();
  const double e = max_err(ReferenceHtsat(fixture()).embed(ref.get("input_features")), values(ref.get("audio_embeds")));
  std::printf("[ clap     ] f64 re-implementation: max |audio_embeds - ref| = %.3g\n", e);
  EXPECT_LT(e, ref.atol);
}

// Two blocks in the first stage: the second is shifted (SW-MSA with the region mask).
TEST(ClapParity, ShiftedWindowsMatchTheReferenceImplementation) {
  TempFolder dir;
  for (const auto& entry : fs::directory_iterator(fixture()))
    if (entry.path().filename() != "model.safetensors" && entry.path().filename() != "config.json")
      fs::copy_file(entry.path(), dir.str() + "/" + entry.path().filename().string());
  nlohmann::json cfg;
  std::ifstream(fixture() + "/config.json") >> cfg;
  cfg["audio_config"]["depths"] = {2, 1};
  std::ofstream(dir.str() + "/config.json") << cfg.dump(1);
  auto file = SafetensorsFile::open(fixture() + "/model.safetensors");
  std::vector<std::pair<std::string, Tensor>> all;
  std::mt19937 gen(7);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  const std::string from = "audio_model.audio_encoder.layers.0.blocks.0.";
  for (const std::string& name : file->names()) {
    all.emplace_back(name, file->tensor(name).contiguous());
    if (name.rfind(from, 0) == 0) {
      Tensor t = file->tensor(name).contiguous().clone();
      if (t.dtype() == DType::F32)
        for (int64_t k = 0; k < t.numel(); ++k) t.data<float>()[k] += noise(gen);
      all.emplace_back("audio_model.audio_encoder.layers.0.blocks.1." + name.substr(from.size()), t);
    }
  }
  write_safetensors(dir.str() + "/model.safetensors", all);
  Reference ref = load_reference();
  auto ep = AudioTextEndpoint::load(dir.str(), test_device(), DType::F32);
  const Vec got = values(ep->audio_embeddings_of(ref.get("input_features"), true));
  const Vec want = ReferenceHtsat(dir.str()).embed(ref.get("input_features"));
  const double e = max_err(got, want);
  std::printf("[ clap     ] shifted windows: max |audio_embeds - f64| = %.3g\n", e);
  EXPECT_LT(e, ref.atol);
  EXPECT_GT(max_err(got, values(ref.get("audio_embeds"))), 1e-3);  // the added block does change the output
}

}  // namespace
}  // namespace ia
