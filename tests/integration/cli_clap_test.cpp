// `similarity --audio` and `embed --audio` with the CLAP fixture as a user's model folder: the
// reference's logits_per_audio, text_embeds and audio_embeds from its audio.wav, zero-shot scores
// that sum to one, and every bad input an exit 2 with one line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"

namespace ia::test {
namespace {

using nlohmann::json;

const std::string kClap = std::string(IA_FIXTURES_DIR) + "/models/clap";

std::vector<std::string> similarity_args(const std::string& audio) {
  std::vector<std::string> args = {"similarity", "--model", kClap, "--audio", audio};
  const json ref = json::parse(read_file(kClap + "/reference.json"));  // outlives the loop over its texts
  for (const auto& t : ref["texts"]) {
    args.push_back("--text");
    args.push_back(t.get<std::string>());
  }
  return args;
}

TEST(CliClap, SimilarityScoresTheTextsAgainstTheAudio) {
  const CliResult r = run_cli(similarity_args(kClap + "/audio.wav"));
  ASSERT_EQ(r.status, 0) << r.err;
  const json o = json::parse(r.out);
  ASSERT_EQ(o["logits_per_audio"].size(), 1u);
  ASSERT_EQ(o["logits_per_audio"][0].size(), 3u);
  ASSERT_EQ(o["logits_per_text"].size(), 3u);
  ASSERT_EQ(o["text_embeds"].size(), 3u);
  ASSERT_EQ(o["audio_embeds"].size(), 1u);
  EXPECT_EQ(o["audio_embeds"][0].size(), 24u);
  double sum = 0;
  for (const auto& p : o["probs_per_audio"][0]) sum += p.get<double>();
  EXPECT_NEAR(sum, 1.0, 1e-5);
  EXPECT_NEAR(o["durations"][0].get<double>(), 1.3, 1e-3);
  EXPECT_GT(o["logit_scale_audio"].get<double>(), 1.0);

  // embed --audio gives similarity's audio_embeds.
  const CliResult e = run_cli({"embed", "--model", kClap, "--audio", kClap + "/audio.wav"});
  ASSERT_EQ(e.status, 0) << e.err;
  const json eo = json::parse(e.out);
  EXPECT_EQ(eo["dimensions"], 24);
  EXPECT_EQ(eo["normalized"], true);
  for (size_t c = 0; c < 24; ++c)
    EXPECT_NEAR(eo["embeddings"][0][c].get<double>(), o["audio_embeds"][0][c].get<double>(), 1e-6);
  // embed of texts gives similarity's text_embeds.
  const CliResult t = run_cli({"embed", "--model", kClap, "a dog barking", "rain on a roof"});
  ASSERT_EQ(t.status, 0) << t.err;
  const json to = json::parse(t.out);
  ASSERT_EQ(to["embeddings"].size(), 2u);
  for (size_t c = 0; c < 24; ++c) {
    EXPECT_NEAR(to["embeddings"][0][c].get<double>(), o["text_embeds"][0][c].get<double>(), 1e-6);
    EXPECT_NEAR(to["embeddings"][1][c].get<double>(), o["text_embeds"][2][c].get<double>(), 1e-6);
  }
  const CliResult raw = run_cli({"embed", "--model", kClap, "--audio", kClap + "/audio.wav", "--no-normalize"});
  ASSERT_EQ(raw.status, 0) << raw.err;
  EXPECT_EQ(json::parse(raw.out)["normalized"], false);
}

TEST(CliClap, BadInputIsOneLineExitTwo) {
  TempDir dir;
  const std::string wav = read_file(kClap + "/audio.wav");
  write_file(dir.path() + "/empty.wav", "");
  write_file(dir.path() + "/text.wav", "this is not audio at all, just words\n");
  write_file(dir.path() + "/truncated.wav", wav.substr(0, 30));
  for (const std::string f : {"/empty.wav", "/text.wav", "/truncated.wav", "/missing.wav"})
    expect_user_error(run_cli(similarity_args(dir.path() + f)), f.substr(1));
  expect_user_error(run_cli({"embed", "--model", kClap, "--audio", dir.path() + "/text.wav"}), "text.wav");
  // No texts, both kinds of input, neither, a CLIP folder given audio, a CLAP folder given an image.
  expect_user_error(run_cli({"similarity", "--model", kClap, "--audio", kClap + "/audio.wav"}), "--text");
  expect_user_error(run_cli({"similarity", "--model", kClap, "--audio", kClap + "/audio.wav", "--image",
                             kClap + "/audio.wav", "--text", "x"}),
                    "excludes");
  expect_user_error(run_cli({"similarity", "--model", kClap, "--text", "x"}), "--audio");
  const std::string clip = std::string(IA_FIXTURES_DIR) + "/models/clip";
  expect_user_error(run_cli({"similarity", "--model", clip, "--audio", kClap + "/audio.wav", "--text", "x"}),
                    "audio-text");
  // (after --audio, further words are more audio files: the text goes first)
  expect_user_error(run_cli({"embed", "--model", kClap, "some text", "--audio", kClap + "/audio.wav"}), "not both");
}

}  // namespace
}  // namespace ia::test
