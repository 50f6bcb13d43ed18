// Tool calls: requests' tools and tool_choice checked, the calls of the common chat formats parsed
// out of a model's text, and the grammar of a forced call.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/api_error.h"
#include "server/tool_calls.h"

namespace ia::server {
namespace {

using Json = nlohmann::ordered_json;

const std::vector<std::string> kNames = {"get_weather", "get_time"};

TEST(ToolCalls, HermesBlocksAmongText) {
  const auto m = parse_assistant_message(
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"
      "<tool_call>{\"name\": \"get_time\", \"arguments\": \"{}\"}</tool_call>",
      kNames);
  ASSERT_EQ(m.calls.size(), 2u);
  EXPECT_EQ(m.calls[0].name, "get_weather");
  EXPECT_EQ(nlohmann::json::parse(m.calls[0].arguments), nlohmann::json::parse(R"({"city":"Paris"})"));
  EXPECT_EQ(m.calls[1].arguments, "{}");
  EXPECT_NE(m.calls[0].id, m.calls[1].id);
  ASSERT_TRUE(m.content);
  EXPECT_EQ(*m.content, "Let me check.");
}

TEST(ToolCalls, MistralLlamaAndPlainJson) {
  auto m = parse_assistant_message("[TOOL_CALLS] [{\"name\": \"get_time\", \"arguments\": {}}]", kNames);
  ASSERT_EQ(m.calls.size(), 1u);
  EXPECT_FALSE(m.content);
  m = parse_assistant_message("<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}",
                              kNames);
  ASSERT_EQ(m.calls.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(m.calls[0].arguments)["city"], "Oslo");
  m = parse_assistant_message(" {\"name\": \"get_time\"} ", kNames);
  ASSERT_EQ(m.calls.size(), 1u);
  EXPECT_EQ(m.calls[0].arguments, "{}");
}

TEST(ToolCalls, TextAndUnknownFunctionsStayText) {
  for (const std::string text :
       {"It is sunny.", "{\"name\": \"rm_rf\", \"arguments\": {}}",
        "<tool_call>{\"name\": \"get_time\", \"arguments\": [1]}</tool_call>", "<tool_call>not json</tool_call>",
        "{\"name\": \"get_time\", \"arguments\": \"{bad\"}"}) {
    const auto m = parse_assistant_message(text, kNames);
    EXPECT_TRUE(m.calls.empty()) << text;
    ASSERT_TRUE(m.content);
    EXPECT_EQ(*m.content, text);
  }
  EXPECT_TRUE(parse_assistant_message("{\"name\": \"get_time\"}", {}).calls.empty());
}

TEST(ToolCalls, RequestsAreChecked) {
  const Json tools = Json::parse(R"([{"type": "function", "function": {"name": "get_time"}}])");
  auto t = parse_tools(Json{{"tools", tools}});
  EXPECT_EQ(t.choice, "auto");
  EXPECT_EQ(t.names, std::vector<std::string>{"get_time"});
  t = parse_tools(
      Json{{"tools", tools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_time"}}}}}});
  EXPECT_EQ(t.choice, "function");
  EXPECT_EQ(t.forced, "get_time");
  EXPECT_EQ(parse_tools(Json::object()).choice, "none");
  auto param_of = [](const Json& body) -> std::string {
    try {
      parse_tools(body);
    } catch (const ApiError& e) {
      return e.param();
    }
    return "accepted";
  };
  EXPECT_EQ(param_of(Json{{"tools", "x"}}), "tools");
  EXPECT_EQ(param_of(Json{{"tools", Json::array({Json{{"type", "code"}}})}}), "tools[0].type");
  EXPECT_EQ(param_of(Json{{"tools", Json::parse(R"([{"type":"function","function":{"name":"a b"}}])")}}),
            "tools[0].function.name");
  EXPECT_EQ(param_of(Json{{"tools", Json::parse(R"([{"type":"function","function":{"name":"a"}},
                                                    {"type":"function","function":{"name":"a"}}])")}}),
            "tools[1].function.name");
  EXPECT_EQ(param_of(Json{{"tools", Json::parse(R"([{"type":"function","function":{"name":"a","parameters":3}}])")}}),
            "tools[0].function.parameters");
  EXPECT_EQ(param_of(Json{{"tool_choice", "required"}}), "tool_choice");
  EXPECT_EQ(param_of(Json{{"tools", tools}, {"tool_choice", "sometimes"}}), "tool_choice");
}

TEST(ToolCalls, ForcedCallGrammar) {
  const Json tools = Json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
      {"type": "function", "function": {"name": "get_time"}}])");
  ToolsRequest t = parse_tools(Json{{"tools", tools}, {"tool_choice", "required"}});
  auto g = forced_call_grammar(t, /*tagged=*/true);
  ASSERT_TRUE(g);
  auto accepts = [&](const std::string& text) {
    grammar::GrammarMatcher m(*g);
    return m.accept(text) && m.complete();
  };
  EXPECT_TRUE(accepts("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>"));
  EXPECT_TRUE(accepts("<tool_call>\n{\"name\":\"get_time\",\"arguments\":{}}\n</tool_call>"));
  EXPECT_FALSE(accepts("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_FALSE(accepts("{\"name\":\"get_time\",\"arguments\":{}}"));
  t = parse_tools(
      Json{{"tools", tools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_time"}}}}}});
  g = forced_call_grammar(t, /*tagged=*/false);
  EXPECT_TRUE(accepts("{\"name\":\"get_time\",\"arguments\":{}}"));
  EXPECT_FALSE(accepts("{\"name\":\"get_weather\",\"arguments\":{\"city\":\"x\"}}"));
  EXPECT_FALSE(forced_call_grammar(parse_tools(Json{{"tools", tools}}), true));  // auto: nothing forced
}

}  // namespace
}  // namespace ia::server
