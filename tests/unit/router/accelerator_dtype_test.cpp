// --dtype auto (the default): embed, generate and chat run in the checkpoint's own dtype from
// config.json (torch_dtype, or transformers 5's dtype), an explicit dtype wins, and the result's
// dtype says what ran. The fixtures are f32 checkpoints; these tests copy one and relabel it.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ipfs_accelerate/accelerator.h"
#include "unit/router/router_test_util.h"

namespace ipfs_accelerate {
namespace {

namespace fs = std::filesystem;

using test::kModels;
using test::TempDir;

// A copy of the fixture folder `name` whose config.json has `key` set to `value` (the other of
// torch_dtype/dtype removed); an empty key removes both.
std::string relabelled(const TempDir& tmp, const std::string& name, const std::string& key, const std::string& value) {
  const fs::path dir = tmp.path() / (name + "-" + (key.empty() ? "none" : key) + "-" + value);
  fs::copy(kModels + "/" + name, dir, fs::copy_options::recursive);
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(dir / "config.json"));
  cfg.erase("torch_dtype");
  cfg.erase("dtype");
  if (!key.empty()) cfg[key] = value;
  std::ofstream(dir / "config.json") << cfg.dump(2);
  return dir.string();
}

GenerateOptions greedy(int tokens) {
  GenerateOptions o;
  o.temperature = 0.0f;
  o.max_new_tokens = tokens;
  return o;
}

bool mentions(const std::vector<std::string>& warnings, const std::string& what) {
  for (const auto& w : warnings)
    if (w.find(what) != std::string::npos) return true;
  return false;
}

TEST(AcceleratorDtype, TheFixturesAreF32CheckpointsAndRunInF32ByDefault) {
  Accelerator acc;
  EXPECT_EQ(acc.embed(kModels + "/bert", {"hello world"}).dtype, "f32");
  EXPECT_EQ(acc.generate(kModels + "/llama", "Hello", greedy(2)).dtype, "f32");
}

TEST(AcceleratorDtype, ABf16CheckpointEmbedsInBf16UnlessF32IsAskedFor) {
  TempDir tmp;
  const std::string bert = relabelled(tmp, "bert", "torch_dtype", "bfloat16");
  Accelerator acc;
  EmbedResult def = acc.embed(bert, {"hello world"});
  EXPECT_EQ(def.dtype, "bf16");
  EXPECT_TRUE(def.warnings.empty());
  EmbedOptions f32;
  f32.dtype = "f32";
  EmbedResult full = acc.embed(bert, {"hello world"}, f32);
  EXPECT_EQ(full.dtype, "f32");
  ASSERT_EQ(def.embeddings.size(), 1u);
  ASSERT_EQ(full.embeddings.size(), 1u);
  EXPECT_EQ(def.embeddings[0].size(), full.embeddings[0].size());
}

TEST(AcceleratorDtype, Transformers5DtypeKeyIsReadToo) {
  TempDir tmp;
  const std::string llama = relabelled(tmp, "llama", "dtype", "bfloat16");
  Accelerator acc;
  EXPECT_EQ(acc.generate(llama, "Hello", greedy(2)).dtype, "bf16");
  GenerateOptions f32 = greedy(2);
  f32.dtype = "f32";
  EXPECT_EQ(acc.generate(llama, "Hello", f32).dtype, "f32");
  EXPECT_EQ(acc.chat(llama, R"([{"role": "user", "content": "Hi"}])", greedy(2)).dtype, "bf16");
}

TEST(AcceleratorDtype, Float16RunsAsBf16WithAWarning) {
  TempDir tmp;
  const std::string llama = relabelled(tmp, "llama", "torch_dtype", "float16");
  Accelerator acc;
  GenerateResult r = acc.generate(llama, "Hello", greedy(2));
  EXPECT_EQ(r.dtype, "bf16");
  EXPECT_TRUE(mentions(r.warnings, "float16")) << testing::PrintToString(r.warnings);
  GenerateOptions bf16 = greedy(2);
  bf16.dtype = "bf16";  // asked for: no warning
  EXPECT_FALSE(mentions(acc.generate(llama, "Hello", bf16).warnings, "float16"));
}

TEST(AcceleratorDtype, NoDtypeInConfigAndFloat32RunInF32) {
  TempDir tmp;
  Accelerator acc;
  EXPECT_EQ(acc.embed(relabelled(tmp, "bert", "", "none"), {"hi"}).dtype, "f32");
  EXPECT_EQ(acc.embed(relabelled(tmp, "bert", "torch_dtype", "float32"), {"hi"}).dtype, "f32");
}

TEST(AcceleratorDtype, AnUnknownDtypeIsAnInvalidArgument) {
  Accelerator acc;
  EmbedOptions o;
  o.dtype = "f16";
  try {
    acc.embed(kModels + "/bert", {"hi"}, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), "invalid_argument");
    EXPECT_NE(std::string(e.what()).find("auto"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ipfs_accelerate
