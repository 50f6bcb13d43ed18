// `ipfs-accelerate quantize` round trip (formats/gptq_export.h): each shared decoder fixture
// (llama, gpt2, qwen2) written as a GPTQ folder by every method, then loaded again with
// `--quantize` of the same method (which packs what the folder leaves unpacked: the head, and
// layers the method's group does not fit), against the source loaded with `--quantize`:
// - 4-bit methods: the folder holds the very grid `--quantize` packs, so the logits are equal
//   bit for bit;
// - int8: GPTQ keeps f16 scales, so the grid is within one f16 rounding of the scale: the
//   logits within 2% of the largest (llama: 1.03%).
// Every method against f32 along f32's greedy path (teacher-forced): top-1 and mean KL bounds.
// The written tensors are also unpacked here by hand from GPTQ's packing rule, independently of
// the loader, and compared with the grid packed from the source weights.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "checkpoint_folder.h"
#include "core/quantization.h"
#include "formats/gptq_export.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "greedy_steps.h"
#include "models/model_registry.h"
#include "runtime/next_token_comparison.h"
#include "runtime/step_runner.h"

namespace ia {
namespace {

namespace fs = std::filesystem;

std::string fixture(const std::string& name) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + name;
}

struct Loaded {
  std::shared_ptr<WeightStore> store;
  std::unique_ptr<CausalLM> model;
  std::vector<WeightStore::PackedLayer> layers;
};

Loaded load(const std::string& dir, const std::string& method) {
  Loaded l;
  l.store = WeightStore::open(dir);
  l.store->set_quantization(weight_quantization(method));
  l.store->record_packed_layers_to(&l.layers);
  l.model = load_causal_lm(HfConfig::load(dir), *l.store, DType::F32, Device::cpu());
  l.store->record_packed_layers_to(nullptr);
  return l;
}

double relative_max_diff(const Tensor& a, const Tensor& b) {
  double worst = 0, mag = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(a.data<float>()[i]) - b.data<float>()[i]));
    mag = std::max(mag, std::fabs(static_cast<double>(b.data<float>()[i])));
  }
  return worst / mag;
}

// Unpacks every packed layer of the folder by GPTQ's rule (nothing of our loader) and compares
// it with the source weights packed by `method`'s grid.
void expect_gptq_layout(const std::string& folder, const Loaded& source, const std::string& method) {
  auto st = SafetensorsFile::open(folder + "/model.safetensors");
  const nlohmann::json qc = nlohmann::json::parse(std::ifstream(folder + "/config.json"))["quantization_config"];
  const int bits = qc["bits"].get<int>(), per_word = 32 / bits;
  const uint32_t mask = (1u << bits) - 1;
  const bool minus_one = qc["checkpoint_format"] == "gptq";
  const WeightQuantization wq = weight_quantization(method);
  int checked = 0;
  for (const WeightStore::PackedLayer& l : source.layers) {
    const std::string base = l.name.substr(0, l.name.size() - 7);
    if (!st->has(base + ".qweight")) {
      EXPECT_TRUE(st->has(l.name)) << base << " is neither packed nor kept";
      continue;
    }
    Tensor f = source.store->get_as(l.name, DType::F32);
    if (l.in_out) f = f.transpose(0, 1).contiguous();
    const Tensor want =
        dequantize_matrix(*wq.layers == DType::Q8 ? quantize_q8_f16_scale(f) : quantize_matrix(f, *wq.layers), l.in);
    const Tensor qweight = st->tensor(base + ".qweight"), qzeros = st->tensor(base + ".qzeros");
    const Tensor scales = st->tensor(base + ".scales").to(DType::F32), g_idx = st->tensor(base + ".g_idx");
    ASSERT_EQ(qweight.shape(), (Shape{l.in / per_word, l.out})) << base;
    const auto word = [](const Tensor& t, int64_t i) { return static_cast<uint32_t>(t.data<int32_t>()[i]); };
    for (int64_t j = 0; j < l.out; ++j)
      for (int64_t k = 0; k < l.in; ++k) {
        const int64_t g = g_idx.data<int32_t>()[k];
        const auto q = static_cast<int>((word(qweight, (k / per_word) * l.out + j) >> (bits * (k % per_word))) & mask);
        const int z =
            static_cast<int>((word(qzeros, g * (l.out / per_word) + j / per_word) >> (bits * (j % per_word))) & mask) +
            (minus_one ? 1 : 0);
        const float v = scales.data<float>()[g * l.out + j] * static_cast<float>(q - z);
        ASSERT_EQ(v, want.data<float>()[j * l.in + k]) << folder << " " << base << " j=" << j << " k=" << k;
      }
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

using Case = std::tuple<const char*, const char*>;
class QuantizeRoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(QuantizeRoundTrip, FolderLoadsAsQuantizeAtLoad) {
  const auto [name, method] = GetParam();
  const std::string src = fixture(name);
  const Loaded at_load = load(src, method);
  parity::ScratchFolder tmp;
  const std::string out = tmp.path + "/model";
  const GptqExportSummary s = write_gptq_folder(*at_load.store, at_load.layers, method, out, false);
  EXPECT_FALSE(s.packed.empty());
  expect_gptq_layout(out, at_load, method);
  const Loaded folder = load(out, method);
  ASSERT_NE(folder.store->checkpoint_quantization(), nullptr);
  // What the folder holds packed is not packed again: the recorder sees only the kept layers.
  EXPECT_EQ(folder.layers.size(), s.kept.size());
  const Loaded f32 = load(src, "");

  std::ifstream rf(src + "/reference.json");
  const auto ref = nlohmann::json::parse(rf);
  const bool int8 = std::string(method) == "int8";
  for (size_t i = 0; i < ref["generations"].size(); ++i) {
    const auto ids = ref["generations"][i]["input_ids"].get<std::vector<int32_t>>();
    const Tensor a = parity::prompt_logits(*folder.model, ids), b = parity::prompt_logits(*at_load.model, ids);
    if (int8) {
      EXPECT_LE(relative_max_diff(a, b), 0.02) << name << " prompt " << i;
    } else {
      int64_t differ = 0;
      for (int64_t e = 0; e < a.numel(); ++e) differ += a.data<float>()[e] != b.data<float>()[e];
      EXPECT_EQ(differ, 0) << name << " " << method << " prompt " << i << ": logits not bit-identical";
    }
    std::vector<int32_t> seq = ids;
    const auto cont = parity::greedy_steps(*f32.model, ids, 24);
    seq.insert(seq.end(), cont.begin(), cont.end());
    const NextTokenComparison r = compare_next_tokens(*f32.model, *folder.model, seq, static_cast<int64_t>(seq.size()));
    std::cout << "[ quantize ] " << name << " " << method << " prompt " << i << ": top-1 " << r.top1_agreement
              << ", KL mean " << r.kl_mean << " (" << s.packed.size() << " packed, " << s.kept.size() << " kept)\n";
    EXPECT_GE(r.top1_agreement, int8 ? 0.9 : 0.75) << name << " " << method << " prompt " << i;
    EXPECT_LE(r.kl_mean, int8 ? 0.001 : 0.01) << name << " " << method << " prompt " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, QuantizeRoundTrip,
                         ::testing::Combine(::testing::Values("llama", "gpt2", "qwen2"),
                                            ::testing::Values("int8", "q4", "q4_128", "q4z", "q4z_128")),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param)) + "_" + std::get<1>(info.param);
                         });

}  // namespace
}  // namespace ia
