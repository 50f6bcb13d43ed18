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
    // Symmetric (every zero 8): the q4_g* grid, no zero points stored.
    if (c.sym) {
      EXPECT_EQ(packed.dtype(), c.group == 32 ? DType::Q4G32 : DType::Q4G128);
    } else {
      EXPECT_EQ(packed.dtype(), c.group == 32 ? DType::Q4ZG32 : DType::Q4ZG128);
    }
    Tensor w = dequantize_matrix(packed, c.in);
    const Tensor widened = dequantize_matrix(with_zero_points(packed, c.in), c.in);
    for (int64_t j = 0; j < c.out; ++j)
      for (int64_t k = 0; k < c.in; ++k) {
        const size_t g = static_cast<size_t>((k / c.group) * c.out + j);
        const float want = l.scale[g] * static_cast<float>(l.q[static_cast<size_t>(k * c.out + j)] - l.zero[g]);
        ASSERT_EQ(widened.data<float>()[j * c.in + k], want) << "with_zero_points j=" << j << " k=" << k;
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
  refuse({{"quant_method", "fp8"}}, ErrorKind::Unsupported, {"fp8", "not supported"});
  refuse({{"quant_method", "bitsandbytes"}}, ErrorKind::Unsupported, {"bitsandbytes"});
  refuse({{"quant_method", "gptq"}, {"bits", 8}, {"group_size", 128}}, ErrorKind::Unsupported,
         {"8-bit group_size 128"});
  refuse({{"quant_method", "gptq"}, {"bits", 8}, {"group_size", -1}, {"sym", false}}, ErrorKind::Unsupported,
         {"8-bit", "sym false"});
  refuse({{"quant_method", "awq"}, {"bits", 4}, {"group_size", 128}, {"version", "gemv"}}, ErrorKind::Unsupported,
         {"version \"gemv\""});
  refuse({{"quant_method", "awq"}, {"bits", 4}, {"group_size", 128}, {"version", "exllama"}}, ErrorKind::Unsupported,
         {"exllama"});
  refuse({{"quant_method", "awq"}, {"bits", 4}, {"group_size", 128}, {"version", "marlin"}}, ErrorKind::Unsupported,
         {"marlin"});
  refuse({{"quant_method", "awq"}, {"bits", 8}, {"group_size", 128}}, ErrorKind::Unsupported, {"AWQ with 8 bits"});
  refuse({{"quant_method", "awq"}, {"w_bit", 3}, {"q_group_size", 128}}, ErrorKind::Unsupported, {"AWQ with 3 bits"});
  refuse({{"quant_method", "awq"}, {"bits", 4}, {"group_size", 256}}, ErrorKind::Unsupported, {"group_size 256"});
  refuse({{"quant_method", "awq"}, {"bits", 4}, {"group_size", 128}, {"zero_point", false}}, ErrorKind::Unsupported,
         {"zero_point false"});
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
  write_folder(dir, l, {{"quant_method", "awq"}, {"bits", 4}, {"version", "gemv"}}, true);
  expect_error([&] { WeightStore::open(dir.path()); }, ErrorKind::Unsupported, {"gemv"});
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

// ------------------------------------------------------------- GPTQ 8-bit

TEST(GptqCheckpoint, EightBitPerChannelLoadsAsQ8) {
  // AutoGPTQ's 8-bit pack: 4 inputs per int32 (input 4r + i in bits 8i..8i+7 of row r), the
  // zero 128 stored as 127 ("gptq") or 128 ("gptq_v2"), one f16 scale per output.
  for (const char* format : {"gptq", "gptq_v2"}) {
    const int64_t in = 40, out = 12;
    std::mt19937_64 rng(7);
    std::vector<int> q(static_cast<size_t>(in * out));
    for (int& v : q) v = static_cast<int>(rng() % 256);  // 0..255: q - 128 covers [-128, 127]
    q[0] = 0;
    q[1] = 255;
    std::vector<float> scale(static_cast<size_t>(out));
    for (float& s : scale) s = f16_to_f32(f32_to_f16(0.001f + static_cast<float>(rng() % 1000) * 1e-5f));
    const bool minus_one = std::string(format) == "gptq";
    Tensor qweight = Tensor::zeros({in / 4, out}, DType::I32), qzeros = Tensor::zeros({1, out / 4}, DType::I32);
    auto* qw = reinterpret_cast<uint32_t*>(qweight.data<int32_t>());
    auto* qz = reinterpret_cast<uint32_t*>(qzeros.data<int32_t>());
    for (int64_t k = 0; k < in; ++k)
      for (int64_t j = 0; j < out; ++j)
        qw[(k / 4) * out + j] |= static_cast<uint32_t>(q[static_cast<size_t>(k * out + j)]) << (8 * (k % 4));
    for (int64_t j = 0; j < out; ++j) qz[j / 4] |= static_cast<uint32_t>(minus_one ? 127 : 128) << (8 * (j % 4));
    Tensor scales = Tensor::empty({1, out}, DType::F32);
    std::copy(scale.begin(), scale.end(), scales.data<float>());
    TempDir dir;
    std::ofstream(dir.file("config.json")) << nlohmann::json{
        {"model_type", "llama"},
        {"quantization_config",
         {{"quant_method", "gptq"},
          {"bits", 8},
          {"group_size", -1},
          {"sym", true},
          {"checkpoint_format", format}}}}.dump();
    write_safetensors(dir.file("model.safetensors"), {{"layer.qweight", qweight},
                                                      {"layer.qzeros", qzeros},
                                                      {"layer.scales", scales.to(DType::F16)},
                                                      {"layer.g_idx", Tensor::zeros({in}, DType::I32)}});
    auto store = WeightStore::open(dir.path());
    ASSERT_EQ(store->checkpoint_quantization()->packed_format(), DType::Q8);
    Tensor packed = checkpoint_packed_matrix(*store, "layer", out, in, *store->checkpoint_quantization());
    ASSERT_EQ(packed.dtype(), DType::Q8);
    Tensor w = dequantize_matrix(packed, in);
    for (int64_t j = 0; j < out; ++j)
      for (int64_t k = 0; k < in; ++k)
        ASSERT_EQ(w.data<float>()[j * in + k],
                  scale[static_cast<size_t>(j)] * static_cast<float>(q[static_cast<size_t>(k * out + j)] - 128))
            << format << " j=" << j << " k=" << k;
    // An asymmetric zero point cannot be held by q8: refused by name.
    qz[0] = (qz[0] & ~0xffu) | 100u;
    write_safetensors(dir.file("model.safetensors"),
                      {{"layer.qweight", qweight}, {"layer.qzeros", qzeros}, {"layer.scales", scales.to(DType::F16)}});
    auto store2 = WeightStore::open(dir.path());
    expect_error([&] { checkpoint_packed_matrix(*store2, "layer", out, in, *store2->checkpoint_quantization()); },
                 ErrorKind::Unsupported, {"zero point", "output 0"});
  }
}

// ------------------------------------------------------------- AWQ

// AutoAWQ's GEMM pack (awq/utils/packing_utils.py, transformers' awq integration): qweight
// int32 [in, out / 8], word c of input k holding output 8c + kAwqOrder[i] in bits 4i..4i+3;
// qzeros [groups, out / 8] packed the same way; scales f16 [groups, out]; no offset on zeros.
Tensor pack_awq(const std::vector<int>& v, int64_t rows, int64_t out) {
  static constexpr int kOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};  // AWQ_ORDER, written out here
  Tensor t = Tensor::zeros({rows, out / 8}, DType::I32);
  auto* p = reinterpret_cast<uint32_t*>(t.data<int32_t>());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < out / 8; ++c)
      for (int i = 0; i < 8; ++i)
        p[r * (out / 8) + c] |= static_cast<uint32_t>(v[static_cast<size_t>(r * out + c * 8 + kOrder[i])] & 0xf)
                                << (4 * i);
  return t;
}

TEST(AwqCheckpoint, UnpacksToThePublishedDequantization) {
  struct Case {
    int64_t in, out, group;
    bool autoawq_names;  // w_bit / q_group_size as AutoAWQ's quant_config names them
  };
  for (const Case& c :
       {Case{64, 16, 32, false}, Case{128, 24, 64, true}, Case{256, 8, 128, false}, Case{192, 16, 64, false}}) {
    std::mt19937_64 rng(static_cast<uint64_t>(c.in * 31 + c.out));
    const int64_t groups = c.in / c.group;
    std::vector<int> q(static_cast<size_t>(c.in * c.out)), zero(static_cast<size_t>(groups * c.out));
    for (int& v : q) v = static_cast<int>(rng() % 16);
    for (int& v : zero) v = static_cast<int>(rng() % 16);  // AWQ stores zero 0 as it is
    Tensor scales = Tensor::empty({groups, c.out}, DType::F32);
    for (int64_t i = 0; i < groups * c.out; ++i)
      scales.data<float>()[i] = f16_to_f32(f32_to_f16(0.001f + static_cast<float>(rng() % 1000) * 1e-5f));
    nlohmann::json qc = c.autoawq_names ? nlohmann::json{{"quant_method", "awq"},
                                                         {"w_bit", 4},
                                                         {"q_group_size", c.group},
                                                         {"zero_point", true},
                                                         {"version", "GEMM"}}
                                        : nlohmann::json{{"quant_method", "awq"},
                                                         {"bits", 4},
                                                         {"group_size", c.group},
                                                         {"zero_point", true},
                                                         {"version", "gemm"}};
    TempDir dir;
    std::ofstream(dir.file("config.json"))
        << nlohmann::json{{"model_type", "llama"}, {"quantization_config", qc}}.dump();
    write_safetensors(dir.file("model.safetensors"), {{"layer.qweight", pack_awq(q, c.in, c.out)},
                                                      {"layer.qzeros", pack_awq(zero, groups, c.out)},
                                                      {"layer.scales", scales.to(DType::F16)}});
    auto store = WeightStore::open(dir.path());
    const CheckpointQuantization* cq = store->checkpoint_quantization();
    ASSERT_NE(cq, nullptr);
    EXPECT_EQ(cq->method, "awq");
    EXPECT_EQ(cq->group_size, c.group);
    EXPECT_TRUE(has_packed_layer(*store, "layer"));
    Tensor packed = checkpoint_packed_matrix(*store, "layer", c.out, c.in, *cq);
    EXPECT_EQ(packed.dtype(), c.group == 128 ? DType::Q4ZG128 : DType::Q4ZG32);
    Tensor w = dequantize_matrix(packed, c.in);
    for (int64_t j = 0; j < c.out; ++j)
      for (int64_t k = 0; k < c.in; ++k) {
        const size_t g = static_cast<size_t>((k / c.group) * c.out + j);
        const float want =
            scales.data<float>()[g] * static_cast<float>(q[static_cast<size_t>(k * c.out + j)] - zero[g]);
        ASSERT_EQ(w.data<float>()[j * c.in + k], want)
            << c.in << "x" << c.out << " g" << c.group << " j=" << j << " k=" << k;
      }
    // The interleaving matters: output 1 is nibble 4 of word 0, not nibble 1.
    if (c.out >= 8 && q[1] != q[2]) {
      EXPECT_NE(w.data<float>()[1 * c.in], scales.data<float>()[1] * static_cast<float>(q[2] - zero[1]));
    }
  }
}

TEST(AwqCheckpoint, RefusesWrongShapes) {
  TempDir dir;
  std::vector<int> q(64 * 16, 3), zero(2 * 16, 1);
  std::ofstream(dir.file("config.json")) << nlohmann::json{
      {"model_type", "llama"},
      {"quantization_config",
       {{"quant_method", "awq"},
        {"bits", 4},
        {"group_size", 32},
        {"version", "gemm"}}}}.dump();
  // GPTQ's orientation ([in / 8, out]) in an AWQ folder: refused naming the tensor and both shapes.
  write_safetensors(dir.file("model.safetensors"), {{"layer.qweight", Tensor::zeros({8, 16}, DType::I32)},
                                                    {"layer.qzeros", pack_awq(zero, 2, 16)},
                                                    {"layer.scales", Tensor::zeros({2, 16}, DType::F16)}});
  auto store = WeightStore::open(dir.path());
  expect_error([&] { checkpoint_packed_matrix(*store, "layer", 16, 64, *store->checkpoint_quantization()); },
               ErrorKind::Corrupt, {"layer.qweight", "[8, 16]", "[64, 2]"});
  expect_error([&] { checkpoint_packed_matrix(*store, "layer", 12, 64, *store->checkpoint_quantization()); },
               ErrorKind::Corrupt, {"outputs of 8"});
}

}  // namespace
}  // namespace ia
