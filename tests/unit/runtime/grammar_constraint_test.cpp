// Constrained decoding on the fixture models: the vocabulary's byte strings, and generation whose
// output must follow a JSON grammar (response_format json_object / json_schema).
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "runtime/generation.h"
#include "runtime/grammar_constraint.h"
#include "runtime/json_schema_grammar.h"
#include "tokenizers/token_bytes.h"

namespace ia {
namespace {

std::string fixture(const std::string& f) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + f;
}

class TokenBytesTest : public ::testing::TestWithParam<const char*> {};

// Mid-text, the tokens of an encoding add exactly the text's bytes (Metaspace may add the one
// leading space the first token carries), partial UTF-8 characters included.
TEST_P(TokenBytesTest, TokensOfAnEncodingAddUpToItsText) {
  auto tok = tok::Tokenizer::from_folder(fixture(GetParam()));
  const auto bytes = tok::token_bytes(*tok);
  ASSERT_EQ(bytes.size(), tok->vocab_size());
  for (const std::string& text :
       {std::string("hello world {\"a\": [1, 2]}"), std::string("caf\xC3\xA9 \xE2\x82\xAC\xF0\x9F\x98\x80 x")}) {
    std::string joined;
    for (int32_t id : tok->encode(text, false).ids) {
      ASSERT_TRUE(bytes[static_cast<size_t>(id)].has_value()) << id;
      joined += *bytes[static_cast<size_t>(id)];
    }
    if (joined.size() == text.size() + 1 && joined[0] == ' ') joined.erase(0, 1);
    EXPECT_EQ(joined, text) << GetParam();
  }
  // Special tokens add no text.
  for (int32_t id = 0; id < static_cast<int32_t>(tok->vocab_size()); ++id)
    if (tok->decode({id}, true).empty() && !tok->decode({id}, false).empty()) {
      EXPECT_FALSE(bytes[static_cast<size_t>(id)]);
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenBytesTest, ::testing::Values("llama", "gpt2", "qwen2"));

class ConstrainedGeneration : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override { gen_ = Generator::load(fixture(GetParam()), Device::cpu(), DType::F32); }
  std::shared_ptr<Generator> gen_;
};

// A schema leaves the model few choices: a random-weight model still ends with a JSON text that
// validates, then eos, greedy and sampled alike.
TEST_P(ConstrainedGeneration, SchemaOutputParsesAndValidates) {
  const auto schema = nlohmann::ordered_json::parse(R"({
    "type": "object",
    "properties": {"answer": {"enum": ["yes", "no"]}, "n": {"type": "integer"}},
    "required": ["answer", "n"], "additionalProperties": false})");
  GenerationRequest req;
  req.grammar = std::make_shared<const grammar::Grammar>(grammar::json_schema_grammar(schema));
  req.max_new_tokens = 400;
  int completed = 0;
  for (const float temperature : {0.0f, 1.0f}) {
    req.temperature = temperature;
    req.seed = 3;
    const auto r = gen_->generate({"The answer is"}, req);
    ASSERT_EQ(r.size(), 1u);
    SCOPED_TRACE(r[0].text);
    grammar::GrammarMatcher m(*req.grammar);
    ASSERT_TRUE(m.accept(r[0].text));
    if (r[0].finish_reason == "length") continue;  // the context ran out: still a prefix of a valid text
    EXPECT_EQ(r[0].finish_reason, "stop");
    EXPECT_TRUE(m.complete());
    const auto j = nlohmann::json::parse(r[0].text);
    EXPECT_TRUE(j.at("answer") == "yes" || j.at("answer") == "no");
    EXPECT_TRUE(j.at("n").is_number_integer());
    ++completed;
  }
  EXPECT_GE(completed, 1);  // numbers and whitespace are bounded: the text ends well within the context
}

// Any object: every prefix the model makes is one the grammar allows; token by token streaming
// gives the same text.
TEST_P(ConstrainedGeneration, JsonObjectOutputIsAlwaysAValidPrefix) {
  GenerationRequest req;
  req.grammar = std::make_shared<const grammar::Grammar>(grammar::json_object_grammar());
  req.max_new_tokens = 48;
  req.temperature = 1.0f;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    req.seed = seed;
    std::string streamed;
    const auto r = gen_->generate({"{"}, req, [&](size_t, const std::string& d) { streamed += d; });
    SCOPED_TRACE(r[0].text);
    EXPECT_EQ(streamed, r[0].text);
    grammar::GrammarMatcher m(*req.grammar);
    EXPECT_TRUE(m.accept(r[0].text));
    if (r[0].finish_reason == "stop") {
      EXPECT_TRUE(nlohmann::json::parse(r[0].text).is_object());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ConstrainedGeneration, ::testing::Values("llama", "gpt2"));

}  // namespace
}  // namespace ia
