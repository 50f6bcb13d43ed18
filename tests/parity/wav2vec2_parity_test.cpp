// Wav2Vec2ForCTC parity against transformers (tests/fixtures/models/wav2vec2: a group-norm,
// post-norm model with the parametrizations.weight.original0/1 names; tools/fixtures/
// make_wav2vec2_fixtures.py makes the variants, whose folders are tested here when present):
// logits within the fixture's atol, the frame-wise argmax ids and the CTC text exactly.
//
// The variants the shared fixture lacks are also checked without transformers' outputs: the
// fixture rewritten with the weight_g / weight_v names, with a folded conv.weight, with
// feat_extract_norm "layer" (a LayerNorm after every conv), do_stable_layer_norm and conv
// biases, each against an f64 re-implementation of transformers' forward (below) that first
// reproduces the fixture's own logits. Batches of clips of different lengths give each clip's
// logits alone (transformers' masked batch for models with an attention mask).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/safetensors.h"
#include "models/wav2vec2.h"
#include "ops/ops.h"
#include "preprocess/audio/audio_loader.h"
#include "runtime/ctc_transcription.h"
#include "test_device.h"

namespace ia {
namespace {

namespace fs = std::filesystem;
using Vec = std::vector<double>;

std::string fixture(const std::string& name) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + name;
}

struct Reference {
  std::string dir;
  std::shared_ptr<SafetensorsFile> file;
  nlohmann::json meta;
  double atol = 0;
  Tensor input_values() const { return file->tensor("input_values"); }  // [1, samples]
  Tensor clip() const { return input_values().select(0, 0); }
};

Reference load_reference(const std::string& dir) {
  Reference r;
  r.dir = dir;
  r.file = SafetensorsFile::open(dir + "/reference.safetensors");
  std::ifstream in(dir + "/reference.json");
  r.meta = nlohmann::json::parse(in);
  r.atol = r.meta["atol"].get<double>();
  return r;
}

Tensor host(const Tensor& t) {
  return ops::to_device(t, Device::cpu()).contiguous();
}

Vec values(const Tensor& t) {
  std::vector<float> f = host(t).to_f32_vector();
  return Vec(f.begin(), f.end());
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

class TempFolder {
 public:
  TempFolder() {
    path_ = fs::temp_directory_path() / ("ia-w2v-parity-" + std::to_string(::getpid()) + "-" + std::to_string(next_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
  static inline int next_ = 0;
};

// ---------------------------------------------------------------- an f64 Wav2Vec2ForCTC

// transformers' modeling_wav2vec2 forward, in f64 with plain loops, from a folder's files.
class F64Wav2Vec2 {
 public:
  explicit F64Wav2Vec2(const std::string& dir) : store_(WeightStore::open(dir)) {
    std::ifstream in(dir + "/config.json");
    cfg_ = nlohmann::json::parse(in);
    prefix_ = store_->has("wav2vec2.feature_projection.projection.weight") ? "wav2vec2." : "";
  }

  // input_values [n] -> logits [frames * vocab]
  Vec logits(const Tensor& samples) const {
    const auto dims = cfg_["conv_dim"].get<std::vector<int64_t>>();
    const auto kernels = cfg_["conv_kernel"].get<std::vector<int64_t>>();
    const auto strides = cfg_["conv_stride"].get<std::vector<int64_t>>();
    const bool group = cfg_.value("feat_extract_norm", "group") == "group";
    const bool conv_bias = cfg_.value("conv_bias", false);
    const bool stable = cfg_.value("do_stable_layer_norm", false);
    const double eps = cfg_.value("layer_norm_eps", 1e-5);
    const int64_t H = cfg_["hidden_size"], heads = cfg_["num_attention_heads"];
    const int64_t K = cfg_["num_conv_pos_embeddings"], G = cfg_["num_conv_pos_embedding_groups"];

    Vec x = values(samples);
    int64_t L = static_cast<int64_t>(x.size()), C = 1;
    for (size_t i = 0; i < dims.size(); ++i) {
      const std::string lp = prefix_ + "feature_extractor.conv_layers." + std::to_string(i) + ".";
      Vec b = conv_bias ? t(lp + "conv.bias") : Vec();
      x = conv(x, L, C, t(lp + "conv.weight"), dims[i], kernels[i], strides[i], 0, 1, conv_bias ? &b : nullptr);
      C = dims[i];
      if (group && i == 0) {
        const Vec g = t(lp + "layer_norm.weight"), bb = t(lp + "layer_norm.bias");
        for (int64_t c = 0; c < C; ++c) {
          double mean = 0, var = 0;
          for (int64_t r = 0; r < L; ++r) mean += x[static_cast<size_t>(r * C + c)];
          mean /= static_cast<double>(L);
          for (int64_t r = 0; r < L; ++r) var += std::pow(x[static_cast<size_t>(r * C + c)] - mean, 2);
          var /= static_cast<double>(L);
          for (int64_t r = 0; r < L; ++r) {
            double& v = x[static_cast<size_t>(r * C + c)];
            v = (v - mean) / std::sqrt(var + 1e-5) * g[static_cast<size_t>(c)] + bb[static_cast<size_t>(c)];
          }
        }
      } else if (!group) {
        x = layer_norm(x, L, C, lp + "layer_norm", 1e-5);
      }
      for (double& v : x) v = gelu(v);
    }
    const int64_t T = L;
    Vec h = linear(layer_norm(x, T, C, prefix_ + "feature_projection.layer_norm", eps), T, C,
                   prefix_ + "feature_projection.projection", H);

    // Positional convolution: weight norm folded in f64, padding K/2, the extra frame of an even K dropped.
    const std::string pc = prefix_ + "encoder.pos_conv_embed.conv.";
    Vec w;
    if (store_->has(pc + "weight")) {
      w = t(pc + "weight");
    } else {
      const bool param = store_->has(pc + "parametrizations.weight.original0");
      const Vec g = t(pc + (param ? "parametrizations.weight.original0" : "weight_g"));
      const Vec v = t(pc + (param ? "parametrizations.weight.original1" : "weight_v"));
      w.resize(v.size());
      const int64_t rows = H * (H / G);
      for (int64_t k = 0; k < K; ++k) {
        double ss = 0;
        for (int64_t r = 0; r < rows; ++r) ss += v[static_cast<size_t>(r * K + k)] * v[static_cast<size_t>(r * K + k)];
        for (int64_t r = 0; r < rows; ++r)
          w[static_cast<size_t>(r * K + k)] =
              v[static_cast<size_t>(r * K + k)] * g[static_cast<size_t>(k)] / std::sqrt(ss);
      }
    }
    const Vec pb = t(pc + "bias");
    int64_t Tp = T;
    Vec pos = conv(h, Tp, H, w, H, K, 1, K / 2, G, &pb);
    for (int64_t i = 0; i < T * H; ++i) h[static_cast<size_t>(i)] += gelu(pos[static_cast<size_t>(i)]);

    const std::string en = prefix_ + "encoder.";
    if (!stable) h = layer_norm(h, T, H, en + "layer_norm", eps);
    for (int64_t l = 0; l < cfg_["num_hidden_layers"].get<int64_t>(); ++l) {
      const std::string lp = en + "layers." + std::to_string(l) + ".";
      if (stable) {
        add(h, attention(layer_norm(h, T, H, lp + "layer_norm", eps), T, H, heads, lp));
        add(h, feed_forward(layer_norm(h, T, H, lp + "final_layer_norm", eps), T, H, lp));
      } else {
        add(h, attention(h, T, H, heads, lp));
        h = layer_norm(h, T, H, lp + "layer_norm", eps);
        add(h, feed_forward(h, T, H, lp));
        h = layer_norm(h, T, H, lp + "final_layer_norm", eps);
      }
    }
    if (stable) h = layer_norm(h, T, H, en + "layer_norm", eps);
    return linear(h, T, H, "lm_head", cfg_["vocab_size"].get<int64_t>());
  }

 private:
  Vec t(const std::string& name) const { return values(store_->get_as(name, DType::F32)); }

  static double gelu(double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }
  static void add(Vec& a, const Vec& b) {
    for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  }

  // Channels-last conv, torch semantics; L becomes the output length.
  static Vec conv(const Vec& x, int64_t& L, int64_t Cin, const Vec& w, int64_t Cout, int64_t K, int64_t stride,
                  int64_t pad, int64_t groups, const Vec* b) {
    const int64_t Cg = Cin / groups, Og = Cout / groups, Lout = (L + 2 * pad - K) / stride + 1;
    Vec y(static_cast<size_t>(Lout * Cout));
    for (int64_t t = 0; t < Lout; ++t)
      for (int64_t o = 0; o < Cout; ++o) {
        double s = b ? (*b)[static_cast<size_t>(o)] : 0;
        const int64_t g = o / Og;
        for (int64_t i = 0; i < Cg; ++i)
          for (int64_t k = 0; k < K; ++k) {
            const int64_t src = t * stride + k - pad;
            if (src >= 0 && src < L)
              s += x[static_cast<size_t>(src * Cin + g * Cg + i)] * w[static_cast<size_t>((o * Cg + i) * K + k)];
          }
        y[static_cast<size_t>(t * Cout + o)] = s;
      }
    L = Lout;
    return y;
  }

  Vec layer_norm(const Vec& x, int64_t rows, int64_t C, const std::string& name, double eps) const {
    const Vec g = t(name + ".weight"), b = t(name + ".bias");
    Vec y(x.size());
    for (int64_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (int64_t c = 0; c < C; ++c) mean += x[static_cast<size_t>(r * C + c)];
      mean /= static_cast<double>(C);
      for (int64_t c = 0; c < C; ++c) var += std::pow(x[static_cast<size_t>(r * C + c)] - mean, 2);
      var /= static_cast<double>(C);
      for (int64_t c = 0; c < C; ++c)
        y[static_cast<size_t>(r * C + c)] =
            (x[static_cast<size_t>(r * C + c)] - mean) / std::sqrt(var + eps) * g[static_cast<size_t>(c)] +
            b[static_cast<size_t>(c)];
    }
    return y;
  }

  Vec linear(const Vec& x, int64_t rows, int64_t in, const std::string& name, int64_t out) const {
    const Vec w = t(name + ".weight"), b = t(name + ".bias");
    Vec y(static_cast<size_t>(rows * out));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double s = b[static_cast<size_t>(o)];
        for (int64_t i = 0; i < in; ++i) s += x[static_cast<size_t>(r * in + i)] * w[static_cast<size_t>(o * in + i)];
        y[static_cast<size_t>(r * out + o)] = s;
      }
    return y;
  }

  Vec attention(const Vec& x, int64_t T, int64_t H, int64_t heads, const std::string& lp) const {
    const Vec q = linear(x, T, H, lp + "attention.q_proj", H), k = linear(x, T, H, lp + "attention.k_proj", H),
              v = linear(x, T, H, lp + "attention.v_proj", H);
    const int64_t D = H / heads;
    Vec a(static_cast<size_t>(T * H));
    for (int64_t hd = 0; hd < heads; ++hd)
      for (int64_t i = 0; i < T; ++i) {
        Vec s(static_cast<size_t>(T));
        double mx = -INFINITY;
        for (int64_t j = 0; j < T; ++j) {
          double d = 0;
          for (int64_t e = 0; e < D; ++e)
            d += q[static_cast<size_t>(i * H + hd * D + e)] * k[static_cast<size_t>(j * H + hd * D + e)];
          s[static_cast<size_t>(j)] = d / std::sqrt(static_cast<double>(D));
          mx = std::max(mx, s[static_cast<size_t>(j)]);
        }
        double sum = 0;
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (int64_t e = 0; e < D; ++e) {
          double o = 0;
          for (int64_t j = 0; j < T; ++j) o += s[static_cast<size_t>(j)] * v[static_cast<size_t>(j * H + hd * D + e)];
          a[static_cast<size_t>(i * H + hd * D + e)] = o / sum;
        }
      }
    return linear(a, T, H, lp + "attention.out_proj", H);
  }

  Vec feed_forward(const Vec& x, int64_t T, int64_t H, const std::string& lp) const {
    const int64_t I = cfg_["intermediate_size"];
    Vec m = linear(x, T, H, lp + "feed_forward.intermediate_dense", I);
    for (double& v : m) v = gelu(v);
    return linear(m, T, I, lp + "feed_forward.output_dense", H);
  }

  std::shared_ptr<WeightStore> store_;
  nlohmann::json cfg_;
  std::string prefix_;
};

// ---------------------------------------------------------------- variants of the fixture

using Tensors = std::vector<std::pair<std::string, Tensor>>;

// The fixture folder written again into `out` with its config and tensors edited.
void write_variant(const std::string& src, const std::string& out, const std::function<void(nlohmann::json&)>& config,
                   const std::function<void(Tensors&)>& tensors) {
  for (const char* f : {"vocab.json", "tokenizer_config.json", "preprocessor_config.json"})
    if (fs::exists(src + "/" + f)) fs::copy_file(src + "/" + f, out + "/" + f, fs::copy_options::overwrite_existing);
  nlohmann::json cfg;
  std::ifstream(src + "/config.json") >> cfg;
  config(cfg);
  std::ofstream(out + "/config.json") << cfg.dump(1);
  auto file = SafetensorsFile::open(src + "/model.safetensors");
  Tensors all;
  for (const std::string& name : file->names()) all.emplace_back(name, file->tensor(name).contiguous());
  tensors(all);
  write_safetensors(out + "/model.safetensors", all);
}

bool has(const Tensors& ts, const std::string& name) {
  return std::any_of(ts.begin(), ts.end(), [&](const auto& p) { return p.first == name; });
}

Tensor random_vector(int64_t n, double center, double spread, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> d(0, 1);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& e : v) e = static_cast<float>(center + spread * d(gen));
  return Tensor::from_vector(v, {n});
}

// Renames the positional conv's weight norm to the other name pair torch uses.
void swap_weight_norm_names(Tensors& ts) {
  const std::string pc = "wav2vec2.encoder.pos_conv_embed.conv.";
  const std::pair<std::string, std::string> names[] = {{"parametrizations.weight.original0", "weight_g"},
                                                       {"parametrizations.weight.original1", "weight_v"}};
  for (auto& [name, t] : ts)
    for (const auto& [a, b] : names) {
      if (name == pc + a) {
        name = pc + b;
        break;
      }
      if (name == pc + b) {
        name = pc + a;
        break;
      }
    }
}

// Adds what a "layer" feature encoder (and conv biases) read that the checkpoint lacks.
void add_conv_tensors(Tensors& ts, const nlohmann::json& cfg, bool biases) {
  const auto dims = cfg["conv_dim"].get<std::vector<int64_t>>();
  for (size_t i = 0; i < dims.size(); ++i) {
    const std::string lp = "wav2vec2.feature_extractor.conv_layers." + std::to_string(i) + ".";
    if (!has(ts, lp + "layer_norm.weight")) {
      ts.emplace_back(lp + "layer_norm.weight", random_vector(dims[i], 1.0, 0.3, 100 + i));
      ts.emplace_back(lp + "layer_norm.bias", random_vector(dims[i], 0.0, 0.2, 200 + i));
    }
    if (biases && !has(ts, lp + "conv.bias"))
      ts.emplace_back(lp + "conv.bias", random_vector(dims[i], 0.0, 0.3, 300 + i));
  }
}

// ---------------------------------------------------------------- transformers parity

// The fixture folders: the shared one and those tools/fixtures/make_wav2vec2_fixtures.py writes.
class Wav2Vec2Fixture : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    dir_ = fixture(GetParam());
    if (!fs::exists(dir_ + "/reference.json"))
      GTEST_SKIP() << dir_ << " not present (tools/fixtures/make_wav2vec2_fixtures.py)";
  }
  std::string dir_;
};

TEST_P(Wav2Vec2Fixture, LogitsIdsAndTextMatchTransformers) {
  Reference ref = load_reference(dir_);
  auto rec = CtcRecognizer::load(dir_, test_device(), DType::F32);
  EXPECT_EQ(rec->kind().model_type, "wav2vec2");
  EXPECT_EQ(rec->kind().architecture, "Wav2Vec2ForCTC");
  EXPECT_EQ(rec->kind().task, "automatic-speech-recognition");
  EXPECT_EQ(rec->kind().modality, "audio");
  const Tensor want = ref.file->tensor("logits");
  CtcOutput out = rec->model().forward({ref.clip()});
  ASSERT_EQ(out.logits.shape(), (Shape{want.size(1), want.size(2)}));
  const double err = max_err(values(out.logits), values(want));
  EXPECT_LE(err, ref.atol) << "logits";
  std::printf("%s f32 logits max abs err %.3g (atol %.1g)\n", GetParam(), err, ref.atol);

  CtcTranscription t = rec->transcribe(ref.clip());
  EXPECT_EQ(t.ids, ref.meta["ctc_ids"].get<std::vector<int64_t>>());
  EXPECT_EQ(t.text, ref.meta["ctc_text"].get<std::string>());
  EXPECT_EQ(rec->model().output_frames(ref.clip().size(0)), want.size(1));
}

TEST_P(Wav2Vec2Fixture, FromTheAudioFile) {
  // audio.wav through the audio front end (decode, Wav2Vec2FeatureExtractor's normalisation) and
  // the model: the reference's input_values, ids and text.
  Reference ref = load_reference(dir_);
  auto rec = CtcRecognizer::load(dir_, test_device(), DType::F32);
  ASSERT_TRUE(rec->feature_config().has_value());
  const std::string wav = dir_ + "/" + ref.meta["audio"].get<std::string>();
  const audio::AudioClip clip = audio::load_audio_file(wav, static_cast<int>(rec->feature_config()->sampling_rate));
  const Tensor iv = audio::wav2vec2_input_values(clip.samples, *rec->feature_config());
  EXPECT_LE(max_err(values(iv), values(ref.clip())), 1e-5) << "input_values";
  CtcTranscription t = rec->transcribe_file(wav);
  EXPECT_EQ(t.ids, ref.meta["ctc_ids"].get<std::vector<int64_t>>());
  EXPECT_EQ(t.text, ref.meta["ctc_text"].get<std::string>());
  EXPECT_EQ(rec->transcribe_audio(clip.samples).text, t.text);
}

TEST_P(Wav2Vec2Fixture, PaddedBatchReference) {
  // make_wav2vec2_fixtures.py's batch: clips right-padded, with the attention mask when the
  // extractor returns one; transformers' logits of every real frame.
  Reference ref = load_reference(dir_);
  if (!ref.file->has("batch_input_values")) GTEST_SKIP() << "no batch in " << dir_;
  auto rec = CtcRecognizer::load(dir_, test_device(), DType::F32);
  const Tensor iv = ref.file->tensor("batch_input_values"), want = ref.file->tensor("batch_logits");
  Tensor mask;
  if (ref.file->has("batch_attention_mask")) mask = ref.file->tensor("batch_attention_mask");
  const std::vector<Tensor> clips = clips_from_padded_batch(iv, mask.defined() ? &mask : nullptr);
  CtcOutput out = rec->model().forward(clips);
  const auto want_ids = ref.meta["batch_ctc_ids"].get<std::vector<std::vector<int64_t>>>();
  const std::vector<std::vector<int64_t>> ids = ctc_greedy_ids(out);
  for (int64_t b = 0; b < out.num_clips(); ++b) {
    const Tensor got = out.clip_logits(b);
    const Tensor w = want.select(0, b).narrow(0, 0, got.size(0));
    EXPECT_LE(max_err(values(got), values(w)), ref.atol) << "row " << b;
    EXPECT_EQ(ids[static_cast<size_t>(b)], want_ids[static_cast<size_t>(b)]) << "row " << b;
  }
}

INSTANTIATE_TEST_SUITE_P(Folders, Wav2Vec2Fixture,
                         ::testing::Values("wav2vec2", "wav2vec2-layer-stable", "wav2vec2-layer", "wav2vec2-weight-g"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// ---------------------------------------------------------------- without transformers' outputs

TEST(Wav2Vec2Parity, F64ReimplementationReproducesTheFixture) {
  // What vouches for the f64 model the variants are checked against.
  Reference ref = load_reference(fixture("wav2vec2"));
  const double err = max_err(F64Wav2Vec2(ref.dir).logits(ref.clip()), values(ref.file->tensor("logits")));
  EXPECT_LE(err, ref.atol);
  std::printf("f64 re-implementation vs transformers: max abs err %.3g\n", err);
}

TEST(Wav2Vec2Parity, EitherWeightNormNameOrAFoldedWeightGivesTheSameLogits) {
  Reference ref = load_reference(fixture("wav2vec2"));
  const Vec base = values(CtcRecognizer::load(ref.dir, test_device())->model().forward({ref.clip()}).logits);
  TempFolder renamed;
  write_variant(
      ref.dir, renamed.str(), [](nlohmann::json&) {}, swap_weight_norm_names);
  auto rec = CtcRecognizer::load(renamed.str(), test_device());
  EXPECT_LE(max_err(values(rec->model().forward({ref.clip()}).logits), base), 1e-6) << "the other names";
  EXPECT_EQ(rec->transcribe(ref.clip()).text, ref.meta["ctc_text"].get<std::string>());

  // conv.weight stored folded (g v / ||v|| computed here in f64).
  TempFolder folded;
  write_variant(
      ref.dir, folded.str(), [](nlohmann::json&) {},
      [&](Tensors& ts) {
        const std::string pc = "wav2vec2.encoder.pos_conv_embed.conv.";
        Tensor g, v;
        Tensors kept;
        for (auto& [name, t] : ts) {
          if (name == pc + "parametrizations.weight.original0" || name == pc + "weight_g") {
            g = t;
          } else if (name == pc + "parametrizations.weight.original1" || name == pc + "weight_v") {
            v = t;
          } else {
            kept.emplace_back(name, t);
          }
        }
        ASSERT_TRUE(g.defined() && v.defined());
        const int64_t K = v.size(2), rows = v.size(0) * v.size(1);
        Tensor w = Tensor::empty(v.shape(), DType::F32);
        for (int64_t k = 0; k < K; ++k) {
          double ss = 0;
          for (int64_t r = 0; r < rows; ++r) ss += std::pow(static_cast<double>(v.data<float>()[r * K + k]), 2);
          for (int64_t r = 0; r < rows; ++r)
            w.data<float>()[r * K + k] =
                static_cast<float>(v.data<float>()[r * K + k] * g.data<float>()[k] / std::sqrt(ss));
        }
        kept.emplace_back(pc + "weight", w);
        ts = kept;
      });
  const double err =
      max_err(values(CtcRecognizer::load(folded.str(), test_device())->model().forward({ref.clip()}).logits),
              values(ref.file->tensor("logits")));
  EXPECT_LE(err, ref.atol) << "folded conv.weight";
}

struct Variant {
  const char* name;
  bool layer_norm, stable, conv_bias, other_names;
  bool odd_kernel = false;  // a positional conv of kernel 15 in 2 groups (no frame dropped)
};

// New random weights for a positional conv of kernel K in G groups (hidden H).
void replace_positional_conv(Tensors& ts, int64_t H, int64_t K, int64_t G) {
  const std::string pc = "wav2vec2.encoder.pos_conv_embed.conv.";
  ts.erase(std::remove_if(ts.begin(), ts.end(),
                          [&](const auto& p) { return p.first.rfind(pc, 0) == 0 && p.first != pc + "bias"; }),
           ts.end());
  ts.emplace_back(pc + "parametrizations.weight.original0", random_vector(K, 0.5, 0.2, 400).view({1, 1, K}));
  ts.emplace_back(pc + "parametrizations.weight.original1",
                  random_vector(H * (H / G) * K, 0.0, 0.1, 401).view({H, H / G, K}));
}

class Wav2Vec2Variant : public ::testing::TestWithParam<Variant> {};

TEST_P(Wav2Vec2Variant, MatchesTheF64Model) {
  const Variant v = GetParam();
  const std::string src = fixture("wav2vec2");
  Reference ref = load_reference(src);
  TempFolder dir;
  nlohmann::json cfg;
  std::ifstream(src + "/config.json") >> cfg;
  write_variant(
      src, dir.str(),
      [&](nlohmann::json& c) {
        c["feat_extract_norm"] = v.layer_norm ? "layer" : "group";
        c["do_stable_layer_norm"] = v.stable;
        c["conv_bias"] = v.conv_bias;
        if (v.odd_kernel) {
          c["num_conv_pos_embeddings"] = 15;
          c["num_conv_pos_embedding_groups"] = 2;
        }
      },
      [&](Tensors& ts) {
        add_conv_tensors(ts, cfg, v.conv_bias);
        if (v.odd_kernel) replace_positional_conv(ts, cfg["hidden_size"].get<int64_t>(), 15, 2);
        if (v.other_names) swap_weight_norm_names(ts);
      });
  auto rec = CtcRecognizer::load(dir.str(), test_device());
  const auto& c = dynamic_cast<const Wav2Vec2ForCtc&>(rec->model()).config();
  EXPECT_EQ(c.feat_extract_group_norm, !v.layer_norm);
  EXPECT_EQ(c.do_stable_layer_norm, v.stable);
  F64Wav2Vec2 f64(dir.str());
  // The fixture's clip, and a shorter one from its middle.
  for (const Tensor& clip : {ref.clip(), ref.clip().narrow(0, 3000, 7001).contiguous()}) {
    const Vec want = f64.logits(clip);
    const double err = max_err(values(rec->model().forward({clip}).logits), want);
    EXPECT_LE(err, ref.atol) << v.name << " clip of " << clip.size(0);
    std::printf("%s (%ld samples): max abs err vs f64 %.3g\n", v.name, static_cast<long>(clip.size(0)), err);
  }
}

INSTANTIATE_TEST_SUITE_P(Unverified, Wav2Vec2Variant,
                         ::testing::Values(Variant{"layer", true, false, false, false},
                                           Variant{"stable", false, true, false, false},
                                           Variant{"layer_stable_bias_weight_g", true, true, true, true},
                                           Variant{"odd_positional_kernel", false, false, false, false, true}),
                         [](const ::testing::TestParamInfo<Variant>& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------- batches and inputs

TEST(Wav2Vec2Parity, EachClipOfABatchIsTheClipAlone) {
  for (bool layer_stable : {false, true}) {
    Reference ref = load_reference(fixture("wav2vec2"));
    TempFolder dir;
    nlohmann::json cfg;
    std::ifstream(ref.dir + "/config.json") >> cfg;
    write_variant(
        ref.dir, dir.str(),
        [&](nlohmann::json& c) {
          c["feat_extract_norm"] = layer_stable ? "layer" : "group";
          c["do_stable_layer_norm"] = layer_stable;
        },
        [&](Tensors& ts) { add_conv_tensors(ts, cfg, false); });
    auto rec = CtcRecognizer::load(dir.str(), test_device());
    const CtcModel& m = rec->model();
    const Tensor full = ref.clip();
    const std::vector<Tensor> clips = {full.narrow(0, 0, 9000), full, full.narrow(0, 100, m.min_input_samples()),
                                       full.narrow(0, 2000, 12345)};
    CtcOutput batch = m.forward(clips);
    ASSERT_EQ(batch.num_clips(), 4);
    EXPECT_EQ(batch.clip_logits(2).size(0), 1);  // the shortest clip with a frame
    std::vector<CtcTranscription> texts = rec->transcribe(clips);
    for (size_t s = 0; s < clips.size(); ++s) {
      CtcOutput alone = m.forward({clips[s]});
      EXPECT_EQ(batch.clip_logits(static_cast<int64_t>(s)).size(0), m.output_frames(clips[s].size(0)));
      EXPECT_LE(max_err(values(batch.clip_logits(static_cast<int64_t>(s))), values(alone.logits)), 1e-5)
          << "clip " << s << (layer_stable ? " (layer, stable)" : "");
      EXPECT_EQ(texts[s].ids, ctc_greedy_ids(alone)[0]) << "clip " << s;
    }
    if (!layer_stable) {
      EXPECT_EQ(texts[1].text, ref.meta["ctc_text"].get<std::string>());
    }
  }
}

TEST(Wav2Vec2Parity, PaddedBatchesWithAndWithoutAMask) {
  Reference ref = load_reference(fixture("wav2vec2"));
  auto rec = CtcRecognizer::load(ref.dir, test_device());
  const Tensor full = ref.clip();
  const int64_t L = full.size(0), short_len = 9000;
  Tensor iv = Tensor::zeros({2, L}, DType::F32), mask = Tensor::zeros({2, L}, DType::I64);
  std::copy(full.data<float>(), full.data<float>() + L, iv.data<float>());
  std::copy(full.data<float>(), full.data<float>() + short_len, iv.data<float>() + L);
  std::fill(mask.data<int64_t>(), mask.data<int64_t>() + L + short_len, 1);
  // With the mask: the short row is its samples alone.
  std::vector<Tensor> clips = clips_from_padded_batch(iv, &mask);
  ASSERT_EQ(clips.size(), 2u);
  EXPECT_EQ(clips[1].size(0), short_len);
  CtcOutput out = rec->model().forward(clips);
  EXPECT_LE(max_err(values(out.clip_logits(1)), values(rec->model().forward({full.narrow(0, 0, short_len)}).logits)),
            1e-5);
  // Any mask dtype the extractor or a caller gives (int32, bool, f32).
  for (DType t : {DType::I32, DType::Bool, DType::F32}) {
    const Tensor m = mask.to(t);
    EXPECT_EQ(clips_from_padded_batch(iv, &m)[1].size(0), short_len) << dtype_name(t);
  }
  // Without: the whole row, its zero padding included (what transformers computes for a
  // group-norm model, which takes no mask).
  clips = clips_from_padded_batch(iv, nullptr);
  EXPECT_EQ(clips[1].size(0), L);
  EXPECT_EQ(rec->model().forward(clips).clip_logits(1).size(0), ref.file->tensor("logits").size(1));
  // Masks with a hole or no samples, and inputs of the wrong shape, are refused.
  Tensor holed = mask.clone();
  holed.data<int64_t>()[L + 5] = 0;
  EXPECT_THROW(clips_from_padded_batch(iv, &holed), Error);
  Tensor empty_row = mask.clone();
  std::fill(empty_row.data<int64_t>() + L, empty_row.data<int64_t>() + 2 * L, 0);
  EXPECT_THROW(clips_from_padded_batch(iv, &empty_row), Error);
  EXPECT_THROW(clips_from_padded_batch(full, nullptr), Error);
  Tensor narrow_mask = mask.narrow(1, 0, 10).contiguous();
  EXPECT_THROW(clips_from_padded_batch(iv, &narrow_mask), Error);
}

TEST(Wav2Vec2Parity, ClipsTooShortOrMalformedAreInvalidArguments) {
  Reference ref = load_reference(fixture("wav2vec2"));
  auto rec = CtcRecognizer::load(ref.dir, test_device());
  const CtcModel& m = rec->model();
  EXPECT_EQ(m.min_input_samples(), 400);  // the 7 convs of a 16 kHz Wav2Vec2: one frame per 400 samples
  EXPECT_EQ(m.samples_per_frame(), 320);
  EXPECT_EQ(m.output_frames(399), 0);
  EXPECT_EQ(m.output_frames(400), 1);
  EXPECT_EQ(m.output_frames(16000), 49);
  auto expect_invalid = [&](const std::vector<Tensor>& clips, const char* what) {
    try {
      m.forward(clips);
      ADD_FAILURE() << what << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << what << ": " << e.what();
    }
  };
  expect_invalid({}, "no clips");
  expect_invalid({ref.clip().narrow(0, 0, 399)}, "399 samples");
  expect_invalid({ref.clip().narrow(0, 0, 0)}, "zero samples");
  expect_invalid({ref.clip(), ref.clip().narrow(0, 0, 10)}, "a short second clip");
  expect_invalid({ref.input_values()}, "a 2-D clip");
  expect_invalid({ref.clip().to(DType::F64)}, "f64 samples");
  expect_invalid({Tensor()}, "an undefined clip");
}

TEST(Wav2Vec2Parity, Bf16WeightsStayCloseToF32) {
  Reference ref = load_reference(fixture("wav2vec2"));
  auto rec = CtcRecognizer::load(ref.dir, test_device(), DType::BF16);
  EXPECT_EQ(rec->model().compute_dtype(), DType::BF16);
  const Vec got = values(rec->model().forward({ref.clip()}).logits), want = values(ref.file->tensor("logits"));
  double scale = 0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  const double err = max_err(got, want);
  std::printf("bf16 logits max abs err %.3g (logits up to %.3g)\n", err, scale);
  EXPECT_LE(err, 0.05 * scale);
}

TEST(Wav2Vec2Parity, AudioNeedsTheFeatureExtractorConfig) {
  Reference ref = load_reference(fixture("wav2vec2"));
  TempFolder dir;
  write_variant(
      ref.dir, dir.str(), [](nlohmann::json&) {}, [](Tensors&) {});
  fs::remove(dir.str() + "/preprocessor_config.json");
  auto rec = CtcRecognizer::load(dir.str(), test_device());
  EXPECT_FALSE(rec->feature_config().has_value());
  EXPECT_EQ(rec->transcribe(ref.clip()).text, ref.meta["ctc_text"].get<std::string>());  // input_values still run
  try {
    rec->transcribe_file(ref.dir + "/audio.wav");
    FAIL() << "audio prepared without a feature extractor config";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
  std::ofstream(dir.str() + "/preprocessor_config.json") << R"({"feature_extractor_type": "Wav2Vec2FeatureExtractor"})";
  rec = CtcRecognizer::load(dir.str(), test_device());
  ASSERT_TRUE(rec->feature_config().has_value());
  EXPECT_FALSE(rec->feature_config()->return_attention_mask);  // the class default
  std::ofstream(dir.str() + "/empty.wav") << "";
  EXPECT_THROW(rec->transcribe_file(dir.str() + "/empty.wav"), Error);
}

TEST(Wav2Vec2Parity, MissingTensorsAndAdaptersAreClearErrors) {
  Reference ref = load_reference(fixture("wav2vec2"));
  TempFolder no_head;
  write_variant(
      ref.dir, no_head.str(), [](nlohmann::json&) {},
      [](Tensors& ts) {
        ts.erase(std::remove_if(ts.begin(), ts.end(), [](const auto& p) { return p.first.rfind("lm_head.", 0) == 0; }),
                 ts.end());
      });
  try {
    CtcRecognizer::load(no_head.str(), test_device());
    FAIL() << "loaded without lm_head";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("lm_head.weight"), std::string::npos) << e.what();
  }
  TempFolder no_pos;
  write_variant(
      ref.dir, no_pos.str(), [](nlohmann::json&) {},
      [](Tensors& ts) {
        ts.erase(std::remove_if(
                     ts.begin(), ts.end(),
                     [](const auto& p) { return p.first.find("pos_conv_embed.conv.param") != std::string::npos; }),
                 ts.end());
      });
  EXPECT_THROW(CtcRecognizer::load(no_pos.str(), test_device()), Error);
  TempFolder adapter;
  write_variant(
      ref.dir, adapter.str(), [](nlohmann::json& c) { c["add_adapter"] = true; }, [](Tensors&) {});
  try {
    CtcRecognizer::load(adapter.str(), test_device());
    FAIL() << "loaded with add_adapter";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
  }
  TempFolder bad_norm;
  write_variant(
      ref.dir, bad_norm.str(), [](nlohmann::json& c) { c["feat_extract_norm"] = "batch"; }, [](Tensors&) {});
  EXPECT_THROW(CtcRecognizer::load(bad_norm.str(), test_device()), Error);
}

}  // namespace
}  // namespace ia
