// DecoderConfig::from refuses every out-of-range value of an untrusted
// config.json as Corrupt (naming the key) before anything is allocated.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/decoder_config.h"

namespace ia {
namespace {

nlohmann::json qwen2() {
  return {{"model_type", "qwen2"},    {"hidden_size", 16},       {"num_hidden_layers", 4}, {"num_attention_heads", 4},
          {"num_key_value_heads", 2}, {"intermediate_size", 32}, {"vocab_size", 64},       {"use_sliding_window", true},
          {"sliding_window", 8},      {"max_window_layers", 2}};
}

void expect_error(const nlohmann::json& j, ErrorKind kind, const std::string& needle) {
  try {
    DecoderConfig::from(HfConfig::from_json(j, "cfg/config.json"));
    ADD_FAILURE() << "accepted: " << j.dump();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(error_kind_name(e.kind())), error_kind_name(kind)) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cfg/config.json"), std::string::npos) << e.what();
  }
}

TEST(DecoderConfigValidation, SlidingWindowLayersFromMaxWindowLayers) {
  const DecoderConfig c = DecoderConfig::from(HfConfig::from_json(qwen2(), "config.json"));
  EXPECT_EQ(c.layer_window, (std::vector<int64_t>{0, 0, 8, 8}));
  nlohmann::json j = qwen2();
  j["max_window_layers"] = 100;  // past the last layer: no sliding layer
  EXPECT_EQ(DecoderConfig::from(HfConfig::from_json(j, "config.json")).layer_window,
            (std::vector<int64_t>{0, 0, 0, 0}));
}

TEST(DecoderConfigValidation, NegativeMaxWindowLayersIsCorrupt) {
  // Was a heap overflow (free(): invalid next size; SIGSEGV at -1000000).
  for (int64_t v : {int64_t{-1}, int64_t{-1000000}}) {
    nlohmann::json j = qwen2();
    j["max_window_layers"] = v;
    expect_error(j, ErrorKind::Corrupt, "max_window_layers");
  }
  nlohmann::json q3 = qwen2();
  q3["model_type"] = "qwen3";
  q3["max_window_layers"] = -5;
  expect_error(q3, ErrorKind::Corrupt, "max_window_layers");
}

TEST(DecoderConfigValidation, HugeLayerCountsAreCorruptBeforeAllocating) {
  nlohmann::json j = qwen2();
  j["num_hidden_layers"] = uint64_t{1} << 63;  // was std::vector max_size (Internal)
  expect_error(j, ErrorKind::Corrupt, "too large");
  j["num_hidden_layers"] = 536870912;  // was 4.2 GB allocated before the missing-weights error
  expect_error(j, ErrorKind::Corrupt, "num_hidden_layers");
  nlohmann::json g = {
      {"model_type", "gpt2"}, {"n_embd", 16}, {"n_layer", int64_t{1} << 62}, {"n_head", 4}, {"vocab_size", 64}};
  expect_error(g, ErrorKind::Corrupt, "n_layer");
}

TEST(DecoderConfigValidation, EpsMustBeFiniteAndNonNegative) {
  nlohmann::json j = qwen2();
  j["rms_norm_eps"] = -1e-6;
  expect_error(j, ErrorKind::Corrupt, "rms_norm_eps");
  nlohmann::json g = {{"model_type", "gpt2"}, {"n_embd", 16},     {"n_layer", 2},
                      {"n_head", 4},          {"vocab_size", 64}, {"layer_norm_epsilon", -1.0}};
  expect_error(g, ErrorKind::Corrupt, "layer_norm_epsilon");
}

TEST(DecoderConfigValidation, HeadsAndDimsInRange) {
  nlohmann::json j = qwen2();
  j["num_key_value_heads"] = 8;  // more kv heads than heads
  expect_error(j, ErrorKind::Corrupt, "num_key_value_heads");
  j = qwen2();
  j["head_dim"] = -4;
  expect_error(j, ErrorKind::Corrupt, "head_dim");
  j = qwen2();
  j["hidden_size"] = int64_t{1} << 40;
  expect_error(j, ErrorKind::Corrupt, "hidden_size");
  j = qwen2();
  j["layer_types"] = {"full_attention", "sliding_attention", "full_attention"};  // 3 entries for 4 layers
  expect_error(j, ErrorKind::Corrupt, "layer_types");
  j = qwen2();
  j["layer_types"] = {"full_attention", "full_attention", "full_attention", "chunked_attention"};
  expect_error(j, ErrorKind::Unsupported, "layer_types[3]");
}

}  // namespace
}  // namespace ia
