// What the hub lists for a revision, read within bounds, and the files of it
// the runtime fetches: configs, tokenizers and safetensors, never *.bin beside them.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "hub/model_info.h"

namespace ia::hub {
namespace {

const std::string kSha = "0123456789abcdef0123456789abcdef01234567";

std::string listing(const std::vector<std::string>& names) {
  nlohmann::json j{{"id", "org/name"}, {"sha", kSha}, {"siblings", nlohmann::json::array()}};
  for (const auto& n : names) j["siblings"].push_back({{"rfilename", n}});
  return j.dump();
}

std::vector<std::string> names(const std::vector<RepoFile>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.name);
  std::sort(out.begin(), out.end());
  return out;
}

ErrorKind kind_of(const std::string& json) {
  try {
    parse_model_info(json, "listing");
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::Internal;
}

TEST(ModelInfo, ParsesShaSiblingsSizesAndLfs) {
  const std::string sum(64, 'a');
  nlohmann::json j{{"sha", kSha},
                   {"siblings",
                    {{{"rfilename", "config.json"}, {"size", 612}},
                     {{"rfilename", "model.safetensors"},
                      {"size", 90868376},
                      {"lfs", {{"sha256", sum}, {"size", 90868376}, {"pointerSize", 134}}}}}}};
  ModelInfo info = parse_model_info(j.dump(), "listing");
  EXPECT_EQ(info.sha, kSha);
  ASSERT_EQ(info.files.size(), 2u);
  EXPECT_EQ(info.files[0].size, 612u);
  EXPECT_TRUE(info.files[0].lfs_sha256.empty());
  EXPECT_EQ(info.files[1].lfs_sha256, sum);
  EXPECT_EQ(info.files[1].size, 90868376u);
  EXPECT_TRUE(info.files[1].weights());
}

TEST(ModelInfo, RefusesWhatIsNotAListing) {
  EXPECT_EQ(kind_of("[]"), ErrorKind::Corrupt);
  EXPECT_EQ(kind_of("{\"sha\": \"main\", \"siblings\": []}"), ErrorKind::Corrupt);
  EXPECT_EQ(kind_of("{\"sha\": \"" + kSha + "\"}"), ErrorKind::Corrupt);
  EXPECT_EQ(kind_of(listing({"../../etc/passwd"})), ErrorKind::Corrupt);
  EXPECT_EQ(kind_of(listing({"/abs"})), ErrorKind::Corrupt);
  EXPECT_EQ(kind_of(listing({"a", "a"})), ErrorKind::Corrupt);
  EXPECT_EQ(kind_of(std::string(100000, '[')), ErrorKind::Corrupt);
  nlohmann::json bad_lfs{{"sha", kSha}, {"siblings", {{{"rfilename", "m.safetensors"}, {"lfs", {{"sha256", "zz"}}}}}}};
  EXPECT_EQ(kind_of(bad_lfs.dump()), ErrorKind::Corrupt);
  try {
    parse_model_info("{", "org/name at http://hub");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("org/name at http://hub", 0), 0u) << e.what();
  }
}

TEST(ModelInfo, SelectsWhatTheRuntimeLoads) {
  FileSelection s = select_files(parse_model_info(listing({".gitattributes",
                                                           "README.md",
                                                           "config.json",
                                                           "config_sentence_transformers.json",
                                                           "modules.json",
                                                           "sentence_bert_config.json",
                                                           "special_tokens_map.json",
                                                           "tokenizer.json",
                                                           "tokenizer_config.json",
                                                           "vocab.txt",
                                                           "1_Pooling/config.json",
                                                           "2_Dense/config.json",
                                                           "2_Dense/model.safetensors",
                                                           "2_Dense/pytorch_model.bin",
                                                           "model.safetensors",
                                                           "pytorch_model.bin",
                                                           "tf_model.h5",
                                                           "rust_model.ot",
                                                           "onnx/model.onnx",
                                                           "onnx/config.json",
                                                           "openvino/openvino_model.xml",
                                                           "model.fp16.safetensors",
                                                           "generation_config.json",
                                                           "spiece.model",
                                                           "chat_template.jinja"}),
                                                  "listing"));
  EXPECT_EQ(names(s.first),
            (std::vector<std::string>{"1_Pooling/config.json", "2_Dense/config.json", "chat_template.jinja",
                                      "config.json", "config_sentence_transformers.json", "generation_config.json",
                                      "modules.json", "sentence_bert_config.json", "special_tokens_map.json",
                                      "spiece.model", "tokenizer.json", "tokenizer_config.json", "vocab.txt"}));
  EXPECT_EQ(names(s.weights), (std::vector<std::string>{"2_Dense/model.safetensors", "model.safetensors"}));
  EXPECT_FALSE(s.index);
  EXPECT_TRUE(s.other_formats.empty());
}

TEST(ModelInfo, ShardedWeightsComeFromTheIndex) {
  FileSelection s = select_files(
      parse_model_info(listing({"config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
                                "model-00002-of-00002.safetensors", "consolidated.safetensors"}),
                       "listing"));
  ASSERT_TRUE(s.index);
  EXPECT_EQ(s.index->name, "model.safetensors.index.json");
  EXPECT_EQ(names(s.first), (std::vector<std::string>{"config.json", "model.safetensors.index.json"}));
  EXPECT_TRUE(s.weights.empty());
  EXPECT_EQ(index_shards(R"({"metadata": {}, "weight_map": {"a": "m-2.safetensors", "b": "m-1.safetensors",
                              "c": "m-1.safetensors"}})",
                         "index"),
            (std::vector<std::string>{"m-1.safetensors", "m-2.safetensors"}));
  for (const char* bad :
       {R"({"weight_map": {"a": "../x.safetensors"}})", R"({"weight_map": {"a": "sub/x.safetensors"}})",
        R"({"weight_map": {"a": "x.bin"}})", R"({"weight_map": {}})", R"({"weight_map": {"a": 1}})", "[]"})
    EXPECT_THROW(index_shards(bad, "index"), Error) << bad;
}

TEST(ModelInfo, OnlyOtherWeightFormats) {
  FileSelection s =
      select_files(parse_model_info(listing({"config.json", "pytorch_model.bin", "tokenizer.json"}), "listing"));
  EXPECT_TRUE(s.weights.empty());
  EXPECT_EQ(s.other_formats, std::vector<std::string>{"pytorch_model.bin"});
  // A tokenizer-only repository has no weights at all, and that is fine.
  s = select_files(parse_model_info(listing({"tokenizer.json", "tokenizer_config.json"}), "listing"));
  EXPECT_TRUE(s.other_formats.empty());
  EXPECT_EQ(s.first.size(), 2u);
  // Several root safetensors without model.safetensors or an index: all of them.
  s = select_files(parse_model_info(listing({"a.safetensors", "b.safetensors"}), "listing"));
  EXPECT_EQ(names(s.weights), (std::vector<std::string>{"a.safetensors", "b.safetensors"}));
}

}  // namespace
}  // namespace ia::hub
