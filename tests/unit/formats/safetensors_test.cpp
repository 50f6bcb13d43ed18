#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "unit/formats/formats_test_util.h"

namespace ia {
namespace {

using test::expect_error;
using test::st_image;
using test::TempDir;
using test::write_bytes;

const std::string kBert = std::string(IA_FIXTURES_DIR) + "/models/bert";

// ---------------------------------------------------------------------------
// The fixtures.

TEST(Safetensors, OpensBertModel) {
  auto f = SafetensorsFile::open(kBert + "/model.safetensors");
  EXPECT_EQ(f->size(), 39u);
  auto names = f->names();
  ASSERT_EQ(names.size(), 39u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_TRUE(f->has("embeddings.word_embeddings.weight"));
  EXPECT_TRUE(f->has("pooler.dense.weight"));
  EXPECT_FALSE(f->has("bert.embeddings.word_embeddings.weight"));
  EXPECT_EQ(f->metadata().at("format"), "pt");

  const TensorInfo& wi = f->info("embeddings.word_embeddings.weight");
  EXPECT_EQ(wi.st_dtype, "F32");
  ASSERT_TRUE(wi.dtype.has_value());
  EXPECT_EQ(*wi.dtype, DType::F32);
  EXPECT_EQ(wi.shape, (Shape{800, 32}));
  EXPECT_EQ(wi.nbytes(), 800u * 32u * 4u);

  Tensor w = f->tensor("embeddings.word_embeddings.weight");
  EXPECT_EQ(w.dtype(), DType::F32);
  EXPECT_EQ(w.shape(), (Shape{800, 32}));
  EXPECT_TRUE(w.is_contiguous());
  // Zero copy: a view on the mapping.
  EXPECT_NE(dynamic_cast<MappedStorage*>(w.storage().get()), nullptr);
  EXPECT_NEAR(w.data<float>()[0], -0.0011224955f, 1e-9);
  EXPECT_NEAR(w.data<float>()[1], -0.0049895034f, 1e-9);
  EXPECT_NEAR(w.data<float>()[3], -0.0088587832f, 1e-9);

  Tensor ln = f->tensor("embeddings.LayerNorm.weight");
  EXPECT_EQ(ln.shape(), (Shape{32}));
  EXPECT_NEAR(ln.data<float>()[0], 1.0279982f, 1e-6);

  EXPECT_EQ(f->tensor("encoder.layer.0.intermediate.dense.weight").shape(), (Shape{64, 32}));
  EXPECT_EQ(f->tensor("encoder.layer.1.output.dense.weight").shape(), (Shape{32, 64}));
}

TEST(Safetensors, TensorOutlivesFileObject) {
  Tensor w;
  {
    auto f = SafetensorsFile::open(kBert + "/model.safetensors");
    w = f->tensor("embeddings.LayerNorm.weight");
  }
  EXPECT_NEAR(w.data<float>()[0], 1.0279982f, 1e-6);
}

TEST(Safetensors, OpensBertReference) {
  auto f = SafetensorsFile::open(kBert + "/reference.safetensors");
  EXPECT_TRUE(f->metadata().empty());
  const TensorInfo& ii = f->info("input_ids");
  EXPECT_EQ(ii.st_dtype, "I64");
  EXPECT_EQ(ii.shape, (Shape{3, 26}));
  Tensor ids = f->tensor("input_ids");
  EXPECT_EQ(ids.dtype(), DType::I64);
  const int64_t expect[] = {2, 50, 634, 382, 65, 279, 217, 202, 3, 0};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(ids.data<int64_t>()[i], expect[i]) << i;

  Tensor emb = f->tensor("sentence_embedding");
  EXPECT_EQ(emb.shape(), (Shape{3, 32}));
  EXPECT_NEAR(emb.data<float>()[0], -0.08304483f, 1e-6);
  EXPECT_NEAR(emb.data<float>()[1], -0.26714253f, 1e-6);
  EXPECT_EQ(f->tensor("last_hidden_state").shape(), (Shape{3, 26, 32}));
}

TEST(Safetensors, MissingTensorAndFile) {
  auto f = SafetensorsFile::open(kBert + "/model.safetensors");
  expect_error([&] { f->tensor("nope"); }, ErrorKind::NotFound, {"model.safetensors", "nope"});
  expect_error([&] { SafetensorsFile::open(kBert + "/absent.safetensors"); }, ErrorKind::NotFound,
               {"absent.safetensors"});
}

// ---------------------------------------------------------------------------
// Writer round trip.

TEST(SafetensorsWriter, RoundTrip) {
  TempDir dir;
  std::vector<float> v(24);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.5f * static_cast<float>(i) - 3.0f;
  Tensor a = Tensor::from_vector(v, {2, 3, 4});
  Tensor bf = a.to(DType::BF16);
  Tensor h = a.to(DType::F16);
  Tensor ids = Tensor::from_vector(std::vector<int64_t>{1, -2, 3, 1LL << 40}, {4});
  Tensor flags = Tensor::zeros({3}, DType::Bool);
  flags.data<uint8_t>()[1] = 1;
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1);  // not contiguous
  Tensor empty = Tensor::zeros({0, 5}, DType::F32);
  Tensor scalar = Tensor::from_vector(std::vector<float>{42.0f}, {});

  const std::string path = dir.file("rt.safetensors");
  write_safetensors(path,
                    {{"a", a},
                     {"a.bf16", bf},
                     {"a.f16", h},
                     {"ids", ids},
                     {"flags", flags},
                     {"t", t},
                     {"empty", empty},
                     {"scalar", scalar}},
                    {{"format", "pt"}, {"note", "round trip"}});

  // Nothing else left in the folder (no temporary file).
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++n;
  EXPECT_EQ(n, 1u);

  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f->size(), 8u);
  EXPECT_EQ(f->metadata().at("note"), "round trip");
  EXPECT_EQ(f->tensor("a").to_f32_vector(), v);
  EXPECT_EQ(f->info("a.bf16").st_dtype, "BF16");
  EXPECT_EQ(f->tensor("a.bf16").to_f32_vector(), v);  // all exactly representable
  EXPECT_EQ(f->info("a.f16").st_dtype, "F16");
  EXPECT_EQ(f->tensor("a.f16").to_f32_vector(), v);
  Tensor ids2 = f->tensor("ids");
  EXPECT_EQ(ids2.dtype(), DType::I64);
  EXPECT_EQ(ids2.data<int64_t>()[3], 1LL << 40);
  EXPECT_EQ(ids2.data<int64_t>()[1], -2);
  EXPECT_EQ(f->info("flags").st_dtype, "BOOL");
  EXPECT_EQ(f->tensor("flags").data<uint8_t>()[1], 1);
  EXPECT_EQ(f->tensor("t").shape(), (Shape{3, 2}));
  EXPECT_EQ(f->tensor("t").to_f32_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(f->tensor("empty").shape(), (Shape{0, 5}));
  EXPECT_EQ(f->tensor("empty").numel(), 0);
  EXPECT_EQ(f->tensor("scalar").shape(), Shape{});
  EXPECT_EQ(f->tensor("scalar").data<float>()[0], 42.0f);
  // The data section starts 8-byte aligned.
  EXPECT_EQ(f->info("a").file_offset % 8, 0u);
}

TEST(SafetensorsWriter, ReplacesExistingFileAndRejectsBadInput) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  Tensor a = Tensor::from_vector(std::vector<float>{1, 2}, {2});
  write_safetensors(path, {{"x", a}});
  write_safetensors(path, {{"y", a}});
  auto f = SafetensorsFile::open(path);
  EXPECT_FALSE(f->has("x"));
  EXPECT_TRUE(f->has("y"));

  const std::string bad = dir.file("bad.safetensors");
  expect_error([&] { write_safetensors(bad, {{"x", a}, {"x", a}}); }, ErrorKind::InvalidArgument, {bad, "'x'"});
  expect_error([&] { write_safetensors(bad, {{"", a}}); }, ErrorKind::InvalidArgument, {bad});
  expect_error([&] { write_safetensors(bad, {{"__metadata__", a}}); }, ErrorKind::InvalidArgument, {bad});
  EXPECT_FALSE(std::filesystem::exists(bad));
  const std::string nowhere = dir.file("no/such/dir/x.safetensors");
  expect_error([&] { write_safetensors(nowhere, {{"x", a}}); }, ErrorKind::NotFound, {nowhere});
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++n;
  EXPECT_EQ(n, 1u);
}

// ---------------------------------------------------------------------------
// Malformed files: each is Corrupt and the message names the file.

class BadFile : public ::testing::Test {
 protected:
  // Writes `bytes`, opens it, expects Corrupt mentioning the path and `what`.
  void expect_corrupt(const std::string& bytes, const std::string& what) {
    const std::string path = dir_.file("bad" + std::to_string(count_++) + ".safetensors");
    write_bytes(path, bytes);
    expect_error([&] { SafetensorsFile::open(path); }, ErrorKind::Corrupt, {path, what});
    // The in-memory parser agrees.
    expect_error(
        [&] { SafetensorsFile::parse_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem"); },
        ErrorKind::Corrupt, {"mem", what});
  }
  void expect_corrupt_header(const std::string& header, const std::string& data, const std::string& what) {
    expect_corrupt(st_image(header, data), what);
  }
  TempDir dir_;
  int count_ = 0;
};

TEST_F(BadFile, ShorterThanEightBytes) {
  expect_corrupt("", "shorter than the 8-byte");
  expect_corrupt("abcde", "shorter than the 8-byte");
}

TEST_F(BadFile, HeaderLengthPastEnd) {
  expect_corrupt(st_image("{}", "", 3), "past the end of the file");
  expect_corrupt(test::le64(1000) + "{}", "past the end of the file");
}

TEST_F(BadFile, HeaderLengthAbsurd) {
  expect_corrupt(test::le64(200ull * 1000 * 1000) + "{}", "absurdly large");
  expect_corrupt(test::le64(UINT64_MAX) + "{}", "absurdly large");
}

TEST_F(BadFile, HeaderNotJson) {
  expect_corrupt_header("{\"a\": ", "", "not valid JSON");
  expect_corrupt_header("hello", "", "not valid JSON");
  expect_corrupt_header("", "", "not valid JSON");
  expect_corrupt_header(std::string("{\"a\xff\": 1}"), "", "not valid JSON");
}

TEST_F(BadFile, HeaderNotObject) {
  expect_corrupt_header("[1, 2]", "", "not an object");
  expect_corrupt_header("12", "", "not an object");
}

TEST_F(BadFile, EntryMissingFields) {
  expect_corrupt_header(R"({"x": {"shape": [1], "data_offsets": [0, 4]}})", "abcd", "has no dtype");
  expect_corrupt_header(R"({"x": {"dtype": "F32", "data_offsets": [0, 4]}})", "abcd", "has no shape");
  expect_corrupt_header(R"({"x": {"dtype": "F32", "shape": [1]}})", "abcd", "has no data_offsets");
}

TEST_F(BadFile, EntryWrongTypes) {
  expect_corrupt_header(R"({"x": 5})", "", "not an object");
  expect_corrupt_header(R"({"x": {"dtype": 5, "shape": [1], "data_offsets": [0, 4]}})", "abcd", "not a string");
  expect_corrupt_header(R"({"x": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}})", "abcd", "not an array");
  expect_corrupt_header(R"({"x": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}})", "abcd", "not an integer");
  expect_corrupt_header(R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", "abcd", "data_offsets");
  expect_corrupt_header(R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})", "abcd", "data_offsets");
  expect_corrupt_header(R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", "abcd", "data_offsets");
  expect_corrupt_header(R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": "0-4"}})", "abcd", "data_offsets");
}

TEST_F(BadFile, UnknownDtype) {
  expect_corrupt_header(R"({"x": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}})", std::string(16, 'a'),
                        "unknown dtype 'F128'");
  expect_corrupt_header(R"({"x": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}})", "abcd", "unknown dtype");
}

TEST_F(BadFile, OffsetsBeginAfterEnd) {
  expect_corrupt_header(R"({"x": {"dtype": "U8", "shape": [0], "data_offsets": [4, 2]}})", "abcd", "begin after end");
}

TEST_F(BadFile, OffsetsPastData) {
  expect_corrupt_header(R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", "abcd",
                        "past the data section");
  expect_corrupt_header(R"({"x": {"dtype": "U8", "shape": [0], "data_offsets": [9, 9]}})", "abcd",
                        "past the data section");
}

TEST_F(BadFile, ByteSizeMismatch) {
  expect_corrupt_header(R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", "abcdefgh",
                        "needs 8 bytes");
  expect_corrupt_header(R"({"x": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 4]}})", "abcdefgh",
                        "needs 8 bytes");
}

TEST_F(BadFile, OverlappingRanges) {
  expect_corrupt_header(
      R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
      "abcdefgh", "overlap");
  expect_corrupt_header(
      R"({"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}, "b": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}})",
      "abcdefgh", "overlap");
}

TEST_F(BadFile, NegativeDimension) {
  expect_corrupt_header(R"({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", "abcd",
                        "negative dimension");
}

TEST_F(BadFile, ShapeOverflow) {
  expect_corrupt_header(R"({"x": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})", "abcd",
                        "overflows");
  // Overflow is refused even when another dimension makes the count zero.
  expect_corrupt_header(R"({"x": {"dtype": "F32", "shape": [4294967296, 4294967296, 0], "data_offsets": [0, 0]}})", "",
                        "overflows");
  // The element count fits but the byte count does not.
  expect_corrupt_header(R"({"x": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 8]}})",
                        "abcdefgh", "overflows");
  expect_corrupt_header(R"({"x": {"dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 4]}})", "abcd",
                        "too large");
}

TEST_F(BadFile, BadMetadata) {
  expect_corrupt_header(R"({"__metadata__": [1]})", "", "__metadata__");
  expect_corrupt_header(R"({"__metadata__": {"format": 1}})", "", "__metadata__ entry 'format'");
}

TEST_F(BadFile, DuplicateTensorName) {
  expect_corrupt_header(
      R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})",
      "ab", "'a' twice");
}

// ---------------------------------------------------------------------------
// Valid corner cases.

TEST(SafetensorsEdge, UnsupportedDtypeAtUseNotAtOpen) {
  TempDir dir;
  const std::string path = dir.file("f8.safetensors");
  write_bytes(path, st_image(R"({"e4": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]},)"
                             R"( "e5": {"dtype": "F8_E5M2", "shape": [4], "data_offsets": [4, 8]},)"
                             R"( "ok": {"dtype": "U8", "shape": [2], "data_offsets": [8, 10]}})",
                             "abcdefghij"));
  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f->size(), 3u);
  EXPECT_EQ(f->info("e4").st_dtype, "F8_E4M3");
  EXPECT_FALSE(f->info("e4").dtype.has_value());
  expect_error([&] { f->tensor("e4"); }, ErrorKind::Unsupported, {path, "e4", "F8_E4M3"});
  expect_error([&] { f->tensor("e5"); }, ErrorKind::Unsupported, {path, "e5", "F8_E5M2"});
  EXPECT_EQ(f->tensor("ok").data<uint8_t>()[1], 'j');
}

TEST(SafetensorsEdge, EveryIaDtypeReads) {
  TempDir dir;
  const std::string path = dir.file("all.safetensors");
  std::string header = "{";
  size_t off = 0;
  const std::pair<const char*, size_t> kinds[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                                                  {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};
  for (const auto& [name, size] : kinds) {
    if (off) header += ", ";
    header += fmt::format(R"("t{}": {{"dtype": "{}", "shape": [2], "data_offsets": [{}, {}]}})", name, name, off,
                          off + 2 * size);
    off += 2 * size;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // trailing spaces are allowed
  write_bytes(path, st_image(header, std::string(off, '\0')));
  auto f = SafetensorsFile::open(path);
  for (const auto& [name, size] : kinds) {
    Tensor t = f->tensor(std::string("t") + name);
    EXPECT_EQ(dtype_size(t.dtype()), size);
    EXPECT_STREQ(safetensors_dtype_name(t.dtype()), name);
  }
}

TEST(SafetensorsEdge, MisalignedDataIsCopied) {
  TempDir dir;
  const std::string path = dir.file("mis.safetensors");
  float vals[2] = {1.5f, -2.25f};
  std::string data(reinterpret_cast<const char*>(vals), 8);
  std::string header = R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})";
  if ((8 + header.size()) % 4 == 0) header += " ";  // make the data start misaligned
  write_bytes(path, st_image(header, data));
  auto f = SafetensorsFile::open(path);
  Tensor t = f->tensor("x");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 4, 0u);
  EXPECT_EQ(t.to_f32_vector(), (std::vector<float>{1.5f, -2.25f}));
}

TEST(SafetensorsEdge, EmptyHeaderAndGaps) {
  TempDir dir;
  const std::string path = dir.file("empty.safetensors");
  write_bytes(path, st_image("{}", ""));
  EXPECT_EQ(SafetensorsFile::open(path)->size(), 0u);
  // Zero-size tensors may share an offset with others.
  write_bytes(path, st_image(R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},)"
                             R"( "z": {"dtype": "F32", "shape": [0, 3], "data_offsets": [1, 1]}})",
                             "ab"));
  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f->tensor("z").numel(), 0);
}

}  // namespace
}  // namespace ia
