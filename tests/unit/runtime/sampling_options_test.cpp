// resolve_sampling: the request's value wins, then generation_config.json's,
// then HF's default; out-of-range results are refused.
#include <gtest/gtest.h>

#include "core/error.h"
#include "runtime/sampling.h"

namespace ia {
namespace {

TEST(ResolveSampling, HfDefaultsWithNothingSet) {
  const SamplingParams p = resolve_sampling({}, {});
  EXPECT_TRUE(p.greedy);  // do_sample defaults to false
  EXPECT_EQ(p.temperature, 1.0f);
  EXPECT_EQ(p.top_k, 50);
  EXPECT_EQ(p.top_p, 1.0f);
  EXPECT_EQ(p.min_p, 0.0f);
  EXPECT_EQ(p.repetition_penalty, 1.0f);
  EXPECT_EQ(p.logprobs, -1);
}

TEST(ResolveSampling, GenerationConfigFillsWhatTheRequestLeavesUnset) {
  SamplingDefaults d;
  d.do_sample = true;
  d.temperature = 0.6;
  d.top_p = 0.9;
  d.top_k = 20;
  d.repetition_penalty = 1.1;
  SamplingOptions asked;
  asked.top_k = 5;
  asked.presence_penalty = 0.5f;
  asked.logit_bias[3] = -100.0f;
  asked.logprobs = 2;
  const SamplingParams p = resolve_sampling(asked, d);
  EXPECT_FALSE(p.greedy);
  EXPECT_FLOAT_EQ(p.temperature, 0.6f);
  EXPECT_FLOAT_EQ(p.top_p, 0.9f);
  EXPECT_EQ(p.top_k, 5);  // the request's
  EXPECT_FLOAT_EQ(p.repetition_penalty, 1.1f);
  EXPECT_FLOAT_EQ(p.presence_penalty, 0.5f);
  EXPECT_EQ(p.logit_bias.at(3), -100.0f);
  EXPECT_EQ(p.logprobs, 2);
}

TEST(ResolveSampling, TemperatureZeroIsGreedyWhateverTheConfigSays) {
  SamplingDefaults d;
  d.do_sample = true;
  SamplingOptions asked;
  asked.temperature = 0.0f;
  EXPECT_TRUE(resolve_sampling(asked, d).greedy);
  asked.temperature = 0.7f;
  const SamplingParams p = resolve_sampling(asked, {});
  EXPECT_FALSE(p.greedy);
  EXPECT_FLOAT_EQ(p.temperature, 0.7f);
}

TEST(ResolveSampling, OutOfRangeIsInvalidArgument) {
  auto kind_of = [](const SamplingOptions& asked, const SamplingDefaults& d) {
    try {
      (void)resolve_sampling(asked, d);
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::Internal;
  };
  SamplingOptions bad_top_p;
  bad_top_p.top_p = 0.0f;
  EXPECT_EQ(kind_of(bad_top_p, {}), ErrorKind::InvalidArgument);
  SamplingDefaults bad_config;
  bad_config.repetition_penalty = -1.0;  // a broken generation_config.json is refused too
  EXPECT_EQ(kind_of({}, bad_config), ErrorKind::InvalidArgument);
  SamplingOptions bad_penalty;
  bad_penalty.frequency_penalty = 3.0f;
  EXPECT_EQ(kind_of(bad_penalty, {}), ErrorKind::InvalidArgument);
}

}  // namespace
}  // namespace ia
