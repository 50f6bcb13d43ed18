// Writing GPTQ checkpoints (formats/gptq_export.h): the tensors unpacked here by hand from
// GPTQ's published packing rules (AutoGPTQ's pack: input (32 / bits) r + i of output j in bits
// bits*i.. of qweight[r, j]; zeros packed along the outputs, stored minus one in the "gptq"
// format; f16 scales; g_idx = input / group) give back exactly the grid that was packed, and a
// folder is written whole or not at all.
#include "formats/gptq_export.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "core/quantization.h"
#include "formats/checkpoint_quantization.h"
#include "formats/json_messages.h"
#include "formats/safetensors.h"
#include "unit/formats/formats_test_util.h"

namespace ia {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::TempDir;

Tensor random_matrix(int64_t out, int64_t in, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.05f);
  Tensor w = Tensor::empty({out, in}, DType::F32);
  for (int64_t i = 0; i < out * in; ++i) w.data<float>()[i] = d(rng);
  return w;
}

uint32_t bits_of(const Tensor& t, int64_t word, int shift, uint32_t mask) {
  return (static_cast<uint32_t>(t.data<int32_t>()[word]) >> shift) & mask;
}

TEST(GptqExport, LayerTensorsFollowThePackingRule) {
  const int64_t out = 24, in = 256;
  const Tensor w = random_matrix(out, in, 3);
  for (DType t : {DType::Q8, DType::Q4G32, DType::Q4G128, DType::Q4ZG32, DType::Q4ZG128}) {
    const Tensor packed = t == DType::Q8 ? quantize_q8_f16_scale(w) : quantize_matrix(w, t);
    ASSERT_TRUE(gptq_v1_storable(packed, in));
    const GptqLayerTensors g = gptq_layer_tensors(packed, in, /*zeros_minus_one=*/true);
    const int bits = t == DType::Q8 ? 8 : 4, per_word = 32 / bits;
    const int64_t group = t == DType::Q8 ? in : quant_group_size(t), groups = in / group;
    const uint32_t mask = (1u << bits) - 1;
    ASSERT_EQ(g.qweight.shape(), (Shape{in / per_word, out}));
    ASSERT_EQ(g.qweight.dtype(), DType::I32);
    ASSERT_EQ(g.qzeros.shape(), (Shape{groups, out / per_word}));
    ASSERT_EQ(g.scales.shape(), (Shape{groups, out}));
    ASSERT_EQ(g.scales.dtype(), DType::F16);
    ASSERT_EQ(g.g_idx.shape(), (Shape{in}));
    const Tensor want = dequantize_matrix(packed, in);
    for (int64_t j = 0; j < out; ++j)
      for (int64_t k = 0; k < in; ++k) {
        const int64_t gi = k / group;
        ASSERT_EQ(g.g_idx.data<int32_t>()[k], gi);
        const auto q = static_cast<int>(bits_of(g.qweight, (k / per_word) * out + j, bits * (k % per_word), mask));
        const int zero =
            static_cast<int>(bits_of(g.qzeros, gi * (out / per_word) + j / per_word, bits * (j % per_word), mask)) + 1;
        const float scale = f16_to_f32(g.scales.data<uint16_t>()[gi * out + j]);
        ASSERT_EQ(scale * static_cast<float>(q - zero), want.data<float>()[j * in + k])
            << dtype_name(t) << " j=" << j << " k=" << k;
        if (t == DType::Q8 || t == DType::Q4G32 || t == DType::Q4G128) {
          ASSERT_EQ(zero, t == DType::Q8 ? 128 : 8) << "symmetric grids store the middle zero";
        }
      }
  }
}

TEST(GptqExport, Int8GridIsWithinOneF16RoundingOfQ8) {
  const int64_t out = 8, in = 96;
  const Tensor w = random_matrix(out, in, 5);
  const Tensor ours = dequantize_matrix(quantize_matrix(w, DType::Q8), in);
  const Tensor gptq = dequantize_matrix(quantize_q8_f16_scale(w), in);
  for (int64_t j = 0; j < out; ++j) {
    float amax = 0;
    for (int64_t k = 0; k < in; ++k) amax = std::max(amax, std::fabs(w.data<float>()[j * in + k]));
    for (int64_t k = 0; k < in; ++k) {
      const float diff = std::fabs(ours.data<float>()[j * in + k] - gptq.data<float>()[j * in + k]);
      EXPECT_LE(diff, amax / 127 * 1.01f) << j << " " << k;  // at most one quantization step of the row
    }
  }
}

TEST(GptqExport, ZeroPointZeroNeedsTheV2Format) {
  Tensor w = Tensor::empty({8, 32}, DType::F32);
  for (int64_t i = 0; i < 8 * 32; ++i) w.data<float>()[i] = 0.01f + static_cast<float>(i % 32) * 1e-3f;  // all > 0
  const Tensor packed = quantize_matrix(w, DType::Q4ZG32);
  EXPECT_FALSE(gptq_v1_storable(packed, 32));
  expect_error([&] { gptq_layer_tensors(packed, 32, true); }, ErrorKind::InvalidArgument, {"zero point 0", "gptq"});
  const GptqLayerTensors v2 = gptq_layer_tensors(packed, 32, false);
  EXPECT_EQ(bits_of(v2.qzeros, 0, 0, 0xf), 0u);
}

// A plain folder: a block with a layer of 128 inputs and one of 64, embeddings, a norm, a
// tokenizer file and a sub folder.
struct PlainFolder {
  TempDir dir;
  PlainFolder() {
    std::ofstream(dir.file("config.json")) << R"({"model_type": "llama", "hidden_size": 64})";
    std::ofstream(dir.file("tokenizer.json")) << R"({"stand-in": true})";
    fs::create_directory(dir.file("extra"));
    std::ofstream(dir.file("extra/notes.txt")) << "kept";
    write_safetensors(dir.file("model.safetensors"),
                      {{"model.layers.0.mlp.down_proj.weight", random_matrix(16, 128, 1)},
                       {"model.layers.0.self_attn.q_proj.weight", random_matrix(16, 64, 2)},
                       {"model.embed_tokens.weight", random_matrix(10, 64, 4)},
                       {"model.norm.weight", Tensor::zeros({64}, DType::F32)}});
  }
  std::vector<WeightStore::PackedLayer> layers() const {
    return {{"model.layers.0.mlp.down_proj.weight", 16, 128, false},
            {"model.layers.0.self_attn.q_proj.weight", 16, 64, false}};
  }
};

std::vector<std::string> leftovers(const std::string& parent) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(parent))
    if (e.path().filename().string().find(".quantize-") != std::string::npos) out.push_back(e.path().string());
  return out;
}

TEST(GptqExport, WritesAWholeFolderOrNothing) {
  PlainFolder src;
  auto store = WeightStore::open(src.dir.path());
  TempDir parent;
  const std::string out = parent.file("q");
  const GptqExportSummary s = write_gptq_folder(*store, src.layers(), "q4z_128", out, false);
  EXPECT_EQ(s.checkpoint_format, "gptq");
  EXPECT_EQ(s.packed, std::vector<std::string>{"model.layers.0.mlp.down_proj"});
  EXPECT_EQ(s.kept, std::vector<std::string>{"model.layers.0.self_attn.q_proj"});  // 64 inputs: no group of 128
  EXPECT_EQ(s.bytes, static_cast<int64_t>(fs::file_size(out + "/model.safetensors")));
  EXPECT_TRUE(leftovers(parent.path()).empty());
  EXPECT_TRUE(fs::exists(out + "/tokenizer.json"));
  EXPECT_TRUE(fs::exists(out + "/extra/notes.txt"));
  const nlohmann::json config = read_json_file(out + "/config.json");
  const nlohmann::json& qc = config["quantization_config"];
  EXPECT_EQ(config["hidden_size"], 64);
  EXPECT_EQ(qc["quant_method"], "gptq");
  EXPECT_EQ(qc["bits"], 4);
  EXPECT_EQ(qc["group_size"], 128);
  EXPECT_EQ(qc["sym"], false);
  EXPECT_EQ(qc["desc_act"], false);
  EXPECT_EQ(qc["checkpoint_format"], "gptq");
  EXPECT_EQ(qc["modules_in_block_to_quantize"], nlohmann::json::parse(R"([["mlp.down_proj"]])"));
  EXPECT_TRUE(qc["dynamic"].contains("-:.*\\.self_attn\\.q_proj$")) << qc.dump();
  EXPECT_EQ(read_json_file(out + "/quantize_config.json"), qc);
  auto written = WeightStore::open(out);
  EXPECT_TRUE(written->has("model.layers.0.mlp.down_proj.qweight"));
  EXPECT_FALSE(written->has("model.layers.0.mlp.down_proj.weight"));
  EXPECT_TRUE(written->has("model.layers.0.self_attn.q_proj.weight"));
  EXPECT_EQ(written->info("model.embed_tokens.weight").st_dtype, "F32");
  EXPECT_EQ(gptq_tensor_bytes(*store, src.layers(), "q4z_128"), static_cast<int64_t>(written->total_bytes()));

  // An existing non-empty folder is refused unless --force, which replaces it whole.
  expect_error([&] { write_gptq_folder(*store, src.layers(), "int8", out, false); }, ErrorKind::InvalidArgument,
               {"not empty", "--force"});
  const GptqExportSummary s8 = write_gptq_folder(*store, src.layers(), "int8", out, true);
  EXPECT_EQ(s8.bits, 8);
  EXPECT_EQ(s8.packed.size(), 2u);
  EXPECT_EQ(read_json_file(out + "/config.json")["quantization_config"]["group_size"], -1);
  EXPECT_TRUE(leftovers(parent.path()).empty());

  // Already quantized: refused.
  auto quantized = WeightStore::open(out);
  expect_error([&] { write_gptq_folder(*quantized, {}, "q4", parent.file("again"), false); },
               ErrorKind::InvalidArgument, {"already quantized"});
  // A failure while writing leaves neither the folder nor its temporary.
  fs::create_symlink(src.dir.file("missing"), src.dir.file("dangling"));
  EXPECT_ANY_THROW(write_gptq_folder(*store, src.layers(), "q4", parent.file("broken"), false));
  EXPECT_FALSE(fs::exists(parent.file("broken")));
  EXPECT_TRUE(leftovers(parent.path()).empty());
}

}  // namespace
}  // namespace ia
