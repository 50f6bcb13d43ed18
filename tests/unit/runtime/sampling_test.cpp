#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <optional>
#include <random>
#include <set>

#include "core/error.h"
#include "runtime/sampling.h"

namespace ia {
namespace {

std::vector<float> logits5() {
  return {1.0f, 3.0f, 2.5f, -1.0f, 0.5f};
}

TEST(Sampling, GreedyIsFirstArgmax) {
  SamplingParams p;
  Sampler s(p, 1);
  std::vector<float> l = {1, 4, 4, 0};
  EXPECT_EQ(s.sample(l.data(), 4, {}, {}).id, 1);
}

TEST(Sampling, TopK1EqualsGreedy) {
  SamplingParams p;
  p.greedy = false;
  p.temperature = 1.5f;
  p.top_k = 1;
  Sampler s(p, 42);
  auto l = logits5();
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(l.data(), 5, {}, {}).id, 1);
}

TEST(Sampling, SeedIsReproducibleAndSamplesVary) {
  SamplingParams p;
  p.greedy = false;
  p.top_k = 0;
  auto l = logits5();
  Sampler a(p, 7), b(p, 7);
  std::set<int32_t> seen;
  for (int i = 0; i < 200; ++i) {
    int32_t x = a.sample(l.data(), 5, {}, {}).id;
    EXPECT_EQ(x, b.sample(l.data(), 5, {}, {}).id);
    seen.insert(x);
  }
  EXPECT_GE(seen.size(), 3u);
}

TEST(Sampling, TopPAndMinPCut) {
  auto l = logits5();
  SamplingParams p;
  p.greedy = false;
  p.top_k = 0;
  p.top_p = 0.01f;  // only the most likely token remains
  Sampler s(p, 3);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(l.data(), 5, {}, {}).id, 1);
  p.top_p = 1.0f;
  p.min_p = 0.5f;  // p(2)/p(1) = e^-0.5 = 0.61 stays, the rest go
  Sampler m(p, 3);
  for (int i = 0; i < 100; ++i) {
    int32_t x = m.sample(l.data(), 5, {}, {}).id;
    EXPECT_TRUE(x == 1 || x == 2) << x;
  }
}

TEST(Sampling, RepetitionPenaltyHfSemantics) {
  // Positive logits are divided, negative multiplied, each seen token once.
  std::vector<float> l = {2.0f, 1.9f, -1.0f};
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  Sampler s(p, 1);
  EXPECT_EQ(s.sample(l.data(), 3, {0}, {0, 0}).id, 1);  // 2.0 / 2 = 1.0 < 1.9
}

TEST(Sampling, PresenceFrequencyAndLogitBias) {
  std::vector<float> l = {2.0f, 1.5f, 0.0f};
  SamplingParams p;
  p.frequency_penalty = 0.3f;  // token 0 seen twice: 2.0 - 0.6 = 1.4 < 1.5
  Sampler s(p, 1);
  EXPECT_EQ(s.sample(l.data(), 3, {}, {0, 0}).id, 1);
  SamplingParams q;
  q.logit_bias[2] = 100.0f;
  Sampler t(q, 1);
  EXPECT_EQ(t.sample(l.data(), 3, {}, {}).id, 2);
}

TEST(Sampling, LogprobsOfTheModelDistribution) {
  auto l = logits5();
  SamplingParams p;
  p.logprobs = 2;
  Sampler s(p, 1);
  SampledToken t = s.sample(l.data(), 5, {}, {});
  double z = 0;
  for (float v : l) z += std::exp(v);
  EXPECT_NEAR(t.logprob, 3.0 - std::log(z), 1e-5);
  ASSERT_EQ(t.top.size(), 2u);
  EXPECT_EQ(t.top[0].id, 1);
  EXPECT_EQ(t.top[1].id, 2);
  EXPECT_NEAR(t.top[1].logprob, 2.5 - std::log(z), 1e-5);
}

TEST(Sampling, ValidationNamesTheParameter) {
  SamplingParams p;
  p.temperature = -0.5f;
  EXPECT_THROW(validate(p), Error);
  p = {};
  p.top_p = 0.0f;
  EXPECT_THROW(validate(p), Error);
  p.top_p = 1.5f;
  EXPECT_THROW(validate(p), Error);
  p = {};
  p.repetition_penalty = 0;
  EXPECT_THROW(validate(p), Error);
}

}  // namespace
}  // namespace ia

namespace ia {
namespace {

// The k + margin largest of a row, largest first, ties by lower id: what ops::top_k returns.
void top_candidates(const std::vector<float>& row, int64_t n, std::vector<float>& values, std::vector<int32_t>& ids) {
  std::vector<int32_t> order(row.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return row[a] > row[b]; });
  values.clear();
  ids.clear();
  for (int64_t i = 0; i < n; ++i) {
    ids.push_back(order[static_cast<size_t>(i)]);
    values.push_back(row[static_cast<size_t>(order[static_cast<size_t>(i)])]);
  }
}

TEST(Sampling, FromTheLargestLogitsOnlyChoosesAsFromTheWholeRow) {
  const int64_t V = 1000;
  std::mt19937 gen(5);
  std::normal_distribution<float> normal(0, 3);
  int compared = 0, whole_row = 0;
  for (float t : {0.6f, 1.0f, 1.7f})
    for (int64_t k : {1, 5, 50})
      for (float top_p : {1.0f, 0.8f})
        for (float min_p : {0.0f, 0.05f})
          for (bool ties : {false, true}) {
            SamplingParams p;
            p.greedy = false;
            p.temperature = t;
            p.top_k = k;
            p.top_p = top_p;
            p.min_p = min_p;
            Sampler whole(p, 42), candidates(p, 42);
            const int64_t n = candidates.candidates_needed(V);
            ASSERT_EQ(n, k + 16);
            for (int draw = 0; draw < 40; ++draw) {
              std::vector<float> row(V);
              // Coarse values make ties, also across the top-k cut.
              for (float& x : row) x = ties ? std::round(normal(gen)) : normal(gen);
              std::vector<float> values;
              std::vector<int32_t> ids;
              top_candidates(row, n, values, ids);
              const int32_t want = whole.sample(row.data(), V, {}, {}).id;
              std::optional<int32_t> got = candidates.sample_candidates(values.data(), ids.data(), n, V);
              if (!got) {  // a tie past the candidates: the caller samples the whole row
                ++whole_row;
                got = candidates.sample(row.data(), V, {}, {}).id;
              }
              ASSERT_EQ(*got, want) << "t " << t << " k " << k << " top_p " << top_p << " min_p " << min_p;
              ++compared;
            }
          }
  EXPECT_GT(whole_row, 0);  // the coarse rows did reach the fallback
  EXPECT_LT(whole_row, compared / 2);
}

TEST(Sampling, TheWholeRowIsNeededForGreedyProcessorsLogprobsAndNoTopK) {
  SamplingParams p;
  p.greedy = false;
  p.top_k = 50;
  EXPECT_EQ(Sampler(p, 1).candidates_needed(32000), 66);
  EXPECT_EQ(Sampler(p, 1).candidates_needed(60), 0);  // k + margin reaches the vocabulary
  SamplingParams q = p;
  q.greedy = true;
  EXPECT_EQ(Sampler(q, 1).candidates_needed(32000), 0);
  q = p;
  q.top_k = 0;
  EXPECT_EQ(Sampler(q, 1).candidates_needed(32000), 0);
  q = p;
  q.repetition_penalty = 1.1f;
  EXPECT_EQ(Sampler(q, 1).candidates_needed(32000), 0);
  q = p;
  q.logit_bias[3] = 1;
  EXPECT_EQ(Sampler(q, 1).candidates_needed(32000), 0);
  q = p;
  q.logprobs = 0;
  EXPECT_EQ(Sampler(q, 1).candidates_needed(32000), 0);
  q = p;
  q.min_tokens = 2;
  q.min_tokens_suppress = {1};
  EXPECT_EQ(Sampler(q, 1).candidates_needed(32000), 0);
  EXPECT_FALSE(Sampler(q, 1).argmax_only());
}

TEST(Sampling, MinTokensHoldsEosBackUntilThatManyTokens) {
  SamplingParams p;  // greedy: the eos (id 1) is the largest logit
  p.min_tokens = 3;
  p.min_tokens_suppress = {1};
  Sampler s(p, 1);
  const auto l = logits5();
  std::vector<int32_t> generated;
  for (int i = 0; i < 3; ++i) {
    const int32_t id = s.sample(l.data(), 5, {}, generated).id;
    EXPECT_EQ(id, 2) << "step " << i;  // the next best
    generated.push_back(id);
  }
  EXPECT_EQ(s.sample(l.data(), 5, {}, generated).id, 1);
  SamplingParams bad;
  bad.min_tokens = -1;
  EXPECT_THROW(validate(bad), Error);
}

// A constraint that allows only even ids, and counts what it was shown.
class EvenIdsOnly final : public TokenConstraint {
 public:
  explicit EvenIdsOnly(size_t* seen) : seen_(seen) {}
  void mask(float* logits, int64_t vocab, const std::vector<int32_t>& generated) override {
    *seen_ = generated.size();
    for (int64_t i = 1; i < vocab; i += 2) logits[i] = -INFINITY;
  }

 private:
  size_t* seen_;
};

TEST(Sampling, AConstraintMasksBeforeGreedyAndSampling) {
  size_t seen = 0;
  for (const bool greedy : {true, false}) {
    SamplingParams p;
    p.greedy = greedy;
    p.top_k = 0;
    p.constraint = [&seen] { return std::make_unique<EvenIdsOnly>(&seen); };
    Sampler s(p, 7);
    EXPECT_FALSE(s.argmax_only());
    EXPECT_EQ(s.candidates_needed(32000), 0);
    const auto l = logits5();
    for (int i = 0; i < 50; ++i) {
      const int32_t id = s.sample(l.data(), 5, {}, std::vector<int32_t>(static_cast<size_t>(i), 0)).id;
      EXPECT_EQ(id % 2, 0);
      if (greedy) {
        EXPECT_EQ(id, 2);
      }
      EXPECT_EQ(seen, static_cast<size_t>(i));
    }
  }
}

}  // namespace
}  // namespace ia
