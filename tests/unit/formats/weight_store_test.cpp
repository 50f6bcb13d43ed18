#include <gtest/gtest.h>

#include <filesystem>

#include "formats/safetensors.h"
#include "unit/formats/formats_test_util.h"

namespace ia {
namespace {

using test::expect_error;
using test::TempDir;
using test::write_bytes;

const std::string kBert = std::string(IA_FIXTURES_DIR) + "/models/bert";

TEST(WeightStore, OpensBertFolder) {
  auto ws = WeightStore::open(kBert);
  EXPECT_FALSE(ws->sharded());
  EXPECT_EQ(ws->names().size(), 39u);
  EXPECT_TRUE(ws->has("encoder.layer.1.attention.self.query.weight"));
  EXPECT_FALSE(ws->has("nope"));
  EXPECT_EQ(ws->total_bytes(), 195912u - 8u - 4032u);
  ASSERT_EQ(ws->dtype_counts().size(), 1u);
  EXPECT_EQ(ws->dtype_counts().at("F32"), 39u);
  Tensor w = ws->get("embeddings.word_embeddings.weight");
  EXPECT_EQ(w.shape(), (Shape{800, 32}));
  EXPECT_NEAR(w.data<float>()[0], -0.0011224955f, 1e-9);
}

TEST(WeightStore, GetNotFoundNamesTensorAndFolder) {
  auto ws = WeightStore::open(kBert);
  expect_error([&] { ws->get("decoder.weight"); }, ErrorKind::NotFound, {"decoder.weight", kBert});
  // A hint for prefix mismatches.
  expect_error([&] { ws->get("bert.embeddings.word_embeddings.weight"); }, ErrorKind::NotFound,
               {"bert.embeddings.word_embeddings.weight", kBert, "there is 'embeddings.word_embeddings.weight'"});
}

TEST(WeightStore, GetAsConvertsAndChecksShape) {
  auto ws = WeightStore::open(kBert);
  const std::string name = "encoder.layer.0.attention.self.key.weight";
  Tensor raw = ws->get(name);
  Tensor same = ws->get_as(name, DType::F32, {32, 32});
  EXPECT_EQ(same.raw(), raw.raw());  // zero copy
  Tensor any = ws->get_as(name, DType::F32, {-1, 32});
  EXPECT_EQ(any.raw(), raw.raw());

  Tensor bf = ws->get_as(name, DType::BF16, {32, 32});
  EXPECT_EQ(bf.dtype(), DType::BF16);
  Tensor h = ws->get_as(name, DType::F16, {32, 32});
  EXPECT_EQ(h.dtype(), DType::F16);
  auto r = raw.to_f32_vector();
  auto b = bf.to_f32_vector();
  auto hv = h.to_f32_vector();
  for (size_t i = 0; i < r.size(); ++i) {
    EXPECT_EQ(b[i], bf16_to_f32(f32_to_bf16(r[i])));
    EXPECT_EQ(hv[i], f16_to_f32(f32_to_f16(r[i])));
  }
  // bf16 -> f32 -> back round trip through convert_float_tensor.
  Tensor back = convert_float_tensor(bf, DType::F32, "t");
  EXPECT_EQ(back.to_f32_vector(), b);

  expect_error(
      [&] {
        ws->get_as(name, DType::F32, {33, 32});
      },
      ErrorKind::Corrupt, {kBert, "tensor " + name + " has shape [32, 32] but the config implies [33, 32]"});
  expect_error([&] { ws->get_as(name, DType::F32, {32, 32, 1}); }, ErrorKind::Corrupt, {"config implies [32, 32, 1]"});
  expect_error([&] { ws->get_as(name, DType::I32, {32, 32}); }, ErrorKind::Unsupported, {name});
}

TEST(WeightStore, GetAsRefusesIntegerWeights) {
  TempDir dir;
  write_safetensors(dir.file("model.safetensors"), {{"ids", Tensor::from_vector(std::vector<int64_t>{1, 2}, {2})}});
  auto ws = WeightStore::open(dir.path());
  EXPECT_EQ(ws->get_as("ids", DType::I64).dtype(), DType::I64);  // same dtype: as stored
  expect_error([&] { ws->get_as("ids", DType::F32, {2}); }, ErrorKind::Unsupported, {"ids", "i64"});
}

// A tiny two-shard folder.
void make_sharded(const TempDir& dir) {
  write_safetensors(dir.file("model-00001-of-00002.safetensors"),
                    {{"a.weight", Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2})},
                     {"a.bias", Tensor::from_vector(std::vector<float>{5, 6}, {2})}});
  write_safetensors(dir.file("model-00002-of-00002.safetensors"),
                    {{"b.weight", Tensor::from_vector(std::vector<float>{7, 8, 9}, {3}).to(DType::BF16)},
                     {"unlisted", Tensor::from_vector(std::vector<float>{0}, {1})}});
  write_bytes(dir.file("model.safetensors.index.json"), R"({
    "metadata": {"total_size": 30},
    "weight_map": {
      "a.weight": "model-00001-of-00002.safetensors",
      "a.bias": "model-00001-of-00002.safetensors",
      "b.weight": "model-00002-of-00002.safetensors"
    }})");
}

TEST(WeightStore, Sharded) {
  TempDir dir;
  make_sharded(dir);
  auto ws = WeightStore::open(dir.path());
  EXPECT_TRUE(ws->sharded());
  EXPECT_EQ(ws->files().size(), 2u);
  EXPECT_EQ(ws->names(), (std::vector<std::string>{"a.bias", "a.weight", "b.weight"}));
  EXPECT_FALSE(ws->has("unlisted"));
  EXPECT_EQ(ws->total_bytes(), 16u + 8u + 6u);
  EXPECT_EQ(ws->dtype_counts().at("F32"), 2u);
  EXPECT_EQ(ws->dtype_counts().at("BF16"), 1u);
  EXPECT_EQ(ws->get("a.weight").to_f32_vector(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(ws->get("b.weight").dtype(), DType::BF16);
  EXPECT_EQ(ws->get_as("b.weight", DType::F32, {3}).to_f32_vector(), (std::vector<float>{7, 8, 9}));
}

TEST(WeightStore, ShardedMissingShard) {
  TempDir dir;
  make_sharded(dir);
  std::filesystem::remove(dir.file("model-00002-of-00002.safetensors"));
  expect_error([&] { WeightStore::open(dir.path()); }, ErrorKind::NotFound,
               {"model.safetensors.index.json", "model-00002-of-00002.safetensors", "missing"});
}

TEST(WeightStore, ShardedTensorAbsentFromShard) {
  TempDir dir;
  make_sharded(dir);
  write_bytes(dir.file("model.safetensors.index.json"),
              R"({"weight_map": {"a.weight": "model-00002-of-00002.safetensors"}})");
  expect_error([&] { WeightStore::open(dir.path()); }, ErrorKind::Corrupt,
               {"model.safetensors.index.json", "'a.weight'", "model-00002-of-00002.safetensors"});
}

TEST(WeightStore, ShardedBadIndex) {
  TempDir dir;
  make_sharded(dir);
  const std::string idx = dir.file("model.safetensors.index.json");
  write_bytes(idx, R"({"weight_map": {"a.weight": )");
  expect_error([&] { WeightStore::open(dir.path()); }, ErrorKind::Corrupt, {idx, "not valid JSON"});
  write_bytes(idx, R"([1])");
  expect_error([&] { WeightStore::open(dir.path()); }, ErrorKind::Corrupt, {idx, "not an object"});
  write_bytes(idx, R"({"metadata": {}})");
  expect_error([&] { WeightStore::open(dir.path()); }, ErrorKind::Corrupt, {idx, "weight_map"});
  write_bytes(idx, R"({"weight_map": {"a.weight": 3}})");
  expect_error([&] { WeightStore::open(dir.path()); }, ErrorKind::Corrupt, {idx, "a.weight"});
  write_bytes(idx, R"({"weight_map": {"a.weight": "../model-00001-of-00002.safetensors"}})");
  expect_error([&] { WeightStore::open(dir.path()); }, ErrorKind::Corrupt, {idx, "outside the folder"});
  write_bytes(idx, R"({"weight_map": {"a.weight": "/etc/passwd"}})");
  expect_error([&] { WeightStore::open(dir.path()); }, ErrorKind::Corrupt, {idx, "outside the folder"});
}

TEST(WeightStore, ShardCorruptNamesShard) {
  TempDir dir;
  make_sharded(dir);
  const std::string shard = dir.file("model-00001-of-00002.safetensors");
  write_bytes(shard, "garbage");
  expect_error([&] { WeightStore::open(dir.path()); }, ErrorKind::Corrupt, {shard});
}

TEST(WeightStore, FolderErrors) {
  TempDir dir;
  expect_error([&] { WeightStore::open(dir.path()); }, ErrorKind::NotFound,
               {dir.path(), "no model.safetensors or model.safetensors.index.json"});
  write_bytes(dir.file("pytorch_model.bin"), "PK");
  expect_error([&] { WeightStore::open(dir.path()); }, ErrorKind::Unsupported, {dir.path(), "pytorch_model.bin"});
  expect_error([&] { WeightStore::open(dir.file("nope")); }, ErrorKind::NotFound, {dir.file("nope")});
}

}  // namespace
}  // namespace ia
