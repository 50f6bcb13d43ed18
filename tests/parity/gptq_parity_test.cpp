// Pre-quantized GPTQ checkpoints (formats/checkpoint_quantization.h) load as they are and give
// the dequantized model's outputs within the stated tolerance (the engine quantizes activations
// per block of 32: docs/quantization.md):
// - the fixtures tools/fixtures/make_gptq_fixtures.py writes with transformers' references
//   (tests/fixtures/models/gptq-*; skipped where a folder is absent);
// - a GPTQ folder packed here from the llama fixture by the published rules, against the same
//   model with the dequantized weights stored in f32.
// Logits within 5% of the largest; top-1 along the reference's greedy path (teacher-forced).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "checkpoint_folder.h"
#include "formats/checkpoint_quantization.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "greedy_steps.h"
#include "models/decoder_lm.h"
#include "runtime/next_token_comparison.h"
#include "runtime/step_runner.h"

namespace ia {
namespace {

namespace fs = std::filesystem;

std::string fixture(const std::string& name) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + name;
}

std::unique_ptr<DecoderLM> load(const std::string& dir) {
  auto weights = WeightStore::open(dir);
  return DecoderLM::load(HfConfig::load(dir), *weights, DType::F32, Device::cpu());
}

// max |a - b| / max |b|.
double relative_max_diff(const Tensor& a, const Tensor& b) {
  double worst = 0, mag = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(a.data<float>()[i]) - b.data<float>()[i]));
    mag = std::max(mag, std::fabs(static_cast<double>(b.data<float>()[i])));
  }
  return worst / mag;
}

class GptqFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(GptqFixture, MatchesTheDequantizedModel) {
  const std::string dir = fixture(GetParam());
  if (!fs::exists(dir + "/reference.json"))
    GTEST_SKIP() << dir << " is absent (tools/fixtures/make_gptq_fixtures.py writes it)";
  std::ifstream f(dir + "/reference.json");
  const auto ref = nlohmann::json::parse(f);
  auto refs = SafetensorsFile::open(dir + "/reference.safetensors");
  auto model = load(dir);
  for (size_t i = 0; i < ref["generations"].size(); ++i) {
    const auto ids = ref["generations"][i]["input_ids"].get<std::vector<int32_t>>();
    const double rel =
        relative_max_diff(parity::prompt_logits(*model, ids), refs->tensor(fmt::format("prompt{}_logits", i)));
    EXPECT_LE(rel, ref["rtol_logits"].get<double>()) << GetParam() << " prompt " << i;
    // Teacher-forced along transformers' greedy path: our top-1 at each position against the
    // token the dequantized model chose there.
    const auto want = ref["generations"][i]["greedy_ids"].get<std::vector<int32_t>>();
    std::vector<int32_t> seq = ids;
    seq.insert(seq.end(), want.begin(), want.end() - 1);
    const Tensor logits = parity::prompt_logits(*model, seq);
    int same = 0;
    for (size_t t = 0; t < want.size(); ++t)
      same += parity::argmax_row(logits, static_cast<int64_t>(ids.size() - 1 + t)) == want[t];
    const double top1 = static_cast<double>(same) / static_cast<double>(want.size());
    std::cout << "[ gptq     ] " << GetParam() << " prompt " << i << ": logits within " << rel << " of max, top-1 "
              << top1 << " along transformers' greedy path\n";
    EXPECT_GE(top1, ref["min_top1"].get<double>()) << GetParam() << " prompt " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GptqFixture, ::testing::Values("gptq-llama-g32-sym", "gptq-llama-g32-asym"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

// ------------------------------------------------------------- packed here

// Writes `from`'s llama fixture twice: as a GPTQ checkpoint (group 32, asymmetric, "gptq" format:
// zeros stored minus one) into `gptq`, and with the dequantized weights in f32 into `plain`.
void write_gptq_pair(const std::string& from, const std::string& gptq, const std::string& plain) {
  constexpr int64_t G = 32;
  auto store = WeightStore::open(from);
  std::vector<std::pair<std::string, Tensor>> packed, dequantized;
  for (const std::string& name : store->names()) {
    Tensor w = store->get_as(name, DType::F32);
    const bool layer = name.find(".layers.") != std::string::npos && name.ends_with("_proj.weight");
    if (!layer) {
      packed.emplace_back(name, w);
      dequantized.emplace_back(name, w);
      continue;
    }
    const int64_t out = w.size(0), in = w.size(1), groups = in / G;
    const std::string base = name.substr(0, name.size() - 7);
    Tensor qweight = Tensor::zeros({in / 8, out}, DType::I32), qzeros = Tensor::zeros({groups, out / 8}, DType::I32);
    Tensor scales = Tensor::empty({groups, out}, DType::F32), deq = Tensor::empty({out, in}, DType::F32);
    auto set_nibble = [](Tensor& t, int64_t word, int i, int v) {
      auto* p = reinterpret_cast<uint32_t*>(t.data<int32_t>());
      p[word] |= static_cast<uint32_t>(v & 0xf) << (4 * i);
    };
    for (int64_t j = 0; j < out; ++j)
      for (int64_t g = 0; g < groups; ++g) {
        const float* v = w.data<float>() + j * in + g * G;
        float lo = 0, hi = 0;
        for (int64_t i = 0; i < G; ++i) lo = std::min(lo, v[i]), hi = std::max(hi, v[i]);
        const float s = f16_to_f32(f32_to_f16((hi - lo) / 15));
        const int z = static_cast<int>(std::clamp(std::nearbyint(-lo / s), 0.0f, 15.0f));
        scales.data<float>()[g * out + j] = s;
        set_nibble(qzeros, g * (out / 8) + j / 8, static_cast<int>(j % 8), z - 1);
        for (int64_t i = 0; i < G; ++i) {
          const int64_t k = g * G + i;
          const int q = static_cast<int>(std::clamp(std::nearbyint(v[i] / s) + z, 0.0f, 15.0f));
          set_nibble(qweight, (k / 8) * out + j, static_cast<int>(k % 8), q);
          deq.data<float>()[j * in + k] = s * static_cast<float>(q - z);
        }
      }
    Tensor g_idx = Tensor::empty({in}, DType::I32);
    for (int64_t k = 0; k < in; ++k) g_idx.data<int32_t>()[k] = static_cast<int32_t>(k / G);
    packed.emplace_back(base + ".qweight", qweight);
    packed.emplace_back(base + ".qzeros", qzeros);
    packed.emplace_back(base + ".scales", scales.to(DType::F16));
    packed.emplace_back(base + ".g_idx", g_idx);
    dequantized.emplace_back(name, deq);
  }
  parity::write_checkpoint_folder(from, gptq, packed,
                                  {{"quant_method", "gptq"},
                                   {"bits", 4},
                                   {"group_size", G},
                                   {"sym", false},
                                   {"desc_act", false},
                                   {"checkpoint_format", "gptq"}});
  parity::write_checkpoint_folder(from, plain, dequantized);
}

TEST(GptqCheckpoint, PackedLlamaMatchesItsDequantizedWeights) {
  parity::ScratchFolder gptq, plain;
  write_gptq_pair(fixture("llama"), gptq.path, plain.path);
  auto packed = load(gptq.path), reference = load(plain.path);
  // Packed: the layers shrink to about 4.75 bits a weight (the f32 head, as large as all the
  // layers of this tiny model, stays).
  EXPECT_LT(packed->weight_bytes_per_token(), reference->weight_bytes_per_token() * 0.6);
  std::ifstream f(fixture("llama") + "/reference.json");
  const auto ref = nlohmann::json::parse(f);
  for (size_t i = 0; i < ref["generations"].size(); ++i) {
    const auto ids = ref["generations"][i]["input_ids"].get<std::vector<int32_t>>();
    const double rel = relative_max_diff(parity::prompt_logits(*packed, ids), parity::prompt_logits(*reference, ids));
    EXPECT_LE(rel, 0.05) << "prompt " << i;
    EXPECT_GT(rel, 0.0) << "activations are quantized: not bit-exact";
    // Teacher-forced along the dequantized model's greedy path (the activations' rounding moves
    // a near tie of this random model now and then, so greedy paths may part).
    std::vector<int32_t> seq = ids;
    const auto cont = parity::greedy_steps(*reference, ids, 24);
    seq.insert(seq.end(), cont.begin(), cont.end());
    const NextTokenComparison r = compare_next_tokens(*reference, *packed, seq, static_cast<int64_t>(seq.size()));
    std::cout << "[ gptq     ] packed llama prompt " << i << ": logits within " << rel << " of max, top-1 "
              << r.top1_agreement << ", KL mean " << r.kl_mean << "\n";
    EXPECT_GE(r.top1_agreement, 0.85) << "prompt " << i;
    EXPECT_LE(r.kl_mean, 1e-3) << "prompt " << i;
  }
}

}  // namespace
}  // namespace ia
