// Each adapter against its service's protocol fake: the request on the wire (route, auth,
// body translation) and the answer read back, whole and streamed.
#include <gtest/gtest.h>

#include "fake_config.h"

namespace ia::providers {
namespace {

using test::FakeProtocol;
using test::FakeProvider;
using test::FakeStep;

std::string collect(Provider& p, const ChatCall& call, const std::string& key, TextResult* out = nullptr) {
  std::string text;
  TextResult r = p.chat(call, key, [&](std::string_view d) {
    text += d;
    return true;
  });
  if (out) *out = r;
  return text;
}

TEST(OpenAIAdapter, ChatWholeAndStreamedWithBearerAuth) {
  FakeProvider fake(FakeProtocol::OpenAI, {"sk-good"});
  auto p = make_provider(fake_config("openai", fake));
  TextResult whole = p->chat(hello_chat("gpt-4o-mini"), "sk-good", nullptr);
  EXPECT_EQ(whole.text, "Hello world");
  EXPECT_EQ(whole.finish_reason, "stop");
  EXPECT_EQ(whole.usage.input_tokens, 5);
  EXPECT_EQ(whole.usage.output_tokens, 3);
  const auto req = fake.requests().back();
  EXPECT_EQ(req.path, "/v1/chat/completions");
  EXPECT_EQ(req.header("Authorization"), "Bearer sk-good");
  EXPECT_EQ(req.json()["max_completion_tokens"], 16);
  EXPECT_EQ(req.json()["messages"][0]["role"], "system");

  TextResult streamed;
  std::vector<std::string> deltas;
  streamed = p->chat(hello_chat("gpt-4o-mini"), "sk-good", [&](std::string_view d) {
    deltas.emplace_back(d);
    return true;
  });
  EXPECT_EQ(deltas, FakeProvider::kDeltas);
  EXPECT_EQ(streamed.text, "Hello world");
  EXPECT_EQ(streamed.usage.output_tokens, 3);  // the include_usage chunk
  EXPECT_EQ(fake.requests().back().json()["stream"], true);
}

TEST(OpenAIAdapter, CompletionsEmbeddingsModels) {
  FakeProvider fake(FakeProtocol::OpenAI);
  auto p = make_provider(fake_config("vllm", fake));
  CompletionCall c{"m", "Once upon", {}};
  EXPECT_EQ(p->complete(c, "", nullptr).text, "Hello world");
  EXPECT_EQ(fake.requests().back().json()["max_tokens"], 16);
  EXPECT_TRUE(fake.requests().back().header("Authorization").empty());  // no key: no header
  EmbedResult e = p->embed({"emb", {"ab", "cde"}, std::nullopt}, "");
  ASSERT_EQ(e.vectors.size(), 2u);
  EXPECT_EQ(e.vectors[1], (std::vector<float>{3, 1, 0.5f}));
  EXPECT_EQ(p->list_models(""), std::vector<std::string>{"fake-model"});
}

TEST(OpenAIAdapter, ErrorsCarryTheProviderMessageAndClass) {
  FakeProvider fake(FakeProtocol::OpenAI, {"sk-good"});
  auto p = make_provider(fake_config("openai", fake));
  try {
    p->chat(hello_chat("m"), "sk-bad", nullptr);
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.status(), 401);
    EXPECT_EQ(e.failure(), FailureClass::KeyFault);
    EXPECT_EQ(std::string(e.what()).find("sk-bad"), std::string::npos);  // never the key
  }
  fake.script({{FakeStep::HttpError, 404}});
  try {
    p->chat(hello_chat("nope"), "sk-good", nullptr);
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::CallerFault);
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("fake error 404"), std::string::npos);
  }
  FakeStep quota{FakeStep::HttpError, 429};
  quota.error_type = "insufficient_quota";
  fake.script({quota});
  try {
    p->chat(hello_chat("m"), "sk-good", nullptr);
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::KeyFault);
  }
  FakeStep limited{FakeStep::HttpError, 429};
  limited.headers = {{"retry-after", "2"}};
  fake.script({limited});
  try {
    p->chat(hello_chat("m"), "sk-good", nullptr);
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::RateLimited);
    EXPECT_EQ(e.retry_after(), std::chrono::milliseconds(2000));
  }
}

TEST(OpenAIAdapter, StreamFailures) {
  FakeProvider fake(FakeProtocol::OpenAI);
  auto p = make_provider(fake_config("openai", fake));
  FakeStep err{FakeStep::ErrorInStream};
  err.after_deltas = 1;
  fake.script({err});
  std::string got;
  try {
    collect(*p, hello_chat("m"), "");
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::Overloaded);
    EXPECT_NE(std::string(e.what()).find("fake failure mid-stream"), std::string::npos);
  }
  fake.script({{FakeStep::CutStream}});
  try {
    collect(*p, hello_chat("m"), "");
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_TRUE(is_retryable(e.failure()));
  }
}

TEST(OpenAIAdapter, HostileEndlessLineIsCutAtTheBound) {
  FakeProvider fake(FakeProtocol::OpenAI);
  auto p = make_provider(fake_config("openai", fake));
  fake.script({{FakeStep::EndlessLine}});
  try {
    collect(*p, hello_chat("m"), "");
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::StreamBroken);
    EXPECT_NE(std::string(e.what()).find("longer than"), std::string::npos);
  }
}

TEST(OpenAIAdapter, SlowFirstByteTimesOut) {
  FakeProvider fake(FakeProtocol::OpenAI);
  ProviderConfig c = fake_config("openai", fake);
  c.timeouts.first_byte = std::chrono::milliseconds(300);
  auto p = make_provider(c);
  FakeStep slow{FakeStep::SlowFirstByte};
  slow.delay_ms = 4000;
  fake.script({slow});
  const auto t0 = std::chrono::steady_clock::now();
  try {
    p->chat(hello_chat("m"), "", nullptr);
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::Transient);
    EXPECT_NE(std::string(e.what()).find("no answer within"), std::string::npos) << e.what();
  }
  // libcurl checks about once a second: well before the server's 4 s.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(3500));
}

TEST(AnthropicAdapter, MessagesApiTranslationAndNamedEvents) {
  FakeProvider fake(FakeProtocol::Anthropic, {"sk-ant-good"});
  auto p = make_provider(fake_config("anthropic", fake));
  TextResult whole = p->chat(hello_chat("claude-fake"), "sk-ant-good", nullptr);
  EXPECT_EQ(whole.text, "Hello world");
  EXPECT_EQ(whole.finish_reason, "stop");  // end_turn
  const auto req = fake.requests().back();
  EXPECT_EQ(req.path, "/v1/messages");
  EXPECT_EQ(req.header("x-api-key"), "sk-ant-good");
  EXPECT_EQ(req.header("anthropic-version"), "2023-06-01");
  const auto body = req.json();
  EXPECT_EQ(body["system"], "Be brief.");  // no system role inside messages
  ASSERT_EQ(body["messages"].size(), 1u);
  EXPECT_EQ(body["messages"][0]["role"], "user");
  EXPECT_EQ(body["max_tokens"], 16);

  TextResult streamed;
  EXPECT_EQ(collect(*p, hello_chat("claude-fake"), "sk-ant-good", &streamed), "Hello world");
  EXPECT_EQ(streamed.usage.input_tokens, 5);
  EXPECT_EQ(streamed.usage.output_tokens, 3);
  EXPECT_EQ(streamed.finish_reason, "stop");
  EXPECT_EQ(p->list_models("sk-ant-good"), std::vector<std::string>{"claude-fake"});
  EXPECT_FALSE(p->supports(Capability::Embedding));
  EXPECT_THROW(p->embed({"m", {"x"}, std::nullopt}, "k"), Error);
}

TEST(AnthropicAdapter, OverloadedAndErrorEvents) {
  FakeProvider fake(FakeProtocol::Anthropic);
  auto p = make_provider(fake_config("anthropic", fake));
  fake.script({{FakeStep::HttpError, 529}});
  try {
    p->chat(hello_chat("m"), "", nullptr);
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.status(), 529);
    EXPECT_EQ(e.failure(), FailureClass::Overloaded);
  }
  FakeStep billing{FakeStep::HttpError, 400};
  billing.error_type = "billing_error";
  fake.script({billing});
  try {
    p->chat(hello_chat("m"), "", nullptr);
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::KeyFault);
  }
  fake.script({{FakeStep::ErrorInStream}});
  try {
    collect(*p, hello_chat("m"), "");
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::Overloaded);  // overloaded_error
  }
  fake.script({{FakeStep::CutStream}});
  try {
    collect(*p, hello_chat("m"), "");
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_TRUE(is_retryable(e.failure()));
  }
}

TEST(OllamaAdapter, NativeNdjsonChatGenerateEmbedTags) {
  FakeProvider fake(FakeProtocol::Ollama);
  auto p = make_provider(fake_config("ollama", fake));
  TextResult whole = p->chat(hello_chat("llama-fake"), "", nullptr);
  EXPECT_EQ(whole.text, "Hello world");
  auto body = fake.requests().back().json();
  EXPECT_EQ(body["stream"], false);  // Ollama streams unless told not to
  EXPECT_EQ(body["options"]["num_predict"], 16);
  TextResult streamed;
  EXPECT_EQ(collect(*p, hello_chat("llama-fake"), "", &streamed), "Hello world");
  EXPECT_EQ(streamed.usage.output_tokens, 3);
  EXPECT_EQ(streamed.finish_reason, "stop");
  std::string text;
  p->complete({"llama-fake", "Once", {}}, "", [&](std::string_view d) {
    text += d;
    return true;
  });
  EXPECT_EQ(text, "Hello world");
  EXPECT_EQ(fake.requests().back().path, "/api/generate");
  EXPECT_EQ(fake.requests().back().json()["raw"], true);
  EXPECT_EQ(p->embed({"e", {"a", "bb"}, std::nullopt}, "").vectors[1][0], 2.f);
  EXPECT_EQ(p->list_models(""), std::vector<std::string>{"llama-fake:latest"});
  p->health("");
}

TEST(OllamaAdapter, ErrorLineInsideA200StreamAndNativeErrorBody) {
  FakeProvider fake(FakeProtocol::Ollama);
  auto p = make_provider(fake_config("ollama", fake));
  fake.script({{FakeStep::ErrorInStream}});
  try {
    collect(*p, hello_chat("m"), "");
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_NE(std::string(e.what()).find("an error was encountered"), std::string::npos);
  }
  fake.script({{FakeStep::HttpError, 404, R"({"error":"model \"x\" not found, try pulling it first"})"}});
  try {
    p->chat(hello_chat("x"), "", nullptr);
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("try pulling it first"), std::string::npos);
  }
  fake.script({{FakeStep::CutStream}});
  EXPECT_THROW(collect(*p, hello_chat("m"), ""), ProviderError);
}

}  // namespace
}  // namespace ia::providers
