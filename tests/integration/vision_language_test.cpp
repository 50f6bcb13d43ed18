// LLaVA through the CLI and the server: `generate --image` gives the fixture's greedy ids (the
// parity path, end to end through the binary), `chat --image`, bad input exit 2 with one line;
// `serve` answers an OpenAI chat with an image_url data: URL as the CLI's chat does, streamed or
// whole, refuses what it must with 400, and never lets two different images share KV blocks.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"
#include "integration/serve_client.h"

namespace ia::test {
namespace {

using nlohmann::json;

const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models/";
const std::string kLlava = kModels + "llava";

std::string base64(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += "=";
  }
  return out;
}

std::string data_url(const std::string& png_path) {
  return "data:image/png;base64," + base64(read_file(png_path));
}

json image_chat(const std::string& url, const std::string& text, bool stream = false) {
  json content =
      json::array({{{"type", "image_url"}, {"image_url", {{"url", url}}}}, {{"type", "text"}, {"text", text}}});
  return {{"model", "llava"},
          {"messages", json::array({{{"role", "user"}, {"content", content}}})},
          {"temperature", 0},
          {"max_tokens", 8},
          {"stream", stream}};
}

TEST(VisionLanguageCli, GenerateWithImageGivesTheReferenceGreedyIds) {
  const json ref = json::parse(read_file(kLlava + "/reference.json"));
  const auto& g = ref["generations"][0];
  const CliResult r = run_cli({"generate", "-m", kLlava, "--image", kLlava + "/image.png", "-p",
                               g["prompt"].get<std::string>(), "--temperature", "0", "--ignore-eos", "-n",
                               std::to_string(g["greedy_ids"].size()), "--json", "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  const json out = json::parse(r.out);
  EXPECT_EQ(out["ids"], g["greedy_ids"]);
  EXPECT_EQ(out["prompt_ids"], g["input_ids"]);
}

TEST(VisionLanguageCli, BadInputExits2WithOneLine) {
  const std::string img = kLlava + "/image.png";
  expect_user_error(run_cli({"generate", "-m", kLlava, "--image", kLlava + "/missing.png", "-p", "hi"}), "missing.png");
  expect_user_error(run_cli({"generate", "-m", kLlava, "--image", kLlava + "/config.json", "-p", "hi"}), "config.json");
  expect_user_error(run_cli({"generate", "-m", kLlava, "--image", img, "-p", "<image> and <image>"}),
                    "2 <image> placeholders for 1 images");
  expect_user_error(run_cli({"generate", "-m", kModels + "llama", "--image", img, "-p", "hi"}), "takes no images");
  expect_user_error(run_cli({"chat", "-m", kLlava, "--image", kLlava + "/missing.png", "--messages", "-"},
                            R"([{"role": "user", "content": "hi"}])"),
                    "missing.png");
}

TEST(VisionLanguageCli, ChatWithImage) {
  const CliResult r = run_cli({"chat", "-m", kLlava, "--image", kLlava + "/image.png", "--messages", "-",
                               "--temperature", "0", "-n", "8", "--json", "--quiet"},
                              R"([{"role": "user", "content": "What is in the picture?"}])");
  ASSERT_EQ(r.status, 0) << r.err;
  const json out = json::parse(r.out);
  // The template put the image's 16 tokens after "USER: ".
  int images = 0;
  for (const auto& id : out["prompt_ids"]) images += id.get<int>() == 1156 ? 1 : 0;
  EXPECT_EQ(images, 16);
  EXPECT_FALSE(out["message"]["content"].get<std::string>().empty());
}

class ServeLlava : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServeProcess({"-m", kLlava, "-m", kModels + "llama"}); }
  static void TearDownTestSuite() { delete server_; }
  void SetUp() override { ASSERT_TRUE(server_->ready()) << server_->log(); }
  // What the CLI's chat answers for the same conversation (Generator, not the batch engine).
  static std::string cli_answer(const std::string& image) {
    const CliResult r =
        run_cli({"chat", "-m", kLlava, "--image", image, "--messages", "-", "--temperature", "0", "-n", "8", "--quiet"},
                R"([{"role": "user", "content": "What is in the picture?"}])");
    EXPECT_EQ(r.status, 0) << r.err;
    return r.out.substr(0, r.out.size() - 1);  // the line's newline
  }
  static ServeProcess* server_;
};
ServeProcess* ServeLlava::server_ = nullptr;

TEST_F(ServeLlava, ChatWithImageUrlAnswersAsTheCliDoes) {
  const std::string want = cli_answer(kLlava + "/image.png");
  const HttpAnswer a = post_json(*server_, "/v1/chat/completions",
                                 image_chat(data_url(kLlava + "/image.png"), "What is in the picture?").dump());
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json()["choices"][0]["message"]["content"], want);
  EXPECT_GT(a.json()["usage"]["prompt_tokens"].get<int>(), 16);

  const SseAnswer s = post_stream(*server_, "/v1/chat/completions",
                                  image_chat(data_url(kLlava + "/image.png"), "What is in the picture?", true).dump());
  ASSERT_EQ(s.status, 200) << s.raw;
  std::string text;
  for (const auto& e : s.events) {
    if (e == "[DONE]") continue;
    const json j = json::parse(e);
    if (!j["choices"].empty() && j["choices"][0]["delta"].contains("content"))
      text += j["choices"][0]["delta"]["content"].get<std::string>();
  }
  EXPECT_EQ(text, want);
}

// Same text, different images: the image tokens' ids are equal but their blocks must not be shared
// (prefix-cache keys carry the image's content); the same image again is a hit.
TEST_F(ServeLlava, DifferentImagesNeverShareKvBlocks) {
  const std::string other = kModels + "llava_next/image.png";
  const std::string want_other = cli_answer(other);
  const json first = image_chat(data_url(kLlava + "/image.png"), "What is in the picture?");
  ASSERT_EQ(post_json(*server_, "/v1/chat/completions", first.dump()).status, 200);
  const double hits0 = std::max(0.0, metric_value(*server_, "ia_prefix_cache_hits_total{model=\"llava\"}"));
  const HttpAnswer b =
      post_json(*server_, "/v1/chat/completions", image_chat(data_url(other), "What is in the picture?").dump());
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(b.json()["choices"][0]["message"]["content"], want_other);
  const double hits1 = std::max(0.0, metric_value(*server_, "ia_prefix_cache_hits_total{model=\"llava\"}"));
  EXPECT_EQ(hits1, hits0) << "a different image hit the prefix cache";
  ASSERT_EQ(post_json(*server_, "/v1/chat/completions", first.dump()).status, 200);
  const double hits2 = std::max(0.0, metric_value(*server_, "ia_prefix_cache_hits_total{model=\"llava\"}"));
  EXPECT_GT(hits2, hits1) << "the same image again should reuse its blocks";
}

TEST_F(ServeLlava, BadImagesAre400s) {
  const std::string good = data_url(kLlava + "/image.png");
  struct Case {
    json body;
    std::string needle;
  };
  json two = image_chat(good, "hi");
  two["messages"][0]["content"].push_back({{"type", "image_url"}, {"image_url", {{"url", good}}}});
  json to_llama = image_chat(good, "hi");
  to_llama["model"] = "llama";
  for (const Case& c : std::vector<Case>{
           {image_chat("https://example.com/cat.png", "hi"), "image URLs are not fetched"},
           {image_chat("file:///etc/passwd", "hi"), "must be a data URL"},
           {image_chat("data:image/png;base64,@@@not base64@@@", "hi"), "base64 does not decode"},
           {image_chat("data:text/plain;base64,aGVsbG8=", "hi"), "is not an image"},
           {image_chat("data:image/png;base64," + base64("not a png at all"), "hi"), "cannot be decoded"},
           {to_llama, "does not take images"},
       }) {
    const HttpAnswer a = post_json(*server_, "/v1/chat/completions", c.body.dump());
    EXPECT_EQ(a.status, 400) << a.body;
    EXPECT_NE(a.body.find(c.needle), std::string::npos) << a.body;
  }
  // Two images for a template that renders two placeholders is fine; the count is checked.
  const HttpAnswer ok = post_json(*server_, "/v1/chat/completions", two.dump());
  EXPECT_EQ(ok.status, 200) << ok.body;
}

}  // namespace
}  // namespace ia::test
