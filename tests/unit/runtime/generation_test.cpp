// The generation loop on the tiny fixture decoders: KV-cache decode equals full
// recompute, batched equals one-by-one, streaming concatenates to the final
// text, stop strings across token boundaries, seeded sampling is reproducible.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "runtime/embedding_endpoint.h"
#include "runtime/generation.h"
#include "runtime/step_runner.h"

namespace ia {
namespace {

std::string fixture(const std::string& f) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + f;
}

// Length of the longest prefix of `text` that is complete UTF-8 and does not end in U+FFFD
// (a byte-level decoder's stand-in for a partial character): where a test may cut generated
// text into a stop string. (The generation loop itself holds partial characters in
// tok::DecodeStream.)
size_t stable_utf8_prefix(const std::string& s) {
  size_t i = 0, last_complete = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 1;
    if (i + len > s.size()) break;
    i += len;
    last_complete = i;
  }
  // A trailing U+FFFD is usually a character whose bytes are still arriving.
  static const std::string kReplacement = "\xEF\xBF\xBD";
  while (last_complete >= 3 && s.compare(last_complete - 3, 3, kReplacement) == 0) last_complete -= 3;
  return last_complete;
}

class Generation : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override { gen_ = Generator::load(fixture(GetParam()), Device::cpu(), DType::F32); }
  std::shared_ptr<Generator> gen_;
};

TEST_P(Generation, KvDecodeEqualsFullRecomputeEachStep) {
  const CausalLM& m = gen_->model();
  // Long enough (>= 16 tokens) that the full recompute takes the CPU's GEMM attention path
  // while the cached steps take the per-row decode path.
  std::vector<int32_t> ids =
      gen_->tokenizer()
          .encode("The meaning of life is a question that people have asked for a very long time, and")
          .ids;
  ASSERT_GE(ids.size(), 16u);
  auto cache = m.make_cache(16, 4);
  const int64_t seq = cache->create_sequence();
  Tensor step = CausalStepRunner(m).step({SeqChunk{seq, ids}}, *cache);
  for (int i = 0; i < 10; ++i) {
    auto full_cache = m.make_cache(16, 4);
    Tensor full = CausalStepRunner(m).step({SeqChunk{full_cache->create_sequence(), ids}}, *full_cache);
    double worst = 0;
    for (int64_t k = 0; k < full.numel(); ++k)
      worst = std::max(worst, std::fabs(double(full.data<float>()[k]) - step.data<float>()[k]));
    EXPECT_LT(worst, 1e-4) << "step " << i;
    const float* p = step.data<float>();
    ids.push_back(static_cast<int32_t>(std::max_element(p, p + step.size(1)) - p));
    step = CausalStepRunner(m).step({SeqChunk{seq, std::span<const int32_t>(&ids.back(), 1)}}, *cache);
  }
}

TEST_P(Generation, BatchedEqualsOneByOne) {
  GenerationRequest req;
  req.max_new_tokens = 12;
  req.temperature = 0.8f;
  req.seed = 1234;
  req.ignore_eos = true;
  const std::vector<std::string> prompts = {"Hello world", "The meaning of life is", "a"};
  auto batch = gen_->generate(prompts, req);
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto one = gen_->generate({prompts[i]}, req);
    EXPECT_EQ(batch[i].ids, one[0].ids) << i;
    EXPECT_EQ(batch[i].text, one[0].text) << i;
  }
}

TEST_P(Generation, StreamingConcatenationEqualsFinalText) {
  GenerationRequest req;
  req.max_new_tokens = 24;
  req.temperature = 0;
  req.ignore_eos = true;
  std::vector<std::string> parts(2);
  auto r = gen_->generate({"Hello world", "日本語"}, req, [&](size_t i, const std::string& d) { parts[i] += d; });
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(parts[i], r[i].text) << i;
    EXPECT_EQ(r[i].finish_reason, "length");
    EXPECT_EQ(r[i].ids.size(), 24u);
  }
}

TEST_P(Generation, CancelledBetweenTokensKeepsTheTextSoFar) {
  GenerationRequest req;
  req.max_new_tokens = 24;
  req.temperature = 0;
  req.ignore_eos = true;
  const GenerationResult full = gen_->generate({"Hello world"}, req)[0];
  // Asked before every decode step: true on the 5th ask ends the reply with 5 tokens.
  int asked = 0;
  req.cancelled = [&] { return ++asked >= 5; };
  std::string streamed;
  const GenerationResult r =
      gen_->generate({"Hello world"}, req, [&](size_t, const std::string& d) { streamed += d; })[0];
  EXPECT_EQ(r.finish_reason, "cancelled");
  ASSERT_EQ(r.ids.size(), 5u);
  EXPECT_EQ(std::vector<int32_t>(full.ids.begin(), full.ids.begin() + 5), r.ids);
  EXPECT_EQ(r.text, gen_->tokenizer().decode(r.ids, /*skip_special_tokens=*/true));
  EXPECT_EQ(streamed, r.text);
}

TEST_P(Generation, StopStringAcrossTokenBoundaries) {
  GenerationRequest req;
  req.max_new_tokens = 24;
  req.temperature = 0;
  req.ignore_eos = true;
  GenerationResult full = gen_->generate({"The meaning of life is"}, req)[0];
  // A stop string that starts inside one token's text and ends in a later one.
  std::string text = full.text;
  size_t from = stable_utf8_prefix(text.substr(0, text.size() / 3));
  std::string stop = text.substr(from, std::min<size_t>(5, text.size() - from));
  if (stable_utf8_prefix(stop) != stop.size() || stop.empty()) GTEST_SKIP() << "no clean stop string in this text";
  req.stop = {stop};
  std::string streamed;
  GenerationResult r =
      gen_->generate({"The meaning of life is"}, req, [&](size_t, const std::string& d) { streamed += d; })[0];
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.text, text.substr(0, text.find(stop)));
  EXPECT_EQ(streamed, r.text);
  EXPECT_LT(r.ids.size(), full.ids.size());
}

TEST_P(Generation, SeededSamplingReproducibleAndTopK1IsGreedy) {
  GenerationRequest req;
  req.max_new_tokens = 10;
  req.ignore_eos = true;
  req.temperature = 1.0f;
  req.seed = 99;
  auto a = gen_->generate({"Hello world"}, req), b = gen_->generate({"Hello world"}, req);
  EXPECT_EQ(a[0].ids, b[0].ids);
  req.top_k = 1;
  auto k1 = gen_->generate({"Hello world"}, req);
  GenerationRequest greedy;
  greedy.max_new_tokens = 10;
  greedy.ignore_eos = true;
  greedy.temperature = 0;
  EXPECT_EQ(k1[0].ids, gen_->generate({"Hello world"}, greedy)[0].ids);
}

TEST_P(Generation, TokensChosenOnTheDeviceEqualTheHostSamplersOverWholeRows) {
  // Greedy ids (argmax on the device) and top-k sampling from the k largest logits (the device's
  // top_k) choose what the host sampler chooses from whole logits rows, draw for draw.
  auto run = [&](bool on_device, const GenerationRequest& req) {
    setenv("IA_SAMPLE_ON_DEVICE", on_device ? "1" : "0", 1);
    auto r = gen_->generate({"Hello world", "The quick brown fox jumps", "a"}, req);
    unsetenv("IA_SAMPLE_ON_DEVICE");
    return r;
  };
  GenerationRequest req;
  req.max_new_tokens = 16;
  req.ignore_eos = true;
  req.seed = 7;
  const struct {
    float t;
    int64_t k;
    float p;
  } cases[] = {{0.0f, 50, 1.0f}, {0.7f, 5, 1.0f}, {1.5f, 40, 0.9f}, {1.0f, 1, 1.0f}};
  for (const auto& c : cases) {
    req.temperature = c.t;
    req.top_k = c.k;
    req.top_p = c.p;
    const auto device = run(true, req), host = run(false, req);
    for (size_t i = 0; i < host.size(); ++i)
      EXPECT_EQ(device[i].ids, host[i].ids) << "t " << c.t << " top_k " << c.k << " top_p " << c.p << " prompt " << i;
  }
}

TEST_P(Generation, BadRequestsAreInvalidArgument) {
  GenerationRequest req;
  req.max_new_tokens = 0;
  EXPECT_THROW(gen_->generate({"hi"}, req), Error);
  req.max_new_tokens = 4;
  req.temperature = -1;
  EXPECT_THROW(gen_->generate({"hi"}, req), Error);
  req.temperature = 1;
  req.top_p = 0;
  EXPECT_THROW(gen_->generate({"hi"}, req), Error);
  std::vector<int32_t> too_long(static_cast<size_t>(gen_->model().config().max_positions + 5), 3);
  GenerationRequest ok;
  ok.max_new_tokens = 2;
  try {
    gen_->generate_ids({too_long}, ok);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
  }
  ok.truncate_prompt = true;
  auto r = gen_->generate_ids({too_long}, ok);
  EXPECT_FALSE(r[0].warnings.empty());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Generation, ::testing::Values("gpt2", "llama", "qwen2"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

TEST(GenerationUtf8, StablePrefixHoldsPartialCharacters) {
  EXPECT_EQ(stable_utf8_prefix("abc"), 3u);
  EXPECT_EQ(stable_utf8_prefix("ab\xE6\x97"), 2u);      // a partial 3-byte character
  EXPECT_EQ(stable_utf8_prefix("ab\xEF\xBF\xBD"), 2u);  // trailing U+FFFD
  EXPECT_EQ(stable_utf8_prefix("\xE6\x97\xA5x"), 4u);
}

TEST(GenerationDefaultsTest, EosAsIntOrList) {
  auto cfg = HfConfig::from_json(nlohmann::json{{"eos_token_id", nlohmann::json::array({2, 7})}}, "g");
  EXPECT_EQ(parse_token_id_list(cfg, "eos_token_id"), (std::vector<int64_t>{2, 7}));
  auto one = HfConfig::from_json(nlohmann::json{{"eos_token_id", 5}}, "g");
  EXPECT_EQ(parse_token_id_list(one, "eos_token_id"), (std::vector<int64_t>{5}));
}

}  // namespace
}  // namespace ia

namespace ia {
namespace {

// A step that fails leaves every sequence of the cache exactly as it was: when the
// cache cannot hold all chunks (nothing reserved) and when the model refuses the step
// after the reservation (rolled back).
TEST(CausalStep, AFailedStepLeavesTheCacheAsItWas) {
  auto gen = Generator::load(fixture("llama"), Device::cpu(), DType::F32);
  const CausalLM& m = gen->model();
  const int64_t ctx = m.config().max_positions;
  auto cache = m.make_cache(ctx / 16 + 4, 16);
  CausalStepRunner runner(m);
  const int64_t a = cache->create_sequence(), b = cache->create_sequence();
  std::vector<int32_t> prompt(20, 5), too_long(static_cast<size_t>(ctx + 1), 7), huge(static_cast<size_t>(ctx * 2), 7);
  runner.step({SeqChunk{a, prompt}}, *cache);
  const int64_t free = cache->free_blocks();
  const std::vector<int32_t> table = cache->block_table(a);
  auto unchanged = [&] {
    EXPECT_EQ(cache->length(a), 20);
    EXPECT_EQ(cache->block_table(a), table);
    EXPECT_EQ(cache->length(b), 0);
    EXPECT_EQ(cache->free_blocks(), free);
  };
  // Not enough blocks for b: a must not have grown either.
  EXPECT_THROW(runner.step({SeqChunk{a, prompt}, SeqChunk{b, huge}}, *cache), Error);
  unchanged();
  // Fits the cache but not the model's context: refused by the model after the reservation.
  EXPECT_THROW(runner.step({SeqChunk{a, prompt}, SeqChunk{b, too_long}}, *cache), Error);
  unchanged();
  // A token outside the vocabulary in the second chunk.
  std::vector<int32_t> bad = {5, static_cast<int32_t>(m.config().vocab_size)};
  EXPECT_THROW(runner.step({SeqChunk{a, prompt}, SeqChunk{b, bad}}, *cache), Error);
  unchanged();
  // And the cache still works: the next step equals a fresh run of the same tokens.
  Tensor next = runner.step({SeqChunk{a, std::span<const int32_t>(prompt.data(), 1)}}, *cache);
  auto fresh = m.make_cache(4, 16);
  std::vector<int32_t> all(prompt);
  all.push_back(prompt[0]);
  Tensor want = CausalStepRunner(m).step({SeqChunk{fresh->create_sequence(), all}}, *fresh);
  for (int64_t k = 0; k < want.numel(); ++k) EXPECT_NEAR(next.data<float>()[k], want.data<float>()[k], 1e-4);
}

}  // namespace
}  // namespace ia

namespace ia {
namespace {

// A checkpoint missing one tensor of its last layer is refused before anything is
// loaded, naming the tensor (decoders and encoders alike).
TEST(ModelLoading, AMissingTensorIsNamedBeforeLoading) {
  for (const auto& [model, missing] :
       {std::pair<std::string, std::string>{"llama", "model.layers.1.mlp.down_proj.weight"},
        {"bert", "encoder.layer.1.output.LayerNorm.bias"}}) {
    const std::string src = fixture(model);
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("ia-missing-" + model);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    for (const auto& e : std::filesystem::directory_iterator(src))
      if (e.path().extension() != ".safetensors") std::filesystem::copy(e.path(), dir / e.path().filename());
    auto store = WeightStore::open(src);
    std::vector<std::pair<std::string, Tensor>> kept;
    for (const auto& name : store->names())
      if (name != missing) kept.emplace_back(name, store->get(name));
    ASSERT_EQ(kept.size() + 1, store->names().size()) << model;
    write_safetensors((dir / "model.safetensors").string(), kept);
    try {
      if (model == "llama")
        Generator::load(dir.string(), Device::cpu(), DType::F32);
      else
        EmbeddingEndpoint::load(dir.string(), Device::cpu(), DType::F32);
      ADD_FAILURE() << model << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::NotFound) << e.what();
      EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
    }
    std::filesystem::remove_all(dir);
  }
}

}  // namespace
}  // namespace ia
