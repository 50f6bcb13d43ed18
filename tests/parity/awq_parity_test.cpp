// Pre-quantized AWQ checkpoints (formats/checkpoint_quantization.h): the llama fixture packed
// here as AutoAWQ's GEMM folders (qweight int32 [in, out / 8] with the interleaved nibble order
// [0, 2, 4, 6, 1, 3, 5, 7], qzeros likewise, f16 scales [in / G, out]):
// - groups of 32 from the very grid `--quantize q4z` packs: loaded with `--quantize q4z` (for the
//   head), the logits equal the source's under `--quantize q4z` bit for bit;
// - groups of 64 (loaded as pairs of groups of 32) from a min-max grid, against the same model
//   with the dequantized weights in f32: logits within 5% of the largest, and along the
//   reference's greedy path top-1 at least 0.85 and mean KL at most 0.001 (as the GPTQ test).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "checkpoint_folder.h"
#include "core/quantization.h"
#include "formats/checkpoint_quantization.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "greedy_steps.h"
#include "models/model_registry.h"
#include "runtime/next_token_comparison.h"
#include "runtime/step_runner.h"

namespace ia {
namespace {

namespace fs = std::filesystem;

const std::string kLlama = std::string(IA_FIXTURES_DIR) + "/models/llama";

std::unique_ptr<CausalLM> load(const std::string& dir, const std::string& method = "") {
  auto weights = WeightStore::open(dir);
  weights->set_quantization(weight_quantization(method));
  return load_causal_lm(HfConfig::load(dir), *weights, DType::F32, Device::cpu());
}

// AutoAWQ's pack_awq: values [rows][out] into int32 [rows, out / 8], output 8c + order[i] in
// bits 4i..4i+3 of word c.
Tensor pack_awq(const std::vector<int>& v, int64_t rows, int64_t out) {
  static constexpr int kOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  Tensor t = Tensor::zeros({rows, out / 8}, DType::I32);
  auto* p = reinterpret_cast<uint32_t*>(t.data<int32_t>());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < out / 8; ++c)
      for (int i = 0; i < 8; ++i)
        p[r * (out / 8) + c] |= static_cast<uint32_t>(v[static_cast<size_t>(r * out + c * 8 + kOrder[i])]) << (4 * i);
  return t;
}

// One layer's grid: q [in][out], zero and scale [groups][out].
struct Grid {
  std::vector<int> q, zero;
  std::vector<float> scale;
};

// The min-max grid with zero point over groups of G (GPTQ's and AWQ's asymmetric rule).
Grid min_max_grid(const Tensor& w, int64_t G) {
  const int64_t out = w.size(0), in = w.size(1), groups = in / G;
  Grid g{std::vector<int>(static_cast<size_t>(in * out)), std::vector<int>(static_cast<size_t>(groups * out)),
         std::vector<float>(static_cast<size_t>(groups * out))};
  for (int64_t j = 0; j < out; ++j)
    for (int64_t gi = 0; gi < groups; ++gi) {
      const float* v = w.data<float>() + j * in + gi * G;
      float lo = 0, hi = 0;
      for (int64_t i = 0; i < G; ++i) lo = std::min(lo, v[i]), hi = std::max(hi, v[i]);
      const float s = f16_to_f32(f32_to_f16((hi - lo) / 15));
      const int z = static_cast<int>(std::clamp(std::nearbyint(-lo / s), 0.0f, 15.0f));
      g.scale[static_cast<size_t>(gi * out + j)] = s;
      g.zero[static_cast<size_t>(gi * out + j)] = z;
      for (int64_t i = 0; i < G; ++i)
        g.q[static_cast<size_t>((gi * G + i) * out + j)] =
            static_cast<int>(std::clamp(std::nearbyint(v[i] / s) + static_cast<float>(z), 0.0f, 15.0f));
    }
  return g;
}

// The grid `--quantize q4z` packs (core/quantization.h), read out of its rows.
Grid q4z_grid(const Tensor& w) {
  const int64_t out = w.size(0), in = w.size(1), groups = in / 32;
  const Tensor packed = quantize_matrix(w, DType::Q4ZG32);
  const int64_t rb = packed.size(1);
  Grid g{std::vector<int>(static_cast<size_t>(in * out)), std::vector<int>(static_cast<size_t>(groups * out)),
         std::vector<float>(static_cast<size_t>(groups * out))};
  for (int64_t j = 0; j < out; ++j) {
    const uint8_t* row = packed.data<uint8_t>() + j * rb;
    for (int64_t k = 0; k < in; ++k) {
      const uint8_t b = row[k / 64 * 32 + k % 32];
      g.q[static_cast<size_t>(k * out + j)] = k % 64 < 32 ? (b & 0xf) : (b >> 4);
    }
    for (int64_t gi = 0; gi < groups; ++gi) {
      uint16_t s;
      std::memcpy(&s, row + quant_scales_offset(DType::Q4ZG32, in) + 2 * gi, 2);
      g.scale[static_cast<size_t>(gi * out + j)] = f16_to_f32(s);
      g.zero[static_cast<size_t>(gi * out + j)] = row[quant_zeros_offset(DType::Q4ZG32, in) + gi];
    }
  }
  return g;
}

// Writes the llama fixture as an AWQ folder of groups of G into `awq`, each layer's grid made
// by `grid`, and (when `plain` is not empty) with the dequantized weights in f32 into `plain`.
void write_awq(const std::string& awq, const std::string& plain, int64_t G,
               const std::function<Grid(const Tensor&)>& grid) {
  auto store = WeightStore::open(kLlama);
  std::vector<std::pair<std::string, Tensor>> packed, dequantized;
  for (const std::string& name : store->names()) {
    Tensor w = store->get_as(name, DType::F32);
    if (name.find(".layers.") == std::string::npos || !name.ends_with("_proj.weight")) {
      packed.emplace_back(name, w);
      dequantized.emplace_back(name, w);
      continue;
    }
    const int64_t out = w.size(0), in = w.size(1), groups = in / G;
    const std::string base = name.substr(0, name.size() - 7);
    const Grid g = grid(w);
    Tensor scales = Tensor::empty({groups, out}, DType::F32), deq = Tensor::empty({out, in}, DType::F32);
    std::copy(g.scale.begin(), g.scale.end(), scales.data<float>());
    for (int64_t j = 0; j < out; ++j)
      for (int64_t k = 0; k < in; ++k) {
        const size_t gi = static_cast<size_t>((k / G) * out + j);
        deq.data<float>()[j * in + k] =
            g.scale[gi] * static_cast<float>(g.q[static_cast<size_t>(k * out + j)] - g.zero[gi]);
      }
    packed.emplace_back(base + ".qweight", pack_awq(g.q, in, out));
    packed.emplace_back(base + ".qzeros", pack_awq(g.zero, groups, out));
    packed.emplace_back(base + ".scales", scales.to(DType::F16));
    dequantized.emplace_back(name, deq);
  }
  parity::write_checkpoint_folder(kLlama, awq, packed,
                                  {{"quant_method", "awq"},
                                   {"bits", 4},
                                   {"group_size", G},
                                   {"zero_point", true},
                                   {"version", "gemm"},
                                   {"modules_to_not_convert", nullptr}});
  if (!plain.empty()) parity::write_checkpoint_folder(kLlama, plain, dequantized);
}

TEST(AwqCheckpoint, Group32EqualsQuantizeQ4zBitForBit) {
  parity::ScratchFolder awq;
  write_awq(awq.path, "", 32, q4z_grid);
  auto from_awq = load(awq.path, "q4z"), at_load = load(kLlama, "q4z");
  std::ifstream f(kLlama + "/reference.json");
  const auto ref = nlohmann::json::parse(f);
  for (size_t i = 0; i < ref["generations"].size(); ++i) {
    const auto ids = ref["generations"][i]["input_ids"].get<std::vector<int32_t>>();
    const Tensor a = parity::prompt_logits(*from_awq, ids), b = parity::prompt_logits(*at_load, ids);
    ASSERT_EQ(a.numel(), b.numel());
    int64_t differ = 0;
    for (int64_t e = 0; e < a.numel(); ++e) differ += a.data<float>()[e] != b.data<float>()[e];
    EXPECT_EQ(differ, 0) << "prompt " << i;
  }
}

TEST(AwqCheckpoint, Group64MatchesItsDequantizedWeights) {
  parity::ScratchFolder awq, plain;
  write_awq(awq.path, plain.path, 64, [](const Tensor& w) { return min_max_grid(w, 64); });
  auto packed = load(awq.path), reference = load(plain.path);
  EXPECT_LT(packed->weight_bytes_per_token(), reference->weight_bytes_per_token() * 0.6);
  std::ifstream f(kLlama + "/reference.json");
  const auto ref = nlohmann::json::parse(f);
  for (size_t i = 0; i < ref["generations"].size(); ++i) {
    const auto ids = ref["generations"][i]["input_ids"].get<std::vector<int32_t>>();
    const Tensor a = parity::prompt_logits(*packed, ids), b = parity::prompt_logits(*reference, ids);
    double worst = 0, mag = 0;
    for (int64_t e = 0; e < b.numel(); ++e) {
      worst = std::max(worst, std::fabs(static_cast<double>(a.data<float>()[e]) - b.data<float>()[e]));
      mag = std::max(mag, std::fabs(static_cast<double>(b.data<float>()[e])));
    }
    EXPECT_LE(worst / mag, 0.05) << "prompt " << i;
    std::vector<int32_t> seq = ids;
    const auto cont = parity::greedy_steps(*reference, ids, 24);
    seq.insert(seq.end(), cont.begin(), cont.end());
    const NextTokenComparison r = compare_next_tokens(*reference, *packed, seq, static_cast<int64_t>(seq.size()));
    std::cout << "[ awq      ] g64 llama prompt " << i << ": logits within " << worst / mag << " of max, top-1 "
              << r.top1_agreement << ", KL mean " << r.kl_mean << "\n";
    EXPECT_GE(r.top1_agreement, 0.85) << "prompt " << i;
    EXPECT_LE(r.kl_mean, 1e-3) << "prompt " << i;
  }
}

}  // namespace
}  // namespace ia
