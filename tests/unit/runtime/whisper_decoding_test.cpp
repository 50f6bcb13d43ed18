// Whisper's decoding rules checked on crafted scores and token lists against what transformers'
// processors and generation_whisper.py do with them (worked out by hand from their code): the
// suppress lists, each timestamp rule, the split of a window into segments and where the next
// window starts, the decoder prompt, the compression ratio (values from Python's zlib) and the
// average log-probability.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "runtime/whisper_decoding.h"
#include "runtime/whisper_languages.h"
#include "runtime/whisper_transcription.h"

namespace ia {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr int64_t V = 20;
constexpr int32_t kEos = 5, kNoTimestamps = 9, kTb = 10;  // timestamps are ids 10..19

WhisperRules timestamp_rules() {
  WhisperRules r;
  r.timestamps = true;
  r.no_timestamps_token_id = kNoTimestamps;
  r.eos_token_id = kEos;
  return r;
}

std::vector<float> flat(float v = 0.0f) {
  return std::vector<float>(V, v);
}

// Which ids are still possible.
std::vector<int32_t> allowed(const std::vector<float>& s) {
  std::vector<int32_t> out;
  for (int32_t i = 0; i < V; ++i)
    if (s[static_cast<size_t>(i)] != -kInf) out.push_back(i);
  return out;
}

std::vector<int32_t> range(int32_t a, int32_t b) {
  std::vector<int32_t> out;
  for (int32_t i = a; i < b; ++i) out.push_back(i);
  return out;
}

TEST(WhisperRules, SuppressTokensAlwaysAndBeginSuppressOnlyAtTheFirstToken) {
  WhisperRules r;
  r.suppress_tokens = {1, 3, 500};  // 500 is outside the vocabulary: ignored
  r.begin_suppress_tokens = {2, 50256};
  std::vector<float> s = flat();
  apply_whisper_rules(r, s.data(), V, {});
  EXPECT_EQ(allowed(s), (std::vector<int32_t>{0, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}));
  s = flat();
  apply_whisper_rules(r, s.data(), V, {7});
  EXPECT_EQ(allowed(s), (std::vector<int32_t>{0, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}));
  EXPECT_EQ(s[0], 0.0f) << "the others are left as they were";
}

TEST(WhisperRules, TheFirstTokenIsATimestampNoLaterThanTheInitialLimit) {
  WhisperRules r = timestamp_rules();
  std::vector<float> s = flat();
  apply_whisper_rules(r, s.data(), V, {});
  EXPECT_EQ(allowed(s), range(kTb, V));
  r.max_initial_timestamp_index = 2;
  s = flat();
  apply_whisper_rules(r, s.data(), V, {});
  EXPECT_EQ(allowed(s), range(kTb, kTb + 3));
}

TEST(WhisperRules, TimestampsComeInPairsAndNeverDecrease) {
  const WhisperRules r = timestamp_rules();
  // After an opening timestamp: text (a segment is never empty), not <|notimestamps|>.
  std::vector<float> s = flat();
  s[0] = 5.0f;  // a likely text token, so the timestamp mass does not take over
  apply_whisper_rules(r, s.data(), V, {kTb + 1});
  EXPECT_EQ(allowed(s), (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  // After text: text, eos, or a timestamp after the opening one.
  s = flat();
  s[0] = 5.0f;
  apply_whisper_rules(r, s.data(), V, {kTb + 1, 3});
  std::vector<int32_t> want = range(0, kNoTimestamps);
  for (int32_t t : range(kTb + 2, V)) want.push_back(t);
  EXPECT_EQ(allowed(s), want);
  // After a closing timestamp: its pair (the same or a later time) or eos, no text.
  s = flat();
  s[kEos] = 5.0f;
  apply_whisper_rules(r, s.data(), V, {kTb + 1, 3, kTb + 4});
  want = {kEos, 6, 7, 8};
  for (int32_t t : range(kTb + 4, V)) want.push_back(t);
  EXPECT_EQ(allowed(s), want);
  // After a complete pair: text again, and later timestamps only after it.
  s = flat();
  s[0] = 5.0f;
  apply_whisper_rules(r, s.data(), V, {kTb + 1, 3, kTb + 4, kTb + 4});
  EXPECT_EQ(allowed(s), range(0, kNoTimestamps));
}

TEST(WhisperRules, ATimestampIsForcedWhenTheyOutweighEveryTextToken) {
  const WhisperRules r = timestamp_rules();
  // Nine timestamps left at 0 against text tokens at 1.5: log(9 e^0) = 2.20 > 1.5.
  std::vector<float> s = flat(1.5f);
  for (int32_t t = kTb; t < V; ++t) s[static_cast<size_t>(t)] = 0.0f;
  apply_whisper_rules(r, s.data(), V, {kTb, 3});
  EXPECT_EQ(allowed(s), range(kTb + 1, V));
  // At 2.5 the best text token outweighs them, and nothing is forced.
  s = flat(2.5f);
  for (int32_t t = kTb; t < V; ++t) s[static_cast<size_t>(t)] = 0.0f;
  apply_whisper_rules(r, s.data(), V, {kTb, 3});
  EXPECT_EQ(allowed(s).front(), 0);
}

TEST(WhisperRules, TheProcessorRecordsEachChosenTokensProcessedLogprob) {
  auto rules = std::make_shared<WhisperRules>();
  rules->suppress_tokens = {1};
  auto trace = std::make_shared<WhisperStepTrace>();
  auto make = whisper_logits_processor(rules, trace);
  auto p = make();
  std::vector<float> s = flat();
  p->mask(s.data(), V, {});
  // 19 equally likely tokens once id 1 is suppressed.
  p->mask(s.data(), V, {4});
  trace->chosen(7);
  ASSERT_EQ(trace->logprobs.size(), 2u);
  EXPECT_NEAR(trace->logprobs[0], -std::log(19.0), 1e-5);
  EXPECT_NEAR(trace->logprobs[1], -std::log(19.0), 1e-5);
}

TEST(WhisperWindows, PairsCutSegmentsAndASingleEndingTimestampMeansTheWindowWasHeard) {
  // <|0.00|> a b <|1.00|><|1.00|> c <|2.00|>
  const std::vector<int32_t> tokens{kTb, 1, 2, kTb + 50, kTb + 50, 3, kTb + 100};
  const WhisperWindowSplit w = split_window(tokens, kTb, 30.0, 3000);
  ASSERT_EQ(w.segments.size(), 2u);
  EXPECT_EQ(w.segments[0].tokens, (std::vector<int32_t>{kTb, 1, 2, kTb + 50}));
  EXPECT_NEAR(w.segments[0].start, 30.0, 1e-9);
  EXPECT_NEAR(w.segments[0].end, 31.0, 1e-9);
  EXPECT_EQ(w.segments[1].tokens, (std::vector<int32_t>{kTb + 50, 3, kTb + 100}));
  EXPECT_NEAR(w.segments[1].start, 31.0, 1e-9);
  EXPECT_NEAR(w.segments[1].end, 32.0, 1e-9);
  EXPECT_EQ(w.advance_frames, 3000);
}

TEST(WhisperWindows, AnUnfinishedSegmentIsDroppedAndTheNextWindowStartsAtTheLastTimestamp) {
  // <|0.00|> a <|1.00|><|1.20|> b ... (cut off mid-segment)
  const std::vector<int32_t> tokens{kTb, 1, kTb + 50, kTb + 60, 2};
  const WhisperWindowSplit w = split_window(tokens, kTb, 0.0, 3000);
  ASSERT_EQ(w.segments.size(), 1u);
  EXPECT_EQ(w.segments[0].tokens, (std::vector<int32_t>{kTb, 1, kTb + 50, kTb + 60}));
  EXPECT_NEAR(w.segments[0].end, 1.2, 1e-9);
  EXPECT_EQ(w.advance_frames, 120) << "1.20 s = 60 timestamp steps of 2 mel frames";
}

TEST(WhisperWindows, WithoutAPairOneSegmentToTheLastTimestampOrTheWindowsEnd) {
  WhisperWindowSplit w = split_window({kTb, 1, 2}, kTb, 10.0, 1234);
  ASSERT_EQ(w.segments.size(), 1u);
  EXPECT_NEAR(w.segments[0].start, 10.0, 1e-9);
  EXPECT_NEAR(w.segments[0].end, 10.0 + 12.34, 1e-9);
  EXPECT_EQ(w.advance_frames, 1234);
  w = split_window({kTb, 1, kTb + 40}, kTb, 10.0, 3000);
  ASSERT_EQ(w.segments.size(), 1u);
  EXPECT_NEAR(w.segments[0].end, 10.8, 1e-9);
  EXPECT_EQ(w.advance_frames, 3000);
}

TEST(WhisperFallback, CompressionRatioAsPythonsZlib) {
  std::vector<int32_t> repeated;
  for (int i = 0; i < 20; ++i) repeated.insert(repeated.end(), {50364, 440, 1862, 2068, 281, 264});
  EXPECT_DOUBLE_EQ(whisper_compression_ratio(repeated, 51865), 240.0 / 24.0);
  EXPECT_DOUBLE_EQ(whisper_compression_ratio(std::vector<int32_t>{50364, 440, 1862, 2068, 281, 264, 50414}, 51865),
                   14.0 / 22.0);
  EXPECT_DOUBLE_EQ(whisper_compression_ratio(std::vector<int32_t>(40, 7), 200), 40.0 / 12.0) << "one byte per id";
}

TEST(WhisperFallback, AverageLogprobSkipsEosAndCountsOneMore) {
  const std::vector<float> lp{-1.0f, -2.0f, -3.0f};
  EXPECT_DOUBLE_EQ(whisper_avg_logprob(lp, std::vector<int32_t>{4, 6, kEos}, kEos), -3.0 / 3.0);
  // The eos that ended a window was removed from its tokens: the scores are cut to them.
  EXPECT_DOUBLE_EQ(whisper_avg_logprob(lp, std::vector<int32_t>{4, 6}, kEos), -3.0 / 3.0);
}

TEST(WhisperPrompt, InitTokensAsTransformersBuildsThem) {
  WhisperGenerationConfig g;
  g.decoder_start_token_id = 100;
  g.lang_to_id = {{"<|en|>", 101}, {"<|de|>", 102}};
  g.task_to_id = {{"transcribe", 110}, {"translate", 111}};
  g.no_timestamps_token_id = 120;
  EXPECT_EQ(whisper_init_tokens(g, 101, "transcribe", false), (std::vector<int32_t>{100, 101, 110, 120}));
  EXPECT_EQ(whisper_init_tokens(g, 102, "translate", true), (std::vector<int32_t>{100, 102, 111}));
  // Older configs' forced ids apply when neither language nor task is given; a null is dropped.
  g.forced_decoder_ids = {{1, std::nullopt}, {2, 110}};
  EXPECT_EQ(whisper_init_tokens(g, std::nullopt, "", false), (std::vector<int32_t>{100, 110, 120}));
  EXPECT_EQ(whisper_init_tokens(g, 102, "", false), (std::vector<int32_t>{100, 102, 110, 120}));
  // An English-only model: no language or task tokens.
  WhisperGenerationConfig en;
  en.decoder_start_token_id = 100;
  en.no_timestamps_token_id = 120;
  EXPECT_EQ(whisper_init_tokens(en, std::nullopt, "transcribe", false), (std::vector<int32_t>{100, 120}));
  EXPECT_EQ(whisper_init_tokens(en, std::nullopt, "transcribe", true), (std::vector<int32_t>{100}));
}

TEST(WhisperLanguages, CodesNamesTokensAndAliases) {
  EXPECT_EQ(whisper_language_code("en"), "en");
  EXPECT_EQ(whisper_language_code("English"), "en");
  EXPECT_EQ(whisper_language_code("<|de|>"), "de");
  EXPECT_EQ(whisper_language_code("mandarin"), "zh");
  EXPECT_EQ(whisper_language_code("Cantonese"), "yue");
  EXPECT_EQ(whisper_language_code("klingon"), std::nullopt);
  EXPECT_EQ(whisper_language_code(""), std::nullopt);
  EXPECT_TRUE(is_whisper_language_code("haw"));
  EXPECT_FALSE(is_whisper_language_code("english"));
}

}  // namespace
}  // namespace ia
