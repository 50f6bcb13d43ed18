// ChatSession on the tiny fixture decoders: every turn answers exactly as a
// fresh Generator run over the whole rendered conversation, while prefilling
// only what lies past the longest common prefix with the cached tokens.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "runtime/chat_session.h"
#include "tokenizers/chat_template/chat_template.h"

namespace ia {
namespace {

using Json = nlohmann::json;

std::string fixture(const std::string& f) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + f;
}

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

class ChatSessionTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    gen_ = Generator::load(fixture(GetParam()), Device::cpu(), DType::F32);
    template_ = std::make_unique<tok::ChatTemplate>(tok::ChatTemplate::from_tokenizer_config(fixture(GetParam())));
    greedy_.max_new_tokens = 8;
    greedy_.temperature = 0;
  }
  // The conversation as Accelerator::chat tokenizes it.
  std::vector<int32_t> render(const Json& messages) const {
    tok::ChatRenderOptions o;
    o.add_generation_prompt = true;
    return gen_->tokenizer().encode(template_->render(messages, o), /*add_special_tokens=*/false).ids;
  }
  GenerationResult fresh(const std::vector<int32_t>& ids, const GenerationRequest& req) const {
    return gen_->generate_ids({ids}, req).at(0);
  }
  // One turn, checked against a fresh run; returns the result and the stats.
  GenerationResult turn(ChatSession& s, const Json& messages, const GenerationRequest& req, GenerationStats& st) {
    const std::vector<int32_t> ids = render(messages);
    const size_t expect_cached = std::min(common_prefix(s.cached_ids(), ids), ids.size() - 1);
    std::string streamed;
    GenerationResult r = s.turn(
        ids, req, [&](size_t, const std::string& d) { streamed += d; }, &st);
    const GenerationResult f = fresh(ids, req);
    EXPECT_EQ(r.ids, f.ids);
    EXPECT_EQ(r.text, f.text);
    EXPECT_EQ(r.finish_reason, f.finish_reason);
    EXPECT_EQ(r.prompt_ids, ids);
    EXPECT_EQ(streamed, r.text);
    EXPECT_EQ(st.prompt_tokens, static_cast<int64_t>(ids.size()));
    EXPECT_EQ(st.cached_tokens, static_cast<int64_t>(expect_cached));
    // The cache holds the prompt and the reply's tokens but the last (never fed).
    std::vector<int32_t> held = ids;
    held.insert(held.end(), r.ids.begin(), r.ids.end() - 1);
    EXPECT_EQ(s.cached_ids(), held);
    EXPECT_EQ(s.cache()->length(0), static_cast<int64_t>(held.size()));
    return r;
  }

  std::shared_ptr<Generator> gen_;
  std::unique_ptr<tok::ChatTemplate> template_;
  GenerationRequest greedy_;
};

TEST_P(ChatSessionTest, ThreeTurnsEqualFreshRunsAndPrefillOnlyTheNewPart) {
  ChatSession s(gen_);
  Json conv = Json::array({{{"role", "user"}, {"content", "Hello!"}}});
  const std::vector<std::string> next = {"What is two plus two?", "And three times three?"};
  GenerationStats st;
  GenerationResult r = turn(s, conv, greedy_, st);
  EXPECT_EQ(st.cached_tokens, 0);
  for (const std::string& user : next) {
    const size_t previous_prompt = render(conv).size();
    conv.push_back({{"role", "assistant"}, {"content", r.text}});
    conv.push_back({{"role", "user"}, {"content", user}});
    const size_t prompt = render(conv).size();
    r = turn(s, conv, greedy_, st);
    // The template renders the earlier turns identically: at least the whole previous
    // prompt comes from the cache, and only the reply and the new message are prefilled.
    EXPECT_GE(st.cached_tokens, static_cast<int64_t>(previous_prompt)) << user;
    EXPECT_LT(st.cached_tokens, static_cast<int64_t>(prompt));
    EXPECT_LE(st.prompt_tokens - st.cached_tokens, static_cast<int64_t>(prompt - previous_prompt))
        << "prefilled more than the reply and the new message";
  }
}

TEST_P(ChatSessionTest, AnEditedEarlierMessageTruncatesToTheDivergence) {
  ChatSession s(gen_);
  Json conv = Json::array({{{"role", "user"}, {"content", "Hello!"}}});
  GenerationStats st;
  GenerationResult r = turn(s, conv, greedy_, st);
  conv.push_back({{"role", "assistant"}, {"content", r.text}});
  conv.push_back({{"role", "user"}, {"content", "What is two plus two?"}});
  turn(s, conv, greedy_, st);
  const std::vector<int32_t> before = s.cached_ids();

  Json edited = conv;
  edited[0]["content"] = "Good morning, how are you?";
  const std::vector<int32_t> ids = render(edited);
  const size_t divergence = common_prefix(before, ids);
  ASSERT_GT(divergence, 0u);                                     // the template's opening tokens
  ASSERT_LT(divergence, render(Json::array({conv[0]})).size());  // inside the first message
  turn(s, edited, greedy_, st);                                  // equal to a fresh run
  EXPECT_EQ(st.cached_tokens, static_cast<int64_t>(divergence));

  // Going back to the original conversation shares only the prefix again.
  turn(s, conv, greedy_, st);
  EXPECT_EQ(st.cached_tokens, static_cast<int64_t>(divergence));
}

TEST_P(ChatSessionTest, ARepeatedPromptRecomputesOnlyItsLastToken) {
  ChatSession s(gen_);
  const Json conv = Json::array({{{"role", "user"}, {"content", "Hello!"}}});
  GenerationStats st;
  const GenerationResult a = turn(s, conv, greedy_, st);
  const GenerationResult b = turn(s, conv, greedy_, st);
  EXPECT_EQ(st.cached_tokens, st.prompt_tokens - 1);
  EXPECT_EQ(a.ids, b.ids);
}

TEST_P(ChatSessionTest, SeededSamplingEqualsAFreshRun) {
  ChatSession s(gen_);
  GenerationRequest req;
  req.max_new_tokens = 8;
  req.temperature = 0.9f;
  req.repetition_penalty = 1.3f;  // reads the whole prompt, cached or not
  req.seed = 7;
  Json conv = Json::array({{{"role", "user"}, {"content", "Tell me a story."}}});
  GenerationStats st;
  GenerationResult r = turn(s, conv, req, st);
  conv.push_back({{"role", "assistant"}, {"content", r.text}});
  conv.push_back({{"role", "user"}, {"content", "Go on."}});
  turn(s, conv, req, st);
  EXPECT_GT(st.cached_tokens, 0);
}

TEST_P(ChatSessionTest, TheCacheGrowsWithTheConversation) {
  ChatSession s(gen_, /*initial_tokens=*/16);
  Json conv = Json::array({{{"role", "user"}, {"content", "Hello!"}}});
  GenerationStats st;
  for (const char* user : {"What is two plus two?", "And three times three?", "Thanks."}) {
    GenerationResult r = turn(s, conv, greedy_, st);
    conv.push_back({{"role", "assistant"}, {"content", r.text}});
    conv.push_back({{"role", "user"}, {"content", user}});
  }
  turn(s, conv, greedy_, st);
  EXPECT_GT(st.cached_tokens, 16);
  EXPECT_GT(s.cache()->num_blocks(), 1);
  EXPECT_GE(s.cache()->num_blocks(), s.cache()->blocks_for(static_cast<int64_t>(s.cached_ids().size())));
}

TEST_P(ChatSessionTest, ErrorsLeaveTheSessionUsable) {
  ChatSession s(gen_);
  Json conv = Json::array({{{"role", "user"}, {"content", "Hello!"}}});
  GenerationStats st;
  turn(s, conv, greedy_, st);
  const std::vector<int32_t> held = s.cached_ids();

  std::vector<int32_t> too_long(static_cast<size_t>(gen_->model().config().max_positions + 5), 3);
  EXPECT_THROW(s.turn(too_long, greedy_), Error);
  GenerationRequest bad = greedy_;
  bad.max_new_tokens = 0;
  EXPECT_THROW(s.turn(render(conv), bad), Error);
  EXPECT_EQ(s.cached_ids(), held);  // rejected before the cache changed

  turn(s, conv, greedy_, st);
  EXPECT_EQ(st.cached_tokens, st.prompt_tokens - 1);
  s.reset();
  EXPECT_TRUE(s.cached_ids().empty());
  turn(s, conv, greedy_, st);
  EXPECT_EQ(st.cached_tokens, 0);
}

TEST_P(ChatSessionTest, ACancelledReplyIsCachedAsFarAsItWent) {
  ChatSession s(gen_);
  Json conv = Json::array({{{"role", "user"}, {"content", "Hello!"}}});
  GenerationRequest stop_early = greedy_;
  int asked = 0;
  stop_early.cancelled = [&] { return ++asked >= 3; };
  GenerationStats st;
  const std::vector<int32_t> ids = render(conv);
  const GenerationResult r = s.turn(ids, stop_early, {}, &st);
  EXPECT_EQ(r.finish_reason, "cancelled");
  ASSERT_EQ(r.ids.size(), 3u);
  std::vector<int32_t> held = ids;
  held.insert(held.end(), r.ids.begin(), r.ids.end() - 1);
  EXPECT_EQ(s.cached_ids(), held);
  // The stopped reply joins the conversation; the next turn reuses it and answers as a fresh run.
  conv.push_back({{"role", "assistant"}, {"content", r.text}});
  conv.push_back({{"role", "user"}, {"content", "Go on."}});
  turn(s, conv, greedy_, st);
  EXPECT_GT(st.cached_tokens, 0);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ChatSessionTest, ::testing::Values("llama", "qwen2"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

}  // namespace
}  // namespace ia
