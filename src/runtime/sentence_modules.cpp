#include "runtime/sentence_modules.h"

#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/safetensors.h"
#include "ops/ops.h"

namespace ia {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

struct ActivationName {
  const char* torch_class;
  DenseActivation activation;
  const char* name;
};

constexpr ActivationName kActivations[] = {
    {"Identity", DenseActivation::Identity, "identity"},
    {"Tanh", DenseActivation::Tanh, "tanh"},
    {"ReLU", DenseActivation::Relu, "relu"},
    {"GELU", DenseActivation::Gelu, "gelu"},
    {"Sigmoid", DenseActivation::Sigmoid, "sigmoid"},
    {"SiLU", DenseActivation::Silu, "silu"},
};

}  // namespace

DenseActivation parse_dense_activation(const std::string& name, const std::string& where) {
  // sentence-transformers saves fullname(module): torch.nn.modules.activation.Tanh,
  // torch.nn.modules.linear.Identity; the public alias torch.nn.Tanh imports the same class.
  const size_t dot = name.rfind('.');
  const std::string module = dot == std::string::npos ? "" : name.substr(0, dot);
  const std::string cls = dot == std::string::npos ? name : name.substr(dot + 1);
  if (module == "torch.nn" || module == "torch.nn.modules.activation" || module == "torch.nn.modules.linear") {
    for (const auto& a : kActivations)
      if (cls == a.torch_class) return a.activation;
  }
  std::string known;
  for (const auto& a : kActivations) known += (known.empty() ? "" : ", ") + std::string(a.torch_class);
  fail(ErrorKind::Unsupported, "{}: activation_function \"{}\" is not supported (torch.nn {})", where, name, known);
}

const char* dense_activation_name(DenseActivation a) {
  for (const auto& n : kActivations)
    if (n.activation == a) return n.name;
  return "?";
}

DenseModule DenseModule::load(const std::string& folder) {
  DenseModule d;
  d.folder = folder;
  const fs::path config_path = fs::path(folder) / "config.json";
  if (!is_file(config_path)) fail(ErrorKind::NotFound, "{}: the Dense module has no config.json", folder);
  const std::string cf = config_path.string();
  HfConfig c = HfConfig::load_file(cf);
  d.in_features = c.require_int("in_features");
  d.out_features = c.require_int("out_features");
  for (int64_t n : {d.in_features, d.out_features})
    if (n < 1 || n > kMaxConfigDimension)
      fail(ErrorKind::Corrupt, "{}: in_features and out_features must be positive sizes, got {} and {}", cf,
           d.in_features, d.out_features);
  const bool bias = c.get_bool("bias", true);
  if (!c.has("activation_function")) fail(ErrorKind::Corrupt, "{}: missing required key 'activation_function'", cf);
  d.activation = parse_dense_activation(c.require_string("activation_function"), cf);
  const std::string input = c.get_string("module_input_name", "sentence_embedding");
  const std::string output = c.get_string("module_output_name", input);
  if (input != "sentence_embedding" || output != "sentence_embedding")
    fail(ErrorKind::Unsupported,
         "{}: a Dense module on \"{}\" (to \"{}\") is not supported, only on the pooled "
         "sentence_embedding",
         cf, input, output);

  const fs::path weights = fs::path(folder) / "model.safetensors";
  if (!is_file(weights)) {
    if (is_file(fs::path(folder) / "pytorch_model.bin"))
      fail(ErrorKind::Unsupported,
           "{}: the Dense module's weights are in pytorch_model.bin, which this build cannot read (only "
           "model.safetensors); re-save the model with sentence-transformers (SentenceTransformer(path).save(out) "
           "writes model.safetensors)",
           folder);
    fail(ErrorKind::NotFound, "{}: the Dense module has no model.safetensors", folder);
  }
  auto file = SafetensorsFile::open(weights.string());
  auto get = [&](const char* name, const Shape& shape) {
    if (!file->has(name))
      fail(ErrorKind::Corrupt, "{}: no tensor \"{}\" (the Dense module's {})", weights.string(), name,
           std::string(name) == "linear.bias" ? "bias; config.json says bias is true" : "matrix");
    Tensor t = file->tensor(name);
    if (t.shape() != shape)
      fail(ErrorKind::Corrupt, "{}: tensor \"{}\" has shape {} but config.json implies {}", weights.string(), name,
           shape_str(t.shape()), shape_str(shape));
    if (!is_float(t.dtype()))
      fail(ErrorKind::Corrupt, "{}: tensor \"{}\" is {}, not a float type", weights.string(), name,
           dtype_name(t.dtype()));
    Tensor f = t.to(DType::F32);
    return f.raw() == t.raw() ? f.clone() : f;  // own the data, not a view of the mapping
  };
  d.weight = get("linear.weight", {d.out_features, d.in_features});
  if (bias) d.bias = get("linear.bias", {d.out_features});
  return d;
}

Tensor DenseModule::operator()(const Tensor& x) const {
  IA_CHECK(x.dim() == 2 && x.size(1) == in_features, "Dense: input {} for {} features", x.describe(), in_features);
  LinearEpilogue e;
  switch (activation) {
    case DenseActivation::Tanh: e.has_activation = true, e.activation = Activation::Tanh; break;
    case DenseActivation::Relu: e.has_activation = true, e.activation = Activation::Relu; break;
    case DenseActivation::Gelu: e.has_activation = true, e.activation = Activation::GeluErf; break;
    case DenseActivation::Silu: e.has_activation = true, e.activation = Activation::Silu; break;
    case DenseActivation::Identity:
    case DenseActivation::Sigmoid: break;
  }
  Tensor y = ops::linear(x, weight, bias.defined() ? &bias : nullptr, e);
  if (activation == DenseActivation::Sigmoid) {  // no backend op: a few rows, on the host
    float* p = y.data<float>();
    for (int64_t i = 0, n = y.numel(); i < n; ++i) p[i] = 1.0f / (1.0f + std::exp(-p[i]));
  }
  return y;
}

SentenceModules SentenceModules::load(const SentenceTransformerConfig& st, int64_t pooled_dim, const std::string& dir) {
  SentenceModules m;
  m.pooled_dim_ = pooled_dim;
  const std::string where = (fs::path(dir) / "modules.json").string();
  bool pooled = false;
  int64_t width = pooled_dim;
  for (size_t i = 0; i < st.module_types.size(); ++i) {
    const std::string& type = st.module_types[i];
    auto unsupported = [&](const char* why) {
      fail(ErrorKind::Unsupported,
           "{}: module {} ({}) {}; this build runs Transformer, Pooling, then Dense, "
           "Normalize and Dropout modules",
           where, i, type, why);
    };
    if (ends_with(type, "Transformer")) {
      if (i != 0) unsupported("is not the first module");
    } else if (ends_with(type, "Pooling")) {
      pooled = true;
    } else if (ends_with(type, "Dense")) {
      if (!pooled) unsupported("comes before Pooling");
      DenseModule d = DenseModule::load(st.module_paths.at(i));
      if (d.in_features != width)
        fail(ErrorKind::Corrupt, "{}/config.json: in_features is {} but the embeddings before it have {} dimensions",
             d.folder, d.in_features, width);
      width = d.out_features;
      m.steps_.push_back({false, m.dense_.size()});
      m.dense_.push_back(std::move(d));
    } else if (ends_with(type, "Normalize")) {
      if (!pooled) unsupported("comes before Pooling");
      m.steps_.push_back({true, 0});
    } else if (ends_with(type, "Dropout")) {
      // nothing at inference
    } else {
      unsupported("is not supported yet");
    }
  }
  return m;
}

Tensor SentenceModules::apply(const Tensor& pooled, std::optional<bool> normalize) const {
  Tensor x = pooled;
  for (const Step& s : steps_) {
    if (!s.normalize) {
      x = dense_[s.index](x);
    } else if (normalize.value_or(true)) {
      x = ops::l2_normalize(x);
    }
  }
  if (normalize.value_or(false) && (steps_.empty() || !steps_.back().normalize)) x = ops::l2_normalize(x);
  return x;
}

bool SentenceModules::normalizes(std::optional<bool> normalize) const {
  if (normalize) return *normalize;
  return !steps_.empty() && steps_.back().normalize;
}

}  // namespace ia
