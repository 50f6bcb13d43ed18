// The request parsers: accepted shapes, and every refusal a 400 naming the field.
#include "server/openai_requests.h"

#include <gtest/gtest.h>

#include "server/api_error.h"

namespace ia::server {
namespace {

RequestLimits limits() {
  RequestLimits l;
  l.max_sequences = 4;
  return l;
}

// The ApiError `fn` throws: its status, code and param.
template <class Fn>
ApiError refusal(Fn&& fn) {
  try {
    fn();
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted";
  return ApiError(0, "", "", "");
}

TEST(ChatCompletionRequest, FieldsAndDefaults) {
  const auto r = parse_chat_completion_request(
      R"({"model":"m","messages":[{"role":"developer","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
          {"role":"user","content":"hi"}],"max_tokens":5,"max_completion_tokens":7,"temperature":0,"top_k":-1,
          "stop":"x","n":2,"seed":-1,"stream":true,"stream_options":{"include_usage":true},"logprobs":true,
          "top_logprobs":3,"logit_bias":{"12":-100},"user":"ignored","response_format":{"type":"text"}})",
      limits());
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.messages[0]["role"], "system");  // developer is the templates' system
  EXPECT_EQ(r.messages[0]["content"], "a\nb");
  EXPECT_EQ(r.request.max_new_tokens, 7);
  EXPECT_EQ(r.request.top_k, 0);
  EXPECT_EQ(r.request.stop, std::vector<std::string>{"x"});
  EXPECT_EQ(r.n, 2);
  EXPECT_EQ(r.request.seed, static_cast<uint64_t>(-1));
  EXPECT_TRUE(r.stream && r.include_usage);
  EXPECT_EQ(r.request.logprobs, 3);
  EXPECT_EQ(r.request.logit_bias.at(12), -100.0f);
}

// image_url parts: the message's parts become template items in order, the URLs are kept (read
// later, by the route), and their number is bounded.
TEST(ChatCompletionRequest, ImagePartsBecomeTemplateItems) {
  const auto r = parse_chat_completion_request(
      R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"look"},
          {"type":"image_url","image_url":{"url":"data:image/png;base64,AA==","detail":"low"}},
          {"type":"image_url","image_url":"data:image/png;base64,AQ=="}]},{"role":"user","content":"plain"}]})",
      limits());
  const nlohmann::ordered_json want =
      nlohmann::ordered_json::parse(R"([{"type":"text","text":"look"},{"type":"image"},{"type":"image"}])");
  EXPECT_EQ(r.messages[0]["content"], want);
  EXPECT_EQ(r.messages[1]["content"], "plain");
  ASSERT_EQ(r.images.size(), 2u);
  EXPECT_EQ(r.images[0].url, "data:image/png;base64,AA==");
  EXPECT_EQ(r.images[1].param, "messages[0].content[2].image_url.url");
  RequestLimits one = limits();
  one.max_images = 1;
  const ApiError e = refusal([&] {
    parse_chat_completion_request(
        R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"a"}},
            {"type":"image_url","image_url":{"url":"b"}}]}]})",
        one);
  });
  EXPECT_EQ(e.status(), 400);
  EXPECT_EQ(e.param(), "messages[0].content[1]");
}

TEST(ChatCompletionRequest, StructuredOutputAndMinTokens) {
  const auto chat = [](const std::string& extra) {
    return R"({"model":"m","messages":[{"role":"user","content":"a"}])" + extra + "}";
  };
  EXPECT_FALSE(parse_chat_completion_request(chat(""), {}).request.grammar);
  EXPECT_TRUE(parse_chat_completion_request(chat(R"(,"response_format":{"type":"json_object"})"), {}).request.grammar);
  EXPECT_FALSE(parse_chat_completion_request(chat(R"(,"response_format":{"type":"text"})"), {}).request.grammar);
  const auto r = parse_chat_completion_request(
      chat(
          R"(,"min_tokens":3,"response_format":{"type":"json_schema","json_schema":{"name":"v","schema":{"type":"object","properties":{"a":{"type":"integer"}}}}})"),
      {});
  EXPECT_EQ(r.request.min_tokens, 3);
  ASSERT_TRUE(r.request.grammar);
  grammar::GrammarMatcher m(*r.request.grammar);
  EXPECT_TRUE(m.accept(R"({"a": 5})") && m.complete());
  EXPECT_TRUE(parse_chat_completion_request(chat(R"(,"guided_choice":["x","y"])"), {}).request.grammar);
}

TEST(ChatCompletionRequest, RefusalsNameTheField) {
  const auto chat = [](const std::string& extra) {
    return R"({"model":"m","messages":[{"role":"user","content":"a"}])" + extra + "}";
  };
  struct Case {
    std::string body, code, param;
  };
  for (const Case& c : std::vector<Case>{
           {"{", "invalid_json", ""},
           {R"({"a":1,"a":2})", "invalid_json", ""},
           {std::string(100, '[') + std::string(100, ']'), "invalid_json", ""},
           {chat(R"(,"temperature":3)"), "invalid_value", "temperature"},
           {chat(R"(,"top_p":0)"), "invalid_value", "top_p"},
           {chat(R"(,"max_tokens":0)"), "invalid_value", "max_tokens"},
           {chat(R"(,"max_tokens":1.5)"), "invalid_value", "max_tokens"},
           {chat(R"(,"n":5)"), "invalid_value", "n"},
           {chat(R"(,"stop":["a",""])"), "invalid_value", "stop[1]"},
           {chat(R"(,"logit_bias":{"x":1})"), "invalid_value", "logit_bias.x"},
           {chat(R"(,"logit_bias":{"1":101})"), "invalid_value", "logit_bias.1"},
           {chat(R"(,"top_logprobs":2)"), "invalid_value", "top_logprobs"},
           {chat(R"(,"stream_options":{"include_usage":true})"), "invalid_value", "stream_options"},
           {chat(R"(,"max_tokens":2,"min_tokens":3)"), "invalid_value", "min_tokens"},
           {chat(R"(,"response_format":{"type":"json_schema","json_schema":{}})"), "invalid_value",
            "response_format.json_schema.name"},
           {chat(R"(,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"format":"uri"}}})"),
            "invalid_value", "response_format.json_schema.schema"},
           {chat(R"(,"response_format":{"type":"xml"})"), "invalid_value", "response_format.type"},
           {chat(R"(,"guided_choice":[])"), "invalid_value", "guided_choice"},
           {chat(R"(,"guided_json":"{not json")"), "invalid_value", "guided_json"},
           {chat(R"(,"guided_regex":"a+")"), "unsupported_parameter", "guided_regex"},
           {chat(R"(,"tool_choice":"required")"), "invalid_value", "tool_choice"},
           {R"({"model":"m","messages":[{"role":"user","content":[{"type":"input_audio"}]}]})", "unsupported_parameter",
            "messages[0].content[0].type"},
           {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})", "invalid_value",
            "messages[0].content[0].image_url"},
           {R"({"model":"m","messages":[{"content":"a"}]})", "invalid_value", "messages[0].role"},
           {R"({"model":"m","messages":[{"role":"user"}]})", "invalid_value", "messages[0].content"},
           {R"({"model":7,"messages":[{"role":"user","content":"a"}]})", "invalid_value", "model"},
       }) {
    const ApiError e = refusal([&] { parse_chat_completion_request(c.body, limits()); });
    EXPECT_EQ(e.status(), 400) << c.body;
    EXPECT_EQ(e.code(), c.code) << c.body << ": " << e.what();
    EXPECT_EQ(e.param(), c.param) << c.body << ": " << e.what();
  }
  // An assistant's tool call may come without content.
  EXPECT_NO_THROW(parse_chat_completion_request(
      R"({"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[]},{"role":"user","content":"a"}]})",
      limits()));
}

TEST(CompletionRequest, PromptShapes) {
  EXPECT_EQ(parse_completion_request(R"({"model":"m","prompt":"a"})", limits()).prompts.size(), 1u);
  const auto ids = parse_completion_request(R"({"model":"m","prompt":[1,2,3]})", limits());
  ASSERT_EQ(ids.prompts.size(), 1u);
  EXPECT_TRUE(ids.prompts[0].is_ids);
  EXPECT_EQ(ids.prompts[0].ids, (std::vector<int32_t>{1, 2, 3}));
  const auto mixed = parse_completion_request(R"({"model":"m","prompt":["a",[4,5]]})", limits());
  ASSERT_EQ(mixed.prompts.size(), 2u);
  EXPECT_FALSE(mixed.prompts[0].is_ids);
  EXPECT_TRUE(mixed.prompts[1].is_ids);
  EXPECT_EQ(refusal([] { parse_completion_request(R"({"model":"m","prompt":[-1]})", limits()); }).param(), "prompt");
  EXPECT_EQ(
      refusal([] { parse_completion_request(R"({"model":"m","prompt":["a","b","c"],"n":2})", limits()); }).param(),
      "n");
  EXPECT_EQ(refusal([] { parse_completion_request(R"({"model":"m","prompt":"a","suffix":"b"})", limits()); }).code(),
            "unsupported_parameter");
}

TEST(EmbeddingRequest, Inputs) {
  EXPECT_EQ(parse_embedding_request(R"({"model":"m","input":["a","b"]})", limits()).texts.size(), 2u);
  EXPECT_EQ(parse_embedding_request(R"({"model":"m","input":[[1],[2,3]]})", limits()).id_lists.size(), 2u);
  EXPECT_TRUE(parse_embedding_request(R"({"model":"m","input":"a","encoding_format":"base64"})", limits()).base64);
  EXPECT_EQ(refusal([] { parse_embedding_request(R"({"model":"m","input":["a",[1]]})", limits()); }).param(),
            "input[1]");
  EXPECT_EQ(refusal([] { parse_embedding_request(R"({"model":"m","input":"a","dimensions":0})", limits()); }).param(),
            "dimensions");
}

TEST(TokenizeRequest, VllmAndTeiShapes) {
  EXPECT_TRUE(is_tei_tokenize_body(R"({"inputs":"a"})"));
  EXPECT_FALSE(is_tei_tokenize_body(R"({"prompt":"a"})"));
  const auto chat = parse_tokenize_request(R"({"messages":[{"role":"user","content":"a"}]})", limits());
  EXPECT_FALSE(chat.add_special_tokens);
  EXPECT_TRUE(chat.add_generation_prompt);
  EXPECT_EQ(refusal([] { parse_tokenize_request(R"({"prompt":"a","messages":[]})", limits()); }).param(), "messages");
  const auto tei = parse_tei_decode_request(R"({"ids":[[1,2],[3]]})", limits());
  EXPECT_TRUE(tei.batch);
  EXPECT_EQ(tei.id_lists.size(), 2u);
}

}  // namespace
}  // namespace ia::server
