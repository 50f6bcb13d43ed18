// `ipfs-accelerate serve` over loopback with plain HTTP: every route, every
// error status, streaming, cancellation by disconnect, queue overflow, a slow
// client, a 50 MB body, SIGTERM, and greedy answers equal to the CLI's.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"
#include "integration/serve_client.h"

namespace ia::test {
namespace {

using nlohmann::json;

const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models/";

json chat_body(const std::string& model, const std::string& content, int max_tokens, json extra = json::object()) {
  json body{{"model", model},
            {"messages", json::array({json{{"role", "user"}, {"content", content}}})},
            {"max_tokens", max_tokens},
            {"temperature", 0},
            {"ignore_eos", true}};
  body.update(extra);
  return body;
}

// One server for the read-only cases: two decoders (one with a chat template) and an encoder.
class Serve : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServeProcess({"-m", kModels + "llama", "-m", kModels + "gpt2", "-m", kModels + "bert"});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->ready()) << server_->log(); }
  static ServeProcess* server_;
};
ServeProcess* Serve::server_ = nullptr;

TEST_F(Serve, ModelsHealthAndMetrics) {
  const HttpAnswer models = get(*server_, "/v1/models");
  ASSERT_EQ(models.status, 200) << models.body;
  const json m = models.json();
  EXPECT_EQ(m["object"], "list");
  ASSERT_EQ(m["data"].size(), 3u);
  EXPECT_EQ(m["data"][0]["id"], "llama");
  EXPECT_EQ(m["data"][0]["object"], "model");
  EXPECT_EQ(m["data"][0]["max_model_len"], 256);
  EXPECT_EQ(get(*server_, "/health").status, 200);
  const HttpAnswer metrics = get(*server_, "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("# TYPE ia_http_requests_total counter"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("ia_http_requests_total{route=\"/v1/models\",status=\"200\"}"), std::string::npos);
  EXPECT_NE(metrics.body.find("ia_num_requests_waiting{model=\"llama\"} 0"), std::string::npos);
}

TEST_F(Serve, GreedyCompletionEqualsGenerate) {
  for (const std::string model : {"llama", "gpt2"}) {
    const std::string prompt = "The quick brown fox";
    const CliResult cli = run_cli({"generate", "--model", kModels + model, "--prompt", prompt, "--max-new-tokens", "12",
                                   "--temperature", "0", "--ignore-eos", "--json", "--quiet"});
    ASSERT_EQ(cli.status, 0) << cli.err;
    const json want = json::parse(cli.out);
    const HttpAnswer a = post_json(
        *server_, "/v1/completions",
        json{{"model", model}, {"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}, {"ignore_eos", true}}
            .dump());
    ASSERT_EQ(a.status, 200) << a.body;
    const json got = a.json();
    EXPECT_EQ(got["object"], "text_completion");
    EXPECT_EQ(got["choices"][0]["text"], want["text"]) << model;
    EXPECT_EQ(got["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(got["usage"]["prompt_tokens"], want["usage"]["prompt_tokens"]);
    EXPECT_EQ(got["usage"]["completion_tokens"], 12);
  }
}

TEST_F(Serve, GreedyChatEqualsCliChat) {
  TempDir dir;
  const json messages = json::array({json{{"role", "user"}, {"content", "Hello there!"}}});
  write_file(dir.path() + "/m.json", messages.dump());
  const CliResult cli = run_cli({"chat", "--model", kModels + "llama", "--messages", dir.path() + "/m.json",
                                 "--max-new-tokens", "10", "--temperature", "0", "--json", "--quiet"});
  ASSERT_EQ(cli.status, 0) << cli.err;
  const json want = json::parse(cli.out);
  json body = chat_body("llama", "Hello there!", 10);
  body.erase("ignore_eos");
  const HttpAnswer a = post_json(*server_, "/v1/chat/completions", body.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  const json got = a.json();
  EXPECT_EQ(got["object"], "chat.completion");
  EXPECT_EQ(got["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(got["choices"][0]["message"]["content"], want["text"]);
  EXPECT_EQ(got["choices"][0]["finish_reason"], want["finish_reason"]);
  EXPECT_EQ(got["usage"]["prompt_tokens"], want["usage"]["prompt_tokens"]);
}

TEST_F(Serve, StreamedChatAddsUpToTheWholeAnswer) {
  const json body = chat_body("llama", "Tell me a story", 16);
  const std::string whole =
      post_json(*server_, "/v1/chat/completions", body.dump()).json()["choices"][0]["message"]["content"];
  json streamed = body;
  streamed["stream"] = true;
  streamed["stream_options"] = json{{"include_usage", true}};
  const SseAnswer s = post_stream(*server_, "/v1/chat/completions", streamed.dump());
  ASSERT_EQ(s.status, 200) << s.raw;
  ASSERT_GE(s.events.size(), 4u) << s.raw;
  EXPECT_EQ(s.events.back(), "[DONE]");
  const json first = json::parse(s.events.front());
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(first["usage"].is_null());
  std::string text;
  std::string finish;
  for (size_t i = 0; i + 2 < s.events.size(); ++i) {
    const json e = json::parse(s.events[i]);
    const json& c = e["choices"][0];
    if (c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
    if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
  }
  EXPECT_EQ(text, whole);
  EXPECT_EQ(finish, "length");
  const json usage = json::parse(s.events[s.events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 16);
}

TEST_F(Serve, NChoicesAndLogprobs) {
  const HttpAnswer a =
      post_json(*server_, "/v1/chat/completions",
                chat_body("llama", "Hi", 6, json{{"n", 2}, {"logprobs", true}, {"top_logprobs", 3}}).dump());
  ASSERT_EQ(a.status, 200) << a.body;
  const json j = a.json();
  ASSERT_EQ(j["choices"].size(), 2u);
  EXPECT_EQ(j["choices"][0]["message"]["content"], j["choices"][1]["message"]["content"]);  // greedy
  EXPECT_EQ(j["choices"][1]["index"], 1);
  const json& content = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 6u);
  EXPECT_EQ(content[0]["top_logprobs"].size(), 3u);
  EXPECT_LE(content[0]["logprob"].get<double>(), 0.0);
  EXPECT_EQ(j["usage"]["completion_tokens"], 12);

  const HttpAnswer c = post_json(
      *server_, "/v1/completions",
      json{{"model", "gpt2"}, {"prompt", "a b"}, {"max_tokens", 4}, {"logprobs", 2}, {"temperature", 0}}.dump());
  ASSERT_EQ(c.status, 200) << c.body;
  const json cj = c.json();
  const json& lp = cj["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"].size(), 4u);
  EXPECT_EQ(lp["token_logprobs"].size(), 4u);
  EXPECT_EQ(lp["text_offset"][0], 0);
}

TEST_F(Serve, CompletionPromptShapesAndEcho) {
  const HttpAnswer list =
      post_json(*server_, "/v1/completions",
                json{{"model", "llama"}, {"prompt", {"one", "two"}}, {"max_tokens", 3}, {"temperature", 0}}.dump());
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.json()["choices"].size(), 2u);
  const HttpAnswer ids =
      post_json(*server_, "/v1/completions",
                json{{"model", "llama"}, {"prompt", {1, 450, 996}}, {"max_tokens", 3}, {"temperature", 0}}.dump());
  ASSERT_EQ(ids.status, 200) << ids.body;
  EXPECT_EQ(ids.json()["usage"]["prompt_tokens"], 3);
  const HttpAnswer echo = post_json(
      *server_, "/v1/completions",
      json{{"model", "llama"}, {"prompt", "Echo me"}, {"max_tokens", 3}, {"temperature", 0}, {"echo", true}}.dump());
  ASSERT_EQ(echo.status, 200) << echo.body;
  EXPECT_EQ(echo.json()["choices"][0]["text"].get<std::string>().rfind("Echo me", 0), 0u);
  // Sampled with a seed: the same request gives the same text.
  const json seeded{{"model", "llama"},
                    {"prompt", "x"},
                    {"max_tokens", 8},
                    {"temperature", 1.0},
                    {"seed", 7},
                    {"top_k", 20},
                    {"min_p", 0.01},
                    {"repetition_penalty", 1.1},
                    {"presence_penalty", 0.5},
                    {"frequency_penalty", 0.5},
                    {"logit_bias", {{"5", -100}}},
                    {"stop", {"zzz"}}};
  const HttpAnswer s1 = post_json(*server_, "/v1/completions", seeded.dump());
  const HttpAnswer s2 = post_json(*server_, "/v1/completions", seeded.dump());
  ASSERT_EQ(s1.status, 200) << s1.body;
  EXPECT_EQ(s1.json()["choices"][0]["text"], s2.json()["choices"][0]["text"]);
}

TEST_F(Serve, Embeddings) {
  const HttpAnswer f =
      post_json(*server_, "/v1/embeddings", json{{"model", "bert"}, {"input", {"hello world", "bye"}}}.dump());
  ASSERT_EQ(f.status, 200) << f.body;
  const json fj = f.json();
  ASSERT_EQ(fj["data"].size(), 2u);
  const auto dims = fj["data"][0]["embedding"].size();
  EXPECT_EQ(dims, 32u);
  EXPECT_GT(fj["usage"]["prompt_tokens"].get<int>(), 0);
  const HttpAnswer b =
      post_json(*server_, "/v1/embeddings",
                json{{"model", "bert"}, {"input", {"hello world", "bye"}}, {"encoding_format", "base64"}}.dump());
  ASSERT_EQ(b.status, 200) << b.body;
  // base64 of little-endian float32: 32 floats = 128 bytes = 172 characters with padding.
  EXPECT_EQ(b.json()["data"][0]["embedding"].get<std::string>().size(), 172u);
  const HttpAnswer ids =
      post_json(*server_, "/v1/embeddings", json{{"model", "bert"}, {"input", {{2, 300, 3}}}}.dump());
  ASSERT_EQ(ids.status, 200) << ids.body;
  EXPECT_EQ(ids.json()["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(
      post_json(*server_, "/v1/embeddings", json{{"model", "bert"}, {"input", "x"}, {"dimensions", 32}}.dump()).status,
      200);
  const HttpAnswer d =
      post_json(*server_, "/v1/embeddings", json{{"model", "bert"}, {"input", "x"}, {"dimensions", 8}}.dump());
  EXPECT_EQ(d.status, 400);
  EXPECT_EQ(d.json()["error"]["param"], "dimensions");
  // TEI's /embed: a list of normalized vectors.
  const HttpAnswer tei = post_json(*server_, "/embed", json{{"inputs", {"hello", "world"}}}.dump());
  ASSERT_EQ(tei.status, 200) << tei.body;
  const json v = tei.json();
  ASSERT_EQ(v.size(), 2u);
  double norm = 0;
  for (double x : v[0]) norm += x * x;
  EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-4);
}

TEST_F(Serve, TokenizerRoutesAndInfo) {
  const HttpAnswer t = post_json(*server_, "/tokenize", json{{"model", "llama"}, {"prompt", "Hello world"}}.dump());
  ASSERT_EQ(t.status, 200) << t.body;
  const json tj = t.json();
  EXPECT_EQ(tj["count"], tj["tokens"].size());
  EXPECT_EQ(tj["max_model_len"], 256);
  const CliResult cli = run_cli({"tokenize", "--model", kModels + "llama", "Hello world"});
  ASSERT_EQ(cli.status, 0) << cli.err;
  EXPECT_EQ(json::parse(cli.out)["ids"], tj["tokens"]);
  const HttpAnswer d = post_json(*server_, "/detokenize", json{{"model", "llama"}, {"tokens", tj["tokens"]}}.dump());
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_NE(d.json()["prompt"].get<std::string>().find("Hello world"), std::string::npos);
  const HttpAnswer chat = post_json(
      *server_, "/tokenize",
      json{{"model", "llama"}, {"messages", json::array({json{{"role", "user"}, {"content", "Hi"}}})}}.dump());
  ASSERT_EQ(chat.status, 200) << chat.body;
  EXPECT_GT(chat.json()["count"].get<int>(), 2);
  // TEI's shape on the same path: "inputs".
  const HttpAnswer tei = post_json(*server_, "/tokenize", json{{"inputs", "hello world"}, {"model", "bert"}}.dump());
  ASSERT_EQ(tei.status, 200) << tei.body;
  const json tokens = tei.json()[0];
  ASSERT_GE(tokens.size(), 3u);
  EXPECT_EQ(tokens[0]["special"], true);
  EXPECT_TRUE(tokens[1].contains("start"));
  json ids = json::array();
  for (const json& t : tokens) ids.push_back(t["id"]);
  const HttpAnswer dec = post_json(*server_, "/decode", json{{"ids", ids}, {"model", "bert"}}.dump());
  ASSERT_EQ(dec.status, 200) << dec.body;
  EXPECT_EQ(dec.json()[0], "hello world");
  const HttpAnswer info = get(*server_, "/info");
  ASSERT_EQ(info.status, 200);
  EXPECT_EQ(info.json()["model_id"], "bert");
  EXPECT_EQ(info.json()["model_type"]["embedding"]["pooling"], "mean");
}

// TEI's routes refuse in TEI's shape, which its clients parse; /tokenize in the shape of the API
// whose body it was given.
TEST_F(Serve, TeiRoutesAnswerErrorsInTeisShape) {
  for (const auto& [path, body] :
       std::vector<std::pair<std::string, std::string>>{{"/embed", R"({"inputs": 5})"},
                                                        {"/embed", R"({"inputs": "x", "model": "nope"})"},
                                                        {"/embed", "{not json"},
                                                        {"/decode", R"({"ids": "x", "model": "bert"})"},
                                                        {"/tokenize", R"({"inputs": 7, "model": "bert"})"}}) {
    const HttpAnswer a = post_json(*server_, path, body);
    EXPECT_GE(a.status, 400) << path << " " << body;
    const json e = a.json();
    ASSERT_TRUE(e["error"].is_string()) << path << " " << body << " -> " << a.body;
    EXPECT_FALSE(e["error"].get<std::string>().empty());
    EXPECT_EQ(e["error_type"], "validation") << a.body;
  }
  const HttpAnswer v = post_json(*server_, "/tokenize", R"({"prompt": 7, "model": "llama"})");
  EXPECT_EQ(v.status, 400);
  EXPECT_TRUE(v.json()["error"].is_object()) << v.body;  // vLLM's /tokenize: OpenAI's shape
}

// Every refusal in OpenAI's shape, with its status, its code and the field at fault.
TEST_F(Serve, ErrorStatusesAndShapes) {
  struct Case {
    std::string path, body;
    int status;
    std::string code, param;
  };
  std::string long_prompt;
  for (int i = 0; i < 300; ++i) long_prompt += "hello world ";
  const std::vector<Case> cases = {
      {"/v1/chat/completions", "{not json", 400, "invalid_json", ""},
      {"/v1/chat/completions", "[1,2]", 400, "invalid_json", ""},
      {"/v1/chat/completions", R"({"model":"llama","messages":[{"role":"user","content":"a"}],"temperature":"hot"})",
       400, "invalid_value", "temperature"},
      {"/v1/chat/completions", R"({"model":"llama","messages":[{"role":"user","content":"a"}],"max_tokens":-5})", 400,
       "invalid_value", "max_tokens"},
      {"/v1/chat/completions", R"({"model":"llama","messages":[]})", 400, "invalid_value", "messages"},
      {"/v1/chat/completions", R"({"model":"llama","messages":[{"role":"wizard","content":"a"}]})", 400,
       "invalid_value", "messages[0].role"},
      {"/v1/chat/completions", R"({"model":"llama","messages":[{"role":"user","content":5}]})", 400, "invalid_value",
       "messages[0].content"},
      {"/v1/chat/completions", R"({"messages":[{"role":"user","content":"a"}]})", 400, "invalid_value", "model"},
      {"/v1/chat/completions", R"({"model":"nope","messages":[{"role":"user","content":"a"}]})", 404, "model_not_found",
       "model"},
      {"/v1/chat/completions", R"({"model":"bert","messages":[{"role":"user","content":"a"}]})", 400, "invalid_value",
       "model"},
      {"/v1/chat/completions", R"({"model":"gpt2","messages":[{"role":"user","content":"a"}]})", 400, "invalid_value",
       "model"},
      {"/v1/chat/completions", R"({"model":"llama","messages":[{"role":"user","content":"a"}],"guided_regex":"a+"})",
       400, "unsupported_parameter", "guided_regex"},
      {"/v1/chat/completions",
       R"({"model":"llama","messages":[{"role":"user","content":"a"}],"tools":[{"type":"function","function":{"name":"f"}}]})",
       400, "invalid_value", "tools"},
      {"/v1/chat/completions",
       R"({"model":"llama","messages":[{"role":"user","content":"a"}],"max_tokens":2,"min_tokens":3})", 400,
       "invalid_value", "min_tokens"},
      {"/v1/chat/completions", R"({"model":"llama","messages":[{"role":"user","content":"a"}],"max_tokens":1000})", 400,
       "context_length_exceeded", "max_tokens"},
      {"/v1/chat/completions",
       R"({"model":"llama","messages":[{"role":"user","content":"a"}],"logit_bias":{"99999":1}})", 400, "invalid_value",
       "logit_bias.99999"},
      {"/v1/chat/completions", R"({"model":"llama","messages":[{"role":"user","content":"a"}],"n":1000})", 400,
       "invalid_value", "n"},
      {"/v1/completions", json{{"model", "llama"}, {"prompt", long_prompt}}.dump(), 400, "context_length_exceeded",
       "prompt"},
      {"/v1/completions", R"({"model":"llama","prompt":[1,2,99999]})", 400, "invalid_value", "prompt"},
      {"/v1/completions", R"({"model":"llama","prompt":"a","echo":true,"logprobs":1})", 400, "unsupported_parameter",
       "echo"},
      {"/v1/embeddings", R"({"model":"bert","input":[]})", 400, "invalid_value", "input"},
      {"/v1/embeddings", R"({"model":"bert","input":"a","encoding_format":"hex"})", 400, "invalid_value",
       "encoding_format"},
      {"/v1/embeddings", R"({"model":"llama","input":"a"})", 400, "invalid_value", "model"},
      {"/v1/nothing", "{}", 404, "not_found", ""},
  };
  for (const Case& c : cases) {
    const HttpAnswer a = post_json(*server_, c.path, c.body);
    EXPECT_EQ(a.status, c.status) << c.path << " " << c.body << " -> " << a.body;
    json e;
    ASSERT_NO_THROW(e = a.json()) << a.body;
    ASSERT_TRUE(e.contains("error")) << a.body;
    const json& err = e["error"];
    EXPECT_TRUE(err["message"].is_string() && !err["message"].get<std::string>().empty()) << a.body;
    EXPECT_TRUE(err["type"].is_string()) << a.body;
    EXPECT_EQ(err["code"], c.code) << c.body << " -> " << a.body;
    if (c.param.empty())
      EXPECT_TRUE(err["param"].is_null()) << a.body;
    else
      EXPECT_EQ(err["param"], c.param) << c.body << " -> " << a.body;
  }
  EXPECT_EQ(get(*server_, "/no/such/route").status, 404);
}

// A 50 MB body is refused with 413 without being kept, and the server goes on serving.
TEST_F(Serve, FiftyMegabyteBodyIs413) {
  const std::string big(50u << 20, 'x');
  const HttpAnswer a = post_json(*server_, "/v1/embeddings", big);
  EXPECT_EQ(a.status, 413) << a.body.substr(0, 300);
  if (a.status == 413) {
    EXPECT_EQ(a.json()["error"]["code"], "request_too_large");
  }
  EXPECT_EQ(get(*server_, "/health").status, 200);
  EXPECT_EQ(post_json(*server_, "/v1/chat/completions", chat_body("llama", "still there?", 2).dump()).status, 200);
}

// A client that never reads its stream, and one that never finishes its request, hold only
// their own connections: everyone else is served.
TEST_F(Serve, SlowClientsDoNotBlockOthers) {
  json body = chat_body("llama", "go", 64);
  body["stream"] = true;
  RawConnection never_reads(server_->host(), server_->port());
  ASSERT_TRUE(never_reads.send_all(http_post_request("/v1/chat/completions", body.dump())));
  RawConnection half_request(server_->host(), server_->port());
  ASSERT_TRUE(half_request.send_all("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"));
  const auto start = std::chrono::steady_clock::now();
  const HttpAnswer a = post_json(*server_, "/v1/chat/completions", chat_body("llama", "hi", 4).dump());
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(ServeKeys, MissingOrWrongKeyIs401) {
  ServeProcess s({"-m", kModels + "gpt2", "--api-key", "secret-1", "--api-key", "secret-2"});
  ASSERT_TRUE(s.ready()) << s.log();
  const std::string body = json{{"model", "gpt2"}, {"prompt", "a"}, {"max_tokens", 2}}.dump();
  const HttpAnswer none = post_json(s, "/v1/completions", body);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.json()["error"]["code"], "missing_api_key");
  const HttpAnswer wrong = post_json(s, "/v1/completions", body, {{"Authorization", "Bearer secret-3"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.json()["error"]["code"], "invalid_api_key");
  EXPECT_EQ(post_json(s, "/v1/completions", body, {{"Authorization", "Bearer secret-2"}}).status, 200);
  EXPECT_EQ(get(s, "/v1/models").status, 401);
  EXPECT_EQ(get(s, "/health").status, 200);  // probes need no key
  EXPECT_EQ(s.terminate(), 0) << s.log();
}

// Generation slowed to 25 ms a token (test instrumentation) so that requests overlap.
const std::vector<std::pair<std::string, std::string>> kSlowTokens{{"IA_SERVE_TEST_TOKEN_DELAY_MS", "25"}};

TEST(ServeQueue, OverflowIs429WithRetryAfterAndNeverHangs) {
  // One sequence a step: a queue forms behind it (with more, the burst would run in one batch).
  ServeProcess s({"-m", kModels + "llama", "--max-num-seqs", "1", "--max-queue", "1"}, kSlowTokens);
  ASSERT_TRUE(s.ready()) << s.log();
  const std::string body = chat_body("llama", "queue", 24).dump();
  std::vector<std::future<HttpAnswer>> answers;
  for (int i = 0; i < 6; ++i)
    answers.push_back(std::async(std::launch::async, [&] { return post_json(s, "/v1/chat/completions", body); }));
  int ok = 0, refused = 0;
  for (auto& f : answers) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(60)), std::future_status::ready);
    const HttpAnswer a = f.get();
    if (a.status == 200) ++ok;
    if (a.status == 429) {
      ++refused;
      EXPECT_EQ(a.json()["error"]["code"], "rate_limit_exceeded");
      bool retry_after = false;
      for (const auto& [k, v] : a.headers) retry_after |= k == "Retry-After";
      EXPECT_TRUE(retry_after);
    }
  }
  EXPECT_EQ(ok + refused, 6);
  EXPECT_GE(ok, 1);
  EXPECT_GE(refused, 1);
  EXPECT_GE(metric_value(s, R"(ia_http_requests_total{route="/v1/chat/completions",status="429"})"), 1);
}

TEST(ServeStreaming, ClientDisconnectCancelsGeneration) {
  ServeProcess s({"-m", kModels + "llama"}, kSlowTokens);
  ASSERT_TRUE(s.ready()) << s.log();
  json body = chat_body("llama", "a long story", 200);  // 5 s if it ran to the end
  body["stream"] = true;
  const SseAnswer partial = post_stream(s, "/v1/chat/completions", body.dump(), 3);
  ASSERT_EQ(partial.status, 200);
  ASSERT_EQ(partial.events.size(), 3u);
  const auto left = std::chrono::steady_clock::now();
  double cancelled = -1;
  while (std::chrono::steady_clock::now() - left < std::chrono::seconds(4)) {
    cancelled = metric_value(s, R"(ia_requests_cancelled_total{model="llama"})");
    if (cancelled >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(cancelled, 1);
  // The worker is free again long before the abandoned request would have finished.
  const HttpAnswer next = post_json(s, "/v1/chat/completions", chat_body("llama", "next", 2).dump());
  EXPECT_EQ(next.status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - left, std::chrono::seconds(4));
}

// A whole (non-streamed) answer whose client leaves is cancelled too: the server writes a space
// every second while it waits, and the write to a closed connection fails.
TEST(ServeStreaming, ClientThatLeavesAWholeAnswerCancelsIt) {
  ServeProcess s({"-m", kModels + "llama"}, kSlowTokens);
  ASSERT_TRUE(s.ready()) << s.log();
  const auto sent = std::chrono::steady_clock::now();
  {
    RawConnection conn(s.host(), s.port());
    ASSERT_TRUE(
        conn.send_all(http_post_request("/v1/chat/completions", chat_body("llama", "a long story", 200).dump())));
    // Past the moment a quick answer would take: the status and the keep-alive spaces come.
    const std::string head = conn.read_for(1500);
    EXPECT_NE(head.find("200"), std::string::npos) << head;
    conn.close();  // leaves 200 tokens at 25 ms each unfinished
  }
  double cancelled = -1;
  while (std::chrono::steady_clock::now() - sent < std::chrono::seconds(5)) {
    cancelled = metric_value(s, R"(ia_requests_cancelled_total{model="llama"})");
    if (cancelled >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(cancelled, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - sent, std::chrono::seconds(5));  // 200 tokens take 5 s
  // One that stays gets its whole answer, the JSON after the spaces that kept it alive.
  const HttpAnswer whole = post_json(s, "/v1/chat/completions", chat_body("llama", "a story", 60).dump());
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_EQ(whole.json()["usage"]["completion_tokens"], 60) << whole.body;
}

TEST(ServeLifecycle, GenerationTimeoutEndsARequestWithTheTextSoFar) {
  ServeProcess s({"-m", kModels + "llama", "--generation-timeout", "1.5"}, kSlowTokens);
  ASSERT_TRUE(s.ready()) << s.log();
  const auto sent = std::chrono::steady_clock::now();
  const HttpAnswer a = post_json(s, "/v1/chat/completions", chat_body("llama", "a long story", 200).dump());
  ASSERT_EQ(a.status, 200) << a.body;
  const json choice = a.json()["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "length");
  const int64_t tokens = a.json()["usage"]["completion_tokens"];
  EXPECT_GT(tokens, 0);
  EXPECT_LT(tokens, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - sent, std::chrono::seconds(4));
}

TEST(ServeLifecycle, SigtermFinishesInFlightThenExitsZero) {
  ServeProcess s({"-m", kModels + "llama"}, kSlowTokens);
  ASSERT_TRUE(s.ready()) << s.log();
  json body = chat_body("llama", "finish me", 30);
  body["stream"] = true;
  auto stream = std::async(std::launch::async, [&] { return post_stream(s, "/v1/chat/completions", body.dump()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the stream is under way
  auto exit_status = std::async(std::launch::async, [&] { return s.terminate(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const HttpAnswer late = post_json(s, "/v1/chat/completions", chat_body("llama", "late", 2).dump());
  EXPECT_TRUE(late.status == 503 || late.status == 0) << late.status << " " << late.body;
  const SseAnswer done = stream.get();
  ASSERT_FALSE(done.events.empty()) << done.raw;
  EXPECT_EQ(done.events.back(), "[DONE]");
  EXPECT_EQ(exit_status.get(), 0);
}

// Past --shutdown-grace what still runs is cancelled: stopping never waits for a max_tokens.
TEST(ServeLifecycle, SigtermPastTheGraceCancelsAndExitsZero) {
  ServeProcess s({"-m", kModels + "llama", "--shutdown-grace", "0.3"}, kSlowTokens);
  ASSERT_TRUE(s.ready()) << s.log();
  auto long_answer = std::async(std::launch::async, [&] {
    return post_json(s, "/v1/chat/completions", chat_body("llama", "a very long answer", 200).dump());
  });  // 5 s if it ran to the end
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(s.terminate(), 0) << s.log();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  long_answer.wait();
}

// The local blockstore's trustless gateway on the model server's port (off with --no-ipfs-gateway).
TEST(ServeGateway, IpfsRoutesOnTheSamePort) {
  TempDir home;
  write_file(home.path() + "/hello.txt", "hello from the model server");
  ::setenv("IPFS_ACCELERATE_HOME", (home.path() + "/repo").c_str(), 1);
  const CliResult add = run_cli({"ipfs", "add", "--cid-version", "1", "-Q", home.path() + "/hello.txt"});
  ::unsetenv("IPFS_ACCELERATE_HOME");
  ASSERT_EQ(add.status, 0) << add.err;
  const std::string cid = add.out.substr(0, add.out.find_first_of(" \n"));
  ServeProcess s({"-m", kModels + "gpt2"}, {{"IPFS_ACCELERATE_HOME", home.path() + "/repo"}});
  ASSERT_TRUE(s.ready()) << s.log();
  const HttpAnswer raw = get(s, "/ipfs/" + cid + "?format=raw");
  EXPECT_EQ(raw.status, 200) << raw.body;
  EXPECT_NE(raw.body.find("hello from the model server"), std::string::npos);
  EXPECT_EQ(get(s, "/ipfs/" + cid + "?format=car").status, 200);
  ServeProcess off({"-m", kModels + "gpt2", "--no-ipfs-gateway"}, {{"IPFS_ACCELERATE_HOME", home.path() + "/repo"}});
  ASSERT_TRUE(off.ready()) << off.log();
  EXPECT_EQ(get(off, "/ipfs/" + cid + "?format=raw").status, 404);
}

TEST(ServeLifecycle, PortInUseIsExitTwoWithOneLine) {
  ServeProcess first({"-m", kModels + "gpt2"});
  ASSERT_TRUE(first.ready()) << first.log();
  const CliResult r = run_cli({"serve", "-m", kModels + "gpt2", "--port", std::to_string(first.port())});
  expect_user_error(r, "in use");
}

}  // namespace
}  // namespace ia::test
