// GPTQ checkpoints: packed by the published rules here (AutoGPTQ's pack: qweight int32 [in/8,
// out] with input 8r+i in bits 4i..4i+3 of row r; qzeros int32 [groups, out/8] likewise along
// outputs, storing zero - 1 in the "gptq" format; scales f16 [groups, out]; g_idx [in]), read
// back through gptq_packed_matrix, and compared value by value with the published
// dequantization scale * (q - zero).
#include "formats/checkpoint_quantization.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "core/quantization.h"
#include "formats/safetensors.h"
#include "unit/formats/formats_test_util.h"

namespace ia {
namespace {

using test::expect_error;
using test::TempDir;

struct GptqLayer {
  int64_t in, out, group;
  std::vector<int> q, zero;  // q [in][out], zero [groups][out]
  std::vector<float> scale;  // [groups][out], f16-exact
};

GptqLayer random_layer(int64_t in, int64_t out, int64_t group, bool sym, uint64_t seed) {
  std::mt19937_64 rng(seed);
  GptqLayer l{in, out, group, {}, {}, {}};
  for (int64_t i = 0; i < in * out; ++i) l.q.push_back(static_cast<int>(rng() % 16));
  for (int64_t i = 0; i < in / group * out; ++i) {
    l.zero.push_back(sym ? 8 : static_cast<int>(1 + rng() % 15));  // 1..15: storable as zero - 1
    l.scale.push_back(f16_to_f32(f32_to_f16(0.001f + static_cast<float>(rng() % 1000) * 1e-5f)));
  }
  return l;
}

Tensor pack_qweight(const GptqLayer& l) {
  Tensor t = Tensor::zeros({l.in / 8, l.out}, DType::I32);
  auto* p = t.data<int32_t>();
  for (int64_t k = 0; k < l.in; ++k)
    for (int64_t j = 0; j < l.out; ++j) {
      uint32_t w = static_cast<uint32_t>(p[(k / 8) * l.out + j]);
      w |= static_cast<uint32_t>(l.q[static_cast<size_t>(k * l.out + j)]) << (4 * (k % 8));
      p[(k / 8) * l.out + j] = static_cast<int32_t>(w);
    }
  return t;
}

Tensor pack_qzeros(const GptqLayer& l, bool minus_one) {
  const int64_t groups = l.in / l.group;
  Tensor t = Tensor::zeros({groups, l.out / 8}, DType::I32);
  auto* p = t.data<int32_t>();
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t j = 0; j < l.out; ++j) {
      const int z = l.zero[static_cast<size_t>(g * l.out + j)] - (minus_one ? 1 : 0);
      uint32_t w = static_cast<uint32_t>(p[g * (l.out / 8) + j / 8]);
      w |= static_cast<uint32_t>(z & 0xf) << (4 * (j % 8));
      p[g * (l.out / 8) + j / 8] = static_cast<int32_t>(w);
    }
  return t;
}

// A folder with config.json (quantization_config `qc`) and the layer "layer" packed.
void write_folder(const TempDir& dir, const GptqLayer& l, const nlohmann::json& qc, bool minus_one,
                  bool with_g_idx = true, std::vector<int32_t> g_idx = {}) {
  std::ofstream(dir.file("config.json")) << nlohmann::json{{"model_type", "llama"}, {"quantization_config", qc}}.dump();
  Tensor scales = Tensor::empty({l.in / l.group, l.out}, DType::F32);
  std::copy(l.scale.begin(), l.scale.end(), scales.data<float>());
  if (g_idx.empty())
    for (int64_t k = 0; k < l.in; ++k) g_idx.push_back(static_cast<int32_t>(k / l.group));
  Tensor gi = Tensor::empty({l.in}, DType::I32);
  std::copy(g_idx.begin(), g_idx.end(), gi.data<int32_t>());
  std::vector<std::pair<std::string, Tensor>> tensors = {{"layer.qweight", pack_qweight(l)},
                                                         {"layer.qzeros", pack_qzeros(l, minus_one)},
                                                         {"layer.scales", scales.to(DType::F16)}};
  if (with_g_idx) tensors.emplace_back("layer.g_idx", gi);
  write_safetensors(dir.file("model.safetensors"), tensors);
}

nlohmann::json gptq_config(int64_t group, bool sym, const char* format = "gptq", bool desc_act = false) {
  return {{"quant_method", "gptq"},     {"bits", 4}, {"group_size", group}, {"sym", sym}, {"desc_act", desc_act},
          {"checkpoint_format", format}};
}

TEST(GptqCheckpoint, UnpacksToThePublishedDequantization) {
  struct Case {
    int64_t in, out, group;
    bool sym;
    const char* format;
  };
  for (const Case& c : {Case{64, 16, 32, true, "gptq"}, Case{96, 24, 32, false, "gptq"},
                        Case{256, 8, 128, false, "gptq_v2"}, Case{384, 16, 128, true, "gptq_v2"}}) {
    TempDir dir;
    const GptqLayer l = random_layer(c.in, c.out, c.group, c.sym, static_cast<uint64_t>(c.in + c.out));
    const bool minus_one = std::string(c.format) == "gptq";
    write_folder(dir, l, gptq_config(c.group, c.sym, c.format), minus_one);
    auto store = WeightStore::open(dir.path());
    ASSERT_NE(store->checkpoint_quantization(), nullptr);
    EXPECT_TRUE(has_packed_layer(*store, "layer"));
    EXPECT_FALSE(has_packed_layer(*store, "other"));
    Tensor packed = gptq_packed_matrix(*store, "layer", c.out, c.in, *store->checkpoint_quantization());
    EXPECT_EQ(packed.dtype(), c.group == 32 ? DType::Q4ZG32 : DType::Q4ZG128);
    Tensor w = dequantize_matrix(packed, c.in);
    for (int64_t j = 0; j < c.out; ++j)
      for (int64_t k = 0; k < c.in; ++k) {
        const size_t g = static_cast<size_t>((k / c.group) * c.out + j);
        const float want = l.scale[g] * static_cast<float>(l.q[static_cast<size_t>(k * c.out + j)] - l.zero[g]);
        ASSERT_EQ(w.data<float>()[j * c.in + k], want) << c.in << "x" << c.out << " j=" << j << " k=" << k;
      }
  }
}

TEST(GptqCheckpoint, RefusesWhatItDoesNotLoadByName) {
  const nlohmann::json plain = {{"model_type", "llama"}};
  EXPECT_EQ(read_checkpoint_quantization(plain, "config.json"), nullptr);
  auto refuse = [](nlohmann::json qc, ErrorKind kind, std::initializer_list<std::string> parts) {
    expect_error(
        [&] {
          read_checkpoint_quantization(nlohmann::json{{"quantization_config", qc}}, "config.json");
        },
        kind, parts);
  };
  refuse({{"quant_method", "awq"}, {"bits", 4}}, ErrorKind::Unsupported, {"awq", "not supported"});
  refuse({{"quant_method", "fp8"}}, ErrorKind::Unsupported, {"fp8"});
  refuse({{"quant_method", "gptq"}, {"bits", 8}, {"group_size", 128}}, ErrorKind::Unsupported, {"8 bits"});
  refuse({{"quant_method", "gptq"}, {"bits", 3}, {"group_size", 128}}, ErrorKind::Unsupported, {"3 bits"});
  refuse({{"quant_method", "gptq"}, {"bits", 4}, {"group_size", 64}}, ErrorKind::Unsupported, {"group_size 64"});
  refuse({{"quant_method", "gptq"}, {"bits", 4}, {"group_size", -1}}, ErrorKind::Unsupported, {"group_size -1"});
  refuse({{"quant_method", "gptq"}, {"bits", 4}, {"group_size", 128}, {"checkpoint_format", "marlin"}},
         ErrorKind::Unsupported, {"marlin"});
  refuse({{"quant_method", "gptq"}, {"bits", "4"}}, ErrorKind::Corrupt, {"bits", "not an integer"});
  expect_error(
      [] {
        read_checkpoint_quantization(nlohmann::json{{"quantization_config", 3}}, "config.json");
      },
      ErrorKind::Corrupt, {"not an object"});

  // Opening the folder refuses an unsupported method before any tensor is read.
  TempDir dir;
  const GptqLayer l = random_layer(64, 8, 32, true, 1);
  write_folder(dir, l, {{"quant_method", "awq"}, {"bits", 4}}, true);
  expect_error([&] { WeightStore::open(dir.path()); }, ErrorKind::Unsupported, {"awq"});
}

TEST(GptqCheckpoint, RefusesWrongShapesAndActOrder) {
  const GptqLayer l = random_layer(64, 16, 32, false, 2);
  {
    TempDir dir;
    write_folder(dir, l, gptq_config(32, false), true);
    auto store = WeightStore::open(dir.path());
    // The config says 128 inputs: the packed tensors hold 64.
    expect_error([&] { gptq_packed_matrix(*store, "layer", 16, 128, *store->checkpoint_quantization()); },
                 ErrorKind::Corrupt, {"layer.qweight", "[8, 16]", "[16, 16]"});
    expect_error([&] { gptq_packed_matrix(*store, "layer", 12, 64, *store->checkpoint_quantization()); },
                 ErrorKind::Corrupt, {"outputs of 8"});
  }
  {
    // Act-order: g_idx not in input order.
    TempDir dir;
    std::vector<int32_t> g_idx;
    for (int64_t k = 0; k < 64; ++k) g_idx.push_back(static_cast<int32_t>(k % 2));
    write_folder(dir, l, gptq_config(32, false, "gptq", true), true, true, g_idx);
    auto store = WeightStore::open(dir.path());
    expect_error([&] { gptq_packed_matrix(*store, "layer", 16, 64, *store->checkpoint_quantization()); },
                 ErrorKind::Unsupported, {"act-order", "layer"});
  }
  {
    // desc_act with g_idx in input order (static groups) loads.
    TempDir dir;
    write_folder(dir, l, gptq_config(32, false, "gptq", true), true);
    auto store = WeightStore::open(dir.path());
    EXPECT_EQ(gptq_packed_matrix(*store, "layer", 16, 64, *store->checkpoint_quantization()).size(0), 16);
  }
}

}  // namespace
}  // namespace ia
