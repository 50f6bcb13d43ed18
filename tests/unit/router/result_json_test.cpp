// The one JSON form of each public result type (the CLI prints it, the HTTP
// server builds on it), on hand-made results so every field is pinned.
#include "router/result_json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace ia::router {
namespace {

TEST(ResultJson, FloatsInTheirShortestExactForm) {
  EXPECT_EQ(float_json(0.1f), "0.1");
  EXPECT_EQ(float_json(-0.08304482f), "-0.08304482");
  EXPECT_EQ(float_json(1e-7f), "1e-07");
  EXPECT_EQ(float_json(std::numeric_limits<float>::quiet_NaN()), "null");
  EXPECT_EQ(float_json(-std::numeric_limits<float>::infinity()), "null");
  std::string out = "x";
  append_float_array(out, {1.0f, 0.25f});
  EXPECT_EQ(out, "x[1,0.25]");
}

TEST(ResultJson, Embed) {
  ipfs_accelerate::EmbedResult r;
  r.model = "m";
  r.device = "cpu";
  r.dtype = "f32";
  r.pooling = "mean";
  r.normalized = true;
  r.dimensions = 2;
  r.embeddings = {{0.1f, -2.5f}, {3.0f, 0.0f}};
  r.token_counts = {4, 7};
  r.tokenize_ms = 1.5;
  r.inference_ms = 2;
  EXPECT_EQ(embed_result_json(r),
            R"({"device":"cpu","dimensions":2,"dtype":"f32","model":"m","normalized":true,"pooling":"mean",)"
            R"("timings":{"inference_ms":2.0,"tokenize_ms":1.5},"usage":{"prompt_tokens":11,"total_tokens":11},)"
            R"("embeddings":[[0.1,-2.5],[3,0]]})");
  r.warnings = {"text 0 truncated"};
  r.embeddings.clear();
  EXPECT_NE(embed_result_json(r).find(R"("warnings":["text 0 truncated"],"embeddings":[]})"), std::string::npos);
}

TEST(ResultJson, Tokenize) {
  ipfs_accelerate::TokenizeResult r;
  r.ids = {101, 7592, 102};
  r.type_ids = {0, 0, 0};
  r.tokens = {"[CLS]", "hello", "[SEP]"};
  r.offsets = {{0, 0}, {0, 5}, {0, 0}};
  EXPECT_EQ(dump_json(tokenize_result_json(r)),
            R"({"ids":[101,7592,102],"offsets":[[0,0],[0,5],[0,0]],"tokens":["[CLS]","hello","[SEP]"],)"
            R"("type_ids":[0,0,0]})");
}

ipfs_accelerate::GenerateResult generated() {
  ipfs_accelerate::GenerateResult r;
  r.model = "m";
  r.device = "cpu";
  r.dtype = "bf16";
  r.prompt_ids = {1, 2, 3};
  r.ids = {9, 8};
  r.text = "ab\xe2\x82";  // ends inside a UTF-8 sequence, as a tiny model's text may
  r.finish_reason = "length";
  r.logprobs = {{9, -0.5f, {{9, -0.5f}, {4, -1.25f}}}, {8, -2.0f, {}}};
  r.prefill_ms = 3;
  r.decode_ms = 4;
  r.decode_tokens_per_s = 500;
  r.cached_prompt_tokens = 2;
  return r;
}

TEST(ResultJson, Generate) {
  ipfs_accelerate::GenerateResult r = generated();
  EXPECT_EQ(
      dump_json(generation_usage_json(r)),
      R"({"completion_tokens":2,"prompt_tokens":3,"prompt_tokens_details":{"cached_tokens":2},"total_tokens":5})");
  EXPECT_EQ(dump_json(generate_result_json(r, false)),
            R"({"device":"cpu","dtype":"bf16","finish_reason":"length","ids":[9,8],"model":"m",)"
            R"("prompt_ids":[1,2,3],"text":"ab)"
            "\xef\xbf\xbd"
            R"(","timings":{"decode_ms":4.0,"decode_tokens_per_s":500.0,"prefill_ms":3.0},)"
            R"("usage":{"completion_tokens":2,"prompt_tokens":3,"prompt_tokens_details":{"cached_tokens":2},)"
            R"("total_tokens":5}})");
  nlohmann::json with = generate_result_json(r, true);
  EXPECT_EQ(dump_json(with["logprobs"]),
            R"([{"id":9,"logprob":-0.5,"top":[{"id":9,"logprob":-0.5},{"id":4,"logprob":-1.25}]},)"
            R"({"id":8,"logprob":-2.0,"top":[]}])");
  r.logprobs.clear();
  EXPECT_EQ(dump_json(generate_result_json(r, true)["logprobs"]), "[]");  // asked for, none generated
  r.warnings = {"prompt truncated"};
  EXPECT_EQ(generate_result_json(r, false)["warnings"], nlohmann::json::array({"prompt truncated"}));
  // One generated token: no decode step ran, so the rate is null rather than 0.
  r.decode_ms = 0;
  r.decode_tokens_per_s = 0;
  EXPECT_TRUE(generate_result_json(r, false)["timings"]["decode_tokens_per_s"].is_null());
  EXPECT_TRUE(chat_result_json(r)["timings"]["decode_tokens_per_s"].is_null());
}

TEST(ResultJson, ChatIsGenerateWithTheMessage) {
  const ipfs_accelerate::GenerateResult r = generated();
  nlohmann::json chat = chat_result_json(r);
  EXPECT_EQ(dump_json(chat["message"]), R"({"content":"ab)"
                                        "\xef\xbf\xbd"
                                        R"(","role":"assistant"})");
  chat.erase("message");
  EXPECT_EQ(chat, generate_result_json(r, false));  // the rest is generate's object, field for field
  EXPECT_EQ(chat_result_json(r, true)["logprobs"], generate_result_json(r, true)["logprobs"]);
}

}  // namespace
}  // namespace ia::router
