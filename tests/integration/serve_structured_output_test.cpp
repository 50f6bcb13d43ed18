// Structured output from `serve`: response_format json_object / json_schema and vLLM's guided
// fields constrain what the model writes; tools and tool_choice render through the chat template
// and come back as tool_calls (forced calls under a grammar, whole and streamed); min_tokens.
// The fixture model has random weights: every assertion is about what the constraint guarantees.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"
#include "integration/serve_client.h"

namespace ia::test {
namespace {

using nlohmann::json;

const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models/";

// A Hermes-style template of our own (as Qwen2.5 and Hermes models teach tool calls): the tools as
// JSON in the system turn, calls inside <tool_call> tags.
constexpr const char* kToolTemplate =
    "{%- if tools %}<|system|>\nYou may call these functions:\n<tools>\n{%- for t in tools %}\n{{ t | tojson }}"
    "{%- endfor %}\n</tools>\nAnswer a call as <tool_call>{\"name\": ..., \"arguments\": ...}</tool_call>\n"
    "{%- endif %}{%- for m in messages %}\n<|{{ m['role'] }}|>\n{{ m['content'] }}{%- endfor %}"
    "{%- if add_generation_prompt %}\n<|assistant|>\n{%- endif %}";

json weather_tools() {
  return json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
      "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 12},
                                                     "unit": {"enum": ["c", "f"]}},
                     "required": ["city", "unit"], "additionalProperties": false}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}])");
}

json chat(const std::string& model, json extra) {
  json body{{"model", model},
            {"messages", json::array({json{{"role", "user"}, {"content", "What is the weather in Paris?"}}})},
            {"max_tokens", 200},
            {"temperature", 0}};
  body.update(extra);
  return body;
}

class ServeStructured : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string tools_model = dir_->path() + "/llama-tools";
    copy_model("llama", tools_model);
    json config = json::parse(read_file(tools_model + "/tokenizer_config.json"));
    config["chat_template"] = kToolTemplate;
    write_file(tools_model + "/tokenizer_config.json", config.dump());
    // Tool descriptions are long: rotary positions let the copy take a longer context.
    json model_config = json::parse(read_file(tools_model + "/config.json"));
    model_config["max_position_embeddings"] = 2048;
    write_file(tools_model + "/config.json", model_config.dump());
    server_ = new ServeProcess({"-m", kModels + "llama", "-m", tools_model});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  void SetUp() override { ASSERT_TRUE(server_->ready()) << server_->log(); }
  static TempDir* dir_;
  static ServeProcess* server_;
};
TempDir* ServeStructured::dir_ = nullptr;
ServeProcess* ServeStructured::server_ = nullptr;

TEST_F(ServeStructured, JsonSchemaOutputParsesAndValidates) {
  const json schema = json::parse(R"({"type": "object",
    "properties": {"answer": {"enum": ["yes", "no"]}, "count": {"type": "integer"}, "tags": {"type": "array",
                   "items": {"type": "boolean"}, "maxItems": 3}},
    "required": ["answer", "count", "tags"], "additionalProperties": false})");
  for (const double temperature : {0.0, 1.0}) {
    const json body = chat(
        "llama",
        {{"temperature", temperature},
         {"seed", 11},
         {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "verdict"}, {"schema", schema}}}}}});
    const HttpAnswer a = post_json(*server_, "/v1/chat/completions", body.dump());
    ASSERT_EQ(a.status, 200) << a.body;
    const json choice = a.json()["choices"][0];
    ASSERT_EQ(choice["finish_reason"], "stop") << a.body;
    const json out = json::parse(choice["message"]["content"].get<std::string>());
    EXPECT_TRUE(out["answer"] == "yes" || out["answer"] == "no") << out;
    EXPECT_TRUE(out["count"].is_number_integer()) << out;
    ASSERT_TRUE(out["tags"].is_array()) << out;
    EXPECT_LE(out["tags"].size(), 3u);
    for (const auto& t : out["tags"]) EXPECT_TRUE(t.is_boolean()) << out;
    EXPECT_EQ(out.size(), 3u) << out;
  }
}

TEST_F(ServeStructured, GuidedChoiceAndJsonObject) {
  const HttpAnswer c = post_json(*server_, "/v1/completions",
                                 json{{"model", "llama"},
                                      {"prompt", "Pick one:"},
                                      {"max_tokens", 20},
                                      {"guided_choice", {"positive", "negative", "neutral"}}}
                                     .dump());
  ASSERT_EQ(c.status, 200) << c.body;
  const std::string text = c.json()["choices"][0]["text"];
  EXPECT_TRUE(text == "positive" || text == "negative" || text == "neutral") << text;
  EXPECT_EQ(c.json()["choices"][0]["finish_reason"], "stop");

  const HttpAnswer o =
      post_json(*server_, "/v1/chat/completions",
                chat("llama", {{"max_tokens", 8}, {"response_format", {{"type", "json_object"}}}}).dump());
  ASSERT_EQ(o.status, 200) << o.body;
  const std::string content = o.json()["choices"][0]["message"]["content"];
  ASSERT_FALSE(content.empty());
  EXPECT_EQ(content[0], '{') << content;
}

TEST_F(ServeStructured, SchemasItCannotEnforceAre400NamingTheKeyword) {
  const json bad =
      chat("llama", {{"response_format",
                      {{"type", "json_schema"},
                       {"json_schema", {{"name", "x"}, {"schema", {{"type", "string"}, {"pattern", "^a+$"}}}}}}}});
  const HttpAnswer a = post_json(*server_, "/v1/chat/completions", bad.dump());
  ASSERT_EQ(a.status, 400) << a.body;
  EXPECT_EQ(a.json()["error"]["param"], "response_format.json_schema.schema");
  EXPECT_NE(a.json()["error"]["message"].get<std::string>().find("'pattern'"), std::string::npos) << a.body;
  const HttpAnswer t =
      post_json(*server_, "/v1/chat/completions", chat("llama", {{"response_format", {{"type", "yaml"}}}}).dump());
  EXPECT_EQ(t.status, 400) << t.body;
  const HttpAnswer m =
      post_json(*server_, "/v1/chat/completions", chat("llama", {{"max_tokens", 4}, {"min_tokens", 5}}).dump());
  EXPECT_EQ(m.status, 400) << m.body;
  EXPECT_EQ(m.json()["error"]["param"], "min_tokens");
}

TEST_F(ServeStructured, MinTokensAreGenerated) {
  const HttpAnswer a =
      post_json(*server_, "/v1/chat/completions",
                chat("llama", {{"max_tokens", 12}, {"min_tokens", 12}, {"stop", {"a", "e", " "}}}).dump());
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json()["usage"]["completion_tokens"], 12) << a.body;
}

TEST_F(ServeStructured, ForcedToolCallComesBackAsToolCalls) {
  const json body = chat(
      "llama-tools",
      {{"tools", weather_tools()}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}}});
  const HttpAnswer a = post_json(*server_, "/v1/chat/completions", body.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  const json choice = a.json()["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls") << a.body;
  EXPECT_TRUE(choice["message"]["content"].is_null()) << a.body;
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u) << a.body;
  const json call = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(call["function"]["name"], "get_weather");
  const json args = json::parse(call["function"]["arguments"].get<std::string>());
  EXPECT_TRUE(args["city"].is_string());
  EXPECT_LE(args["city"].get<std::string>().size(), 48u);  // 12 characters of up to 4 bytes
  EXPECT_TRUE(args["unit"] == "c" || args["unit"] == "f") << args;
}

TEST_F(ServeStructured, RequiredToolCallStreamsAsOneToolCallsDelta) {
  json body = chat("llama-tools", {{"tools", weather_tools()}, {"tool_choice", "required"}, {"stream", true}});
  const SseAnswer s = post_stream(*server_, "/v1/chat/completions", body.dump());
  ASSERT_EQ(s.status, 200) << s.raw;
  ASSERT_GE(s.events.size(), 3u) << s.raw;
  EXPECT_EQ(s.events.back(), "[DONE]");
  const json last = json::parse(s.events[s.events.size() - 2]);
  const json& c = last["choices"][0];
  EXPECT_EQ(c["finish_reason"], "tool_calls") << s.raw;
  ASSERT_EQ(c["delta"]["tool_calls"].size(), 1u) << s.raw;
  const json call = c["delta"]["tool_calls"][0];
  EXPECT_EQ(call["index"], 0);
  const std::string name = call["function"]["name"];
  EXPECT_TRUE(name == "get_weather" || name == "get_time") << name;
  EXPECT_TRUE(json::parse(call["function"]["arguments"].get<std::string>()).is_object());
  // The text was held back for parsing: no content deltas before the calls.
  for (size_t i = 1; i + 2 < s.events.size(); ++i)
    EXPECT_FALSE(json::parse(s.events[i])["choices"][0]["delta"].contains("content")) << s.events[i];
}

TEST_F(ServeStructured, ToolsNeedATemplateThatRendersThemAndWellFormedChoices) {
  const HttpAnswer a = post_json(*server_, "/v1/chat/completions", chat("llama", {{"tools", weather_tools()}}).dump());
  ASSERT_EQ(a.status, 400) << a.body;
  EXPECT_EQ(a.json()["error"]["param"], "tools");
  const HttpAnswer b = post_json(
      *server_, "/v1/chat/completions",
      chat("llama-tools",
           {{"tools", weather_tools()}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "nope"}}}}}})
          .dump());
  ASSERT_EQ(b.status, 400) << b.body;
  EXPECT_EQ(b.json()["error"]["param"], "tool_choice");
  const HttpAnswer c = post_json(*server_, "/v1/chat/completions",
                                 chat("llama-tools", {{"tools", json::array({{{"type", "function"}}})}}).dump());
  ASSERT_EQ(c.status, 400) << c.body;
  EXPECT_EQ(c.json()["error"]["param"], "tools[0].function");
  // tool_choice "none": the tools are not shown and the answer is plain text.
  const HttpAnswer d =
      post_json(*server_, "/v1/chat/completions",
                chat("llama-tools", {{"tools", weather_tools()}, {"tool_choice", "none"}, {"max_tokens", 4}}).dump());
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_FALSE(d.json()["choices"][0]["message"].contains("tool_calls"));
}

}  // namespace
}  // namespace ia::test
