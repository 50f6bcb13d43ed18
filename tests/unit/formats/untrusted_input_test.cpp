// Model folders are untrusted: deep, duplicated, oversized or contradictory
// input is a user-kind ia::Error naming the file and the limit, never a crash,
// a hang or an Internal error.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "core/bounded_json.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "unit/formats/formats_test_util.h"

namespace ia {
namespace {

using test::expect_error;
using test::TempDir;
using test::write_bytes;

std::string nested_arrays(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(UntrustedJson, DeepNestingIsCorruptNotAStackOverflow) {
  TempDir dir;
  // 100,000 levels crashed the recursive consumers (SIGSEGV) before the depth limit.
  write_bytes(dir.file("config.json"), "{\"a\": " + nested_arrays(100000) + "}");
  expect_error([&] { HfConfig::load(dir.path()); }, ErrorKind::Corrupt, {"config.json", "nested deeper than 128"});
  write_bytes(dir.file("generation_config.json"), nested_arrays(100000));
  expect_error([&] { HfConfig::load_file(dir.file("generation_config.json")); }, ErrorKind::Corrupt,
               {"generation_config.json", "nested deeper"});
  write_bytes(dir.file("modules.json"), nested_arrays(100000));
  expect_error([&] { load_sentence_transformer_config(dir.path()); }, ErrorKind::Corrupt, {"modules.json", "nested"});
}

TEST(UntrustedJson, PoolingConfigDeepNesting) {
  TempDir dir;
  std::filesystem::create_directory(dir.file("1_Pooling"));
  write_bytes(dir.file("1_Pooling/config.json"), "{\"x\":" + nested_arrays(100000) + "}");
  expect_error([&] { load_sentence_transformer_config(dir.path()); }, ErrorKind::Corrupt,
               {"1_Pooling/config.json", "nested deeper"});
}

TEST(UntrustedJson, DepthAtTheLimitParses) {
  EXPECT_EQ(parse_json_bounded(nested_arrays(kMaxJsonDepth), "x").dump(), nested_arrays(kMaxJsonDepth));
  expect_error([] { parse_json_bounded(nested_arrays(kMaxJsonDepth + 1), "x"); }, ErrorKind::Corrupt, {"x: JSON"});
}

TEST(UntrustedJson, DuplicateKeysAndByteOrderMarkInConfig) {
  TempDir dir;
  write_bytes(dir.file("config.json"), R"({"model_type": "llama", "hidden_size": 8, "hidden_size": 16})");
  expect_error([&] { HfConfig::load(dir.path()); }, ErrorKind::Corrupt, {"config.json", "'hidden_size' twice"});
  write_bytes(dir.file("config.json"), "\xEF\xBB\xBF{\"model_type\": \"llama\"}");
  expect_error([&] { HfConfig::load(dir.path()); }, ErrorKind::Corrupt, {"config.json", "byte-order mark"});
}

TEST(UntrustedJson, RequestKindIsInvalidArgument) {
  JsonLimits limits;
  limits.kind = ErrorKind::InvalidArgument;
  expect_error([&] { parse_json_bounded(nested_arrays(1000), "--messages", limits); }, ErrorKind::InvalidArgument,
               {"--messages", "nested deeper"});
}

std::string many_tensor_header(size_t n) {
  std::string h = "{";
  for (size_t i = 0; i < n; ++i) {
    if (i) h += ",";
    h += "\"t" + std::to_string(i) + "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" + std::to_string(4 * i) +
         "," + std::to_string(4 * i + 4) + "]}";
  }
  return h + "}";
}

TEST(UntrustedSafetensors, FortyThousandTensorsParseInLinearTime) {
  // Was 84 s (the callback parser rescanned the whole object per tensor).
  const size_t n = 40000;
  const std::string image = test::st_image(many_tensor_header(n), std::string(4 * n, '\0'));
  const auto t0 = std::chrono::steady_clock::now();
  SafetensorsHeader h =
      SafetensorsFile::parse_header(reinterpret_cast<const uint8_t*>(image.data()), image.size(), "big.safetensors");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(h.tensors.size(), n);
  EXPECT_LT(s, 5.0);
}

TEST(UntrustedSafetensors, NulInTensorNameAndDeepHeader) {
  const std::string nul = std::string("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
  const std::string image = test::st_image(nul, "abcd");
  expect_error(
      [&] {
        SafetensorsFile::parse_header(reinterpret_cast<const uint8_t*>(image.data()), image.size(), "nul.safetensors");
      },
      ErrorKind::Corrupt, {"nul.safetensors", "NUL"});
  const std::string deep = test::st_image("{\"__metadata__\":" + nested_arrays(100000) + "}", "");
  expect_error(
      [&] {
        SafetensorsFile::parse_header(reinterpret_cast<const uint8_t*>(deep.data()), deep.size(), "deep.safetensors");
      },
      ErrorKind::Corrupt, {"deep.safetensors", "nested deeper"});
}

TEST(UntrustedBertConfig, HugeLayerCountIsCorrupt) {
  nlohmann::json j = {{"model_type", "bert"},           {"vocab_size", 10},         {"hidden_size", 8},
                      {"num_hidden_layers", 1ll << 62}, {"num_attention_heads", 2}, {"intermediate_size", 16}};
  expect_error([&] { BertConfig::from(HfConfig::from_json(j, "config.json")); }, ErrorKind::Corrupt,
               {"config.json", "num_hidden_layers", "limit"});
  j["num_hidden_layers"] = 2;
  j["layer_norm_eps"] = -1e-5;
  expect_error([&] { BertConfig::from(HfConfig::from_json(j, "config.json")); }, ErrorKind::Corrupt,
               {"config.json", "layer_norm_eps"});
}

}  // namespace
}  // namespace ia
