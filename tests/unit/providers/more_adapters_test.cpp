// Gemini, TGI (native), TEI and OPEA against their protocol fakes.
#include <gtest/gtest.h>

#include "fake_config.h"
#include "providers/opea_provider.h"
#include "providers/provider_config.h"

namespace ia::providers {
namespace {

using test::FakeProtocol;
using test::FakeProvider;
using test::FakeStep;

std::string collect(Provider& p, const ChatCall& call, const std::string& key) {
  std::string text;
  p.chat(call, key, [&](std::string_view d) {
    text += d;
    return true;
  });
  return text;
}

TEST(GeminiAdapter, GenerateContentStreamAndEmbeddings) {
  FakeProvider fake(FakeProtocol::Gemini, {"AIza-good"});
  auto p = make_provider(fake_config("gemini", fake));
  TextResult r = p->chat(hello_chat("gemini-fake"), "AIza-good", nullptr);
  EXPECT_EQ(r.text, "Hello world");
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.usage.output_tokens, 3);
  auto req = fake.requests().back();
  EXPECT_EQ(req.path, "/v1beta/models/gemini-fake:generateContent");
  EXPECT_EQ(req.header("x-goog-api-key"), "AIza-good");
  EXPECT_EQ(req.json()["systemInstruction"]["parts"][0]["text"], "Be brief.");
  EXPECT_EQ(req.json()["contents"][0]["role"], "user");
  EXPECT_EQ(req.json()["generationConfig"]["maxOutputTokens"], 16);
  EXPECT_EQ(collect(*p, hello_chat("gemini-fake"), "AIza-good"), "Hello world");
  EXPECT_EQ(fake.requests().back().path, "/v1beta/models/gemini-fake:streamGenerateContent");
  EmbedResult e = p->embed({"embedding-fake", {"a", "bbb"}, std::nullopt}, "AIza-good");
  ASSERT_EQ(e.vectors.size(), 2u);
  EXPECT_EQ(e.vectors[1][0], 3.f);
  EXPECT_EQ(p->list_models("AIza-good"), std::vector<std::string>{"gemini-fake"});
}

TEST(GeminiAdapter, RetryInfoAndPerDayQuota) {
  FakeProvider fake(FakeProtocol::Gemini);
  auto p = make_provider(fake_config("gemini", fake));
  fake.script({FakeStep{FakeStep::HttpError, 429,
                        R"({"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[
      {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel"}]},
      {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}})"}});
  try {
    p->chat(hello_chat("g"), "", nullptr);
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::RateLimited);
    EXPECT_EQ(e.retry_after(), std::chrono::milliseconds(1500));
  }
  fake.script({FakeStep{FakeStep::HttpError, 429,
                        R"({"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[
      {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel"}]}]}})"}});
  try {
    p->chat(hello_chat("g"), "", nullptr);
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::KeyFault);  // the key is done for the day
  }
  fake.script({FakeStep{FakeStep::ErrorInStream}});
  EXPECT_THROW(collect(*p, hello_chat("g"), ""), ProviderError);
  fake.script({FakeStep{FakeStep::CutStream}});  // no finishReason: incomplete
  try {
    collect(*p, hello_chat("g"), "");
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_TRUE(is_retryable(e.failure()));
  }
}

TEST(TgiAdapter, NativeGenerateAndGenerateStream) {
  FakeProvider fake(FakeProtocol::TGI);
  auto p = make_provider(fake_config("tgi", fake));
  CompletionCall c{"tgi", "What is Deep Learning?", {}};
  c.params.max_tokens = 20;
  c.params.temperature = 0;
  TextResult whole = p->complete(c, "", nullptr);
  EXPECT_EQ(whole.text, "Hello world");
  EXPECT_EQ(whole.finish_reason, "length");
  auto body = fake.requests().back().json();
  EXPECT_EQ(body["inputs"], "What is Deep Learning?");
  EXPECT_EQ(body["parameters"]["max_new_tokens"], 20);
  EXPECT_EQ(body["parameters"]["do_sample"], false);  // TGI refuses temperature 0
  std::string text;
  TextResult streamed = p->complete(c, "", [&](std::string_view d) {
    text += d;
    return true;
  });
  EXPECT_EQ(text, "Hello world");             // "data:" without a space
  EXPECT_EQ(streamed.finish_reason, "stop");  // eos_token
  EXPECT_EQ(streamed.usage.output_tokens, 3);
  fake.script({FakeStep{FakeStep::ErrorInStream}});
  try {
    p->complete(c, "", [](std::string_view) { return true; });
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_NE(std::string(e.what()).find("Request failed during generation"), std::string::npos);
  }
  FakeStep overloaded{FakeStep::HttpError, 429};
  fake.script({overloaded});
  try {
    p->complete(c, "", nullptr);
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::RateLimited);
  }
  p->health("");
}

TEST(TeiAdapter, EmbedRerankAndClientSideBatching) {
  FakeProvider fake(FakeProtocol::TEI);
  ProviderConfig c = fake_config("tei", fake);
  auto p = make_provider(c);
  EmbedResult e = p->embed({"tei", {"a", "bb"}, std::nullopt}, "");
  EXPECT_EQ(e.vectors[1][0], 2.f);
  // Past the server's --max-client-batch-size: a 422 Validation, the caller's fault.
  try {
    p->embed({"tei", {"a", "bb", "ccc"}, std::nullopt}, "");
    FAIL();
  } catch (const ProviderError& err) {
    EXPECT_EQ(err.failure(), FailureClass::CallerFault);
    EXPECT_NE(std::string(err.what()).find("maximum allowed batch size 2"), std::string::npos);
  }
  c.embed_batch = 2;  // the client splits instead
  ProviderClient client(make_provider(c));
  EmbedResult batched = client.embed({"tei", {"a", "bb", "ccc"}, std::nullopt});
  ASSERT_EQ(batched.vectors.size(), 3u);
  EXPECT_EQ(batched.vectors[2][0], 3.f);
  auto scores = p->rerank({"tei", "q", {"short", "a much longer text"}}, "");
  ASSERT_EQ(scores.size(), 2u);
  EXPECT_EQ(scores[0].index, 1u);
  EXPECT_GT(scores[0].score, scores[1].score);
  EXPECT_EQ(p->list_models(""), std::vector<std::string>{"fake/tei"});
  EXPECT_THROW(p->chat(hello_chat("x"), "", nullptr), Error);
}

TEST(OpeaAdapter, PythonBytesStreamAndWholeAnswer) {
  FakeProvider fake(FakeProtocol::OPEA);
  auto p = make_provider(fake_config("opea", fake));
  EXPECT_EQ(p->chat(hello_chat(""), "", nullptr).text, "Hello world");
  EXPECT_EQ(fake.requests().back().json()["stream"], false);  // the gateway streams unless told not to
  EXPECT_EQ(collect(*p, hello_chat(""), ""), "Hello world");
  p->health("");
  FakeStep bad{FakeStep::HttpError, 422};
  fake.script({bad});
  try {
    p->chat(hello_chat(""), "", nullptr);
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::CallerFault);
    EXPECT_NE(std::string(e.what()).find("field required"), std::string::npos);
  }
}

TEST(OpeaAdapter, PythonBytesLiterals) {
  EXPECT_EQ(decode_python_bytes("b'In'"), "In");
  EXPECT_EQ(decode_python_bytes("b\"it's\""), "it's");
  EXPECT_EQ(decode_python_bytes("b'\\xe2\\x80\\x99 \\n\\\\'"), "\xe2\x80\x99 \n\\");
  EXPECT_FALSE(decode_python_bytes("'x'"));
  EXPECT_FALSE(decode_python_bytes("b'\\x4'"));
  EXPECT_FALSE(decode_python_bytes("b'"));
}

TEST(ProviderRegistry, EveryDocumentedServiceHasAnAdapter) {
  for (const char* t : {"openai", "anthropic", "groq", "ollama", "tgi", "tei", "gemini", "vllm", "ovms", "opea"}) {
    ProviderConfig c;
    c.name = c.type = t;
    c.base_url = provider_defaults(t).base_url;
    EXPECT_FALSE(c.base_url.empty()) << t;
    EXPECT_NE(make_provider(c), nullptr) << t;
  }
  ProviderConfig bad;
  bad.name = bad.type = "nosuch";
  EXPECT_THROW(make_provider(bad), Error);
}

TEST(ProviderConfig, KeysFromEnvOrFilesNeverLiteralAndSdkVariables) {
  std::map<std::string, std::string> vars{{"OPENAI_API_KEY", "sk-env"},
                                          {"OPENAI_BASE_URL", "http://h:1/v1/"},
                                          {"OLLAMA_HOST", "0.0.0.0:11500"},
                                          {"MY_KEY", "sk-mine"}};
  EnvLookup env = [&](const std::string& n) -> std::optional<std::string> {
    auto it = vars.find(n);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  ProviderConfig c = provider_config_from_env("openai", env);
  EXPECT_EQ(c.base_url, "http://h:1/v1");
  EXPECT_EQ(c.keys, std::vector<std::string>{"sk-env"});
  EXPECT_EQ(c.key_labels, std::vector<std::string>{"env OPENAI_API_KEY"});
  EXPECT_EQ(provider_config_from_env("ollama", env).base_url, "http://127.0.0.1:11500");
  ProviderConfig f = provider_config_from_json(
      "mine", nlohmann::json::parse(R"({"type":"groq","keys":[{"env":"MY_KEY"}],"max_concurrency":4,
        "timeouts":{"first_byte_s":2.5},"breaker":{"failures":2,"cooldown_s":5}})"),
      env);
  EXPECT_EQ(f.keys, std::vector<std::string>{"sk-mine"});
  EXPECT_EQ(f.base_url, "https://api.groq.com/openai/v1");
  EXPECT_EQ(f.timeouts.first_byte, std::chrono::milliseconds(2500));
  EXPECT_EQ(f.breaker_failures, 2);
  EXPECT_THROW(provider_config_from_json("x", nlohmann::json::parse(R"({"type":"openai","keys":["sk-literal"]})"), env),
               Error);
  EXPECT_THROW(
      provider_config_from_json("x", nlohmann::json::parse(R"({"type":"openai","keys":[{"env":"UNSET"}]})"), env),
      Error);
  EXPECT_THROW(provider_config_from_json("x", nlohmann::json::parse(R"({"type":"nope"})"), env), Error);
  EXPECT_THROW(provider_config_from_json("x", nlohmann::json::parse(R"({"type":5})"), env), Error);  // not type_error
  EXPECT_THROW(provider_config_from_json("openai", nlohmann::json::parse(R"({"max_retries":-1})"), env), Error);
  // Prices, USD per million tokens by model; anything else is refused naming the field.
  ProviderConfig p = provider_config_from_json(
      "openai",
      nlohmann::json::parse(
          R"({"prices":{"gpt-4o-mini":{"input_per_million":0.15,"output_per_million":0.6},"*":{"input_per_million":1}}})"),
      env);
  EXPECT_DOUBLE_EQ(p.cost_usd("gpt-4o-mini", 1'000'000, 2'000'000), 0.15 + 1.2);
  EXPECT_DOUBLE_EQ(p.cost_usd("unlisted", 1'000'000, 5), 1.0);
  EXPECT_EQ(provider_config_from_json(
                "openai", nlohmann::json::parse(R"({"prices":{"*":{"input_per_million":1}},"budget_usd":5})"), env)
                .budget_usd,
            5.0);
  EXPECT_THROW(provider_config_from_json("openai", nlohmann::json::parse(R"({"budget_usd":5})"), env), Error);
  for (const char* bad : {R"({"prices":[1]})", R"({"prices":{"m":{"input_per_million":-1}}})",
                          R"({"prices":{"m":{"input_per_million":"cheap"}}})", R"({"prices":{"m":{"per_token":1}}})"}) {
    try {
      provider_config_from_json("openai", nlohmann::json::parse(bad), env);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << bad;
      EXPECT_NE(std::string(e.what()).find("providers.openai.prices"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace ia::providers
