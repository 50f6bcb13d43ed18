// The sentence-transformers modules after Pooling (runtime/sentence_modules): Dense
// activations as sentence-transformers names them, Dense folders that are wrong in each
// way a user can meet (one clear error naming the file), and the module chain.
#include "runtime/sentence_modules.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "formats/safetensors.h"

namespace ia {
namespace {

namespace fs = std::filesystem;

class TempFolder {
 public:
  TempFolder() {
    std::string tmpl = (fs::temp_directory_path() / "ia-st-modules-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

void expect_error(const std::function<void()>& fn, ErrorKind kind, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << p << " in " << e.what();
  }
}

// A Dense folder: in 3, out 2, W = [[1, -2, 0.5], [0.25, 1, -1]], b = [0.1, -0.2].
const std::vector<float> kW = {1.0f, -2.0f, 0.5f, 0.25f, 1.0f, -1.0f};
const std::vector<float> kB = {0.1f, -0.2f};

void write_dense(const std::string& folder, const std::string& activation, bool bias = true) {
  write_text(folder + "/config.json", R"({"in_features": 3, "out_features": 2, "bias": )" +
                                          std::string(bias ? "true" : "false") + R"(, "activation_function": ")" +
                                          activation + "\"}");
  std::vector<std::pair<std::string, Tensor>> t = {{"linear.weight", Tensor::from_vector(kW, {2, 3})}};
  if (bias) t.emplace_back("linear.bias", Tensor::from_vector(kB, {2}));
  write_safetensors(folder + "/model.safetensors", t);
}

TEST(DenseActivation, SentenceTransformersNames) {
  const std::pair<const char*, DenseActivation> cases[] = {
      {"torch.nn.modules.activation.Tanh", DenseActivation::Tanh},
      {"torch.nn.modules.linear.Identity", DenseActivation::Identity},
      {"torch.nn.modules.activation.ReLU", DenseActivation::Relu},
      {"torch.nn.modules.activation.GELU", DenseActivation::Gelu},
      {"torch.nn.modules.activation.Sigmoid", DenseActivation::Sigmoid},
      {"torch.nn.modules.activation.SiLU", DenseActivation::Silu},
      {"torch.nn.Tanh", DenseActivation::Tanh},
      {"torch.nn.Identity", DenseActivation::Identity},
  };
  for (const auto& [name, want] : cases) EXPECT_EQ(parse_dense_activation(name, "cfg"), want) << name;
  EXPECT_STREQ(dense_activation_name(DenseActivation::Sigmoid), "sigmoid");
  for (const char* bad : {"torch.nn.modules.activation.LeakyReLU", "Tanh", "tanh", "mypackage.layers.Tanh", ""})
    expect_error([&] { parse_dense_activation(bad, "2_Dense/config.json"); }, ErrorKind::Unsupported,
                 {"2_Dense/config.json", "activation_function", "Tanh, ReLU"});
}

TEST(DenseModule, EachActivationOnTheLinearOutput) {
  const std::vector<float> x = {0.5f, -1.0f, 2.0f, -0.3f, 0.2f, 0.7f};  // two rows
  auto linear = [&](int r, int o) {
    double acc = kB[static_cast<size_t>(o)];
    for (int k = 0; k < 3; ++k) acc += double(x[static_cast<size_t>(r * 3 + k)]) * kW[static_cast<size_t>(o * 3 + k)];
    return acc;
  };
  const std::pair<const char*, std::function<double(double)>> cases[] = {
      {"torch.nn.modules.linear.Identity", [](double v) { return v; }},
      {"torch.nn.modules.activation.Tanh", [](double v) { return std::tanh(v); }},
      {"torch.nn.modules.activation.ReLU", [](double v) { return v > 0 ? v : 0; }},
      {"torch.nn.modules.activation.GELU", [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }},
      {"torch.nn.modules.activation.Sigmoid", [](double v) { return 1 / (1 + std::exp(-v)); }},
      {"torch.nn.modules.activation.SiLU", [](double v) { return v / (1 + std::exp(-v)); }},
  };
  for (const auto& [name, fn] : cases) {
    TempFolder dir;
    write_dense(dir.file("2_Dense"), name);
    DenseModule d = DenseModule::load(dir.file("2_Dense"));
    EXPECT_EQ(d.in_features, 3);
    EXPECT_EQ(d.out_features, 2);
    Tensor y = d(Tensor::from_vector(x, {2, 3}));
    ASSERT_EQ(y.shape(), (Shape{2, 2}));
    for (int r = 0; r < 2; ++r)
      for (int o = 0; o < 2; ++o) EXPECT_NEAR(y.data<float>()[r * 2 + o], fn(linear(r, o)), 1e-5) << name;
  }
  TempFolder dir;  // no bias
  write_dense(dir.file("d"), "torch.nn.modules.linear.Identity", false);
  Tensor y = DenseModule::load(dir.file("d"))(Tensor::from_vector(x, {2, 3}));
  EXPECT_NEAR(y.data<float>()[0], linear(0, 0) - kB[0], 1e-5);
}

TEST(DenseModule, BadFoldersSayWhatIsWrong) {
  TempFolder dir;
  const std::string d = dir.file("2_Dense");
  expect_error([&] { DenseModule::load(d); }, ErrorKind::NotFound, {"2_Dense", "config.json"});

  write_dense(d, "torch.nn.modules.activation.Tanh");
  write_text(d + "/config.json", R"({"out_features": 2, "activation_function": "torch.nn.modules.activation.Tanh"})");
  expect_error([&] { DenseModule::load(d); }, ErrorKind::Corrupt, {"2_Dense/config.json", "in_features"});
  write_text(d + "/config.json", R"({"in_features": 3, "out_features": 0, "activation_function": "torch.nn.Tanh"})");
  expect_error([&] { DenseModule::load(d); }, ErrorKind::Corrupt, {"2_Dense/config.json", "positive"});
  write_text(d + "/config.json", R"({"in_features": 3, "out_features": 2})");
  expect_error([&] { DenseModule::load(d); }, ErrorKind::Corrupt, {"2_Dense/config.json", "activation_function"});
  write_text(d + "/config.json",
             R"({"in_features": 3, "out_features": 2, "activation_function": "torch.nn.modules.activation.Softmax"})");
  expect_error([&] { DenseModule::load(d); }, ErrorKind::Unsupported, {"2_Dense/config.json", "Softmax"});
  write_text(d + "/config.json", R"({"in_features": 3, "out_features": 2, "activation_function": "torch.nn.Tanh",
                                     "module_input_name": "token_embeddings"})");
  expect_error([&] { DenseModule::load(d); }, ErrorKind::Unsupported, {"2_Dense/config.json", "token_embeddings"});
  // The config and the weights disagree.
  write_text(d + "/config.json", R"({"in_features": 4, "out_features": 2, "activation_function": "torch.nn.Tanh"})");
  expect_error([&] { DenseModule::load(d); }, ErrorKind::Corrupt,
               {"2_Dense/model.safetensors", "linear.weight", "[2, 3]", "[2, 4]"});
  write_dense(d, "torch.nn.Tanh", false);
  write_text(d + "/config.json", R"({"in_features": 3, "out_features": 2, "activation_function": "torch.nn.Tanh"})");
  expect_error([&] { DenseModule::load(d); }, ErrorKind::Corrupt, {"2_Dense/model.safetensors", "linear.bias"});
  // Weights only as a PyTorch pickle: said plainly.
  fs::remove(d + "/model.safetensors");
  write_text(d + "/pytorch_model.bin", "not read");
  expect_error([&] { DenseModule::load(d); }, ErrorKind::Unsupported,
               {"2_Dense", "pytorch_model.bin", "only model.safetensors"});
  fs::remove(d + "/pytorch_model.bin");
  expect_error([&] { DenseModule::load(d); }, ErrorKind::NotFound, {"2_Dense", "model.safetensors"});
}

SentenceTransformerConfig modules(const std::string& dir, const std::vector<std::string>& types) {
  SentenceTransformerConfig st;
  for (size_t i = 0; i < types.size(); ++i) {
    st.module_types.push_back("sentence_transformers.models." + types[i]);
    st.module_paths.push_back(i == 0 ? dir : dir + "/" + std::to_string(i) + "_" + types[i]);
  }
  return st;
}

TEST(SentenceModules, ChainNormalizeAndOverrides) {
  TempFolder dir;
  write_dense(dir.file("2_Dense"), "torch.nn.modules.linear.Identity");
  SentenceModules m =
      SentenceModules::load(modules(dir.path(), {"Transformer", "Pooling", "Dense", "Normalize"}), 3, dir.path());
  EXPECT_EQ(m.output_dim(), 2);
  EXPECT_TRUE(m.normalizes(std::nullopt));
  EXPECT_FALSE(m.normalizes(false));
  Tensor x = Tensor::from_vector(std::vector<float>{1.0f, 0.0f, 0.0f}, {1, 3});  // -> linear: [1.1, 0.05]
  Tensor raw = m.apply(x, false), unit = m.apply(x, std::nullopt);
  EXPECT_NEAR(raw.data<float>()[0], 1.1, 1e-6);
  EXPECT_NEAR(raw.data<float>()[1], 0.05, 1e-6);
  const double n = std::hypot(1.1, 0.05);
  EXPECT_NEAR(unit.data<float>()[0], 1.1 / n, 1e-6);
  EXPECT_NEAR(unit.data<float>()[1], 0.05 / n, 1e-6);

  // No Normalize module: --normalize adds one at the end.
  SentenceModules plain =
      SentenceModules::load(modules(dir.path(), {"Transformer", "Pooling", "Dropout"}), 3, dir.path());
  EXPECT_EQ(plain.output_dim(), 3);
  EXPECT_FALSE(plain.normalizes(std::nullopt));
  Tensor v = Tensor::from_vector(std::vector<float>{3.0f, 4.0f, 0.0f}, {1, 3});
  EXPECT_FLOAT_EQ(plain.apply(v, std::nullopt).data<float>()[0], 3.0f);
  EXPECT_FLOAT_EQ(plain.apply(v, true).data<float>()[0], 0.6f);
}

TEST(SentenceModules, RefusesWhatItCannotRun) {
  TempFolder dir;
  write_dense(dir.file("2_Dense"), "torch.nn.Tanh");
  expect_error(
      [&] {
        SentenceModules::load(modules(dir.path(), {"Transformer", "Pooling", "Dense"}), 32, dir.path());
      },
      ErrorKind::Corrupt, {"2_Dense/config.json", "in_features is 3", "32 dimensions"});
  expect_error(
      [&] {
        SentenceModules::load(modules(dir.path(), {"Transformer", "Pooling", "LayerNorm"}), 3, dir.path());
      },
      ErrorKind::Unsupported, {"modules.json", "module 2", "LayerNorm"});
  SentenceTransformerConfig early = modules(dir.path(), {"Transformer", "Dense", "Pooling"});
  early.module_paths[1] = dir.file("2_Dense");
  expect_error([&] { SentenceModules::load(early, 3, dir.path()); }, ErrorKind::Unsupported,
               {"modules.json", "module 1", "before Pooling"});
}

}  // namespace
}  // namespace ia
