#include "benchmarks/work_estimate.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace ia::benchmarks {

namespace {

int64_t first_int(const HfConfig& config, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    const int64_t v = config.get_int(k, 0);
    if (v > 0) return v;
  }
  // Multimodal and encoder-decoder configs nest the text model's.
  for (const char* sub : {"text_config", "vision_config"}) {
    const auto& j = config.json();
    if (!j.contains(sub) || !j[sub].is_object()) continue;
    for (const char* k : keys) {
      auto it = j[sub].find(k);
      if (it != j[sub].end() && it->is_number_integer() && it->get<int64_t>() > 0) return it->get<int64_t>();
    }
  }
  return 0;
}

}  // namespace

ModelShape model_shape(const HfConfig& config, const WeightStore& weights) {
  ModelShape s;
  for (const std::string& name : weights.names()) {
    const TensorInfo& t = weights.info(name);
    s.parameters += t.numel();
    const bool table = name.find("embed") != std::string::npos || name.find("wte") != std::string::npos ||
                       name.find("wpe") != std::string::npos || name.find("shared.weight") != std::string::npos;
    if (t.shape.size() != 2 || table) continue;
    s.matrix_params += t.numel();
    if (name.rfind("lm_head.", 0) == 0 || name.rfind("classifier.", 0) == 0) s.head_params += t.numel();
  }
  s.layers = first_int(config, {"num_hidden_layers", "n_layer", "num_layers"});
  s.attention_width = first_int(config, {"hidden_size", "n_embd", "d_model"});
  return s;
}

double forward_flops(const ModelShape& shape, int64_t batch, int64_t tokens, bool causal, int64_t head_rows) {
  const double b = static_cast<double>(batch), t = static_cast<double>(tokens);
  const double linear = 2.0 * static_cast<double>(shape.matrix_params - shape.head_params) * b * t +
                        2.0 * static_cast<double>(shape.head_params) * static_cast<double>(head_rows);
  // QK^T and PV: 2 products of t x t x width per layer and sequence, 2 FLOPs per multiply-add.
  double attention = 4.0 * static_cast<double>(shape.layers) * static_cast<double>(shape.attention_width) * t * t * b;
  if (causal) attention *= (t + 1) / (2 * std::max(t, 1.0));
  return linear + attention;
}

}  // namespace ia::benchmarks
