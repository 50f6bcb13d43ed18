// `transcribe` with the Wav2Vec2 and Whisper fixtures as a user's model folder: the references'
// CTC ids and text, and Whisper's greedy ids and text, from their audio.wav; every bad audio file
// and every option the model cannot honour an exit 2 with one line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"

namespace ia::test {
namespace {

using nlohmann::json;

const std::string kModel = std::string(IA_FIXTURES_DIR) + "/models/wav2vec2";
const std::string kWhisper = std::string(IA_FIXTURES_DIR) + "/models/whisper";

TEST(CliTranscribe, Wav2Vec2GivesTheReferenceIdsAndText) {
  const json ref = json::parse(read_file(kModel + "/reference.json"));
  const CliResult r = run_cli({"transcribe", "-m", kModel, kModel + "/audio.wav", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const json out = json::parse(r.out);
  EXPECT_EQ(out["ids"], ref["ctc_ids"]);
  EXPECT_EQ(out["text"], ref["ctc_text"]);
  EXPECT_TRUE(out["language"].is_null());
  EXPECT_TRUE(out["segments"].empty());
  EXPECT_NEAR(out["duration"].get<double>(), 1.0, 1e-6);
  const CliResult plain = run_cli({"transcribe", "-m", kModel, kModel + "/audio.wav"});
  ASSERT_EQ(plain.status, 0) << plain.err;
  EXPECT_EQ(plain.out, ref["ctc_text"].get<std::string>() + "\n");
}

TEST(CliTranscribe, BadAudioAndOptionsAreOneLineExitTwo) {
  TempDir dir;
  const std::string wav = read_file(kModel + "/audio.wav");
  write_file(dir.path() + "/empty.wav", "");
  write_file(dir.path() + "/text.wav", "this is not audio at all, just words\n");
  write_file(dir.path() + "/truncated.wav", wav.substr(0, 30));
  write_file(dir.path() + "/half.wav", wav.substr(0, wav.size() / 2));
  for (const auto& [file, needle] :
       std::vector<std::pair<std::string, std::string>>{{"/empty.wav", "empty.wav"},
                                                        {"/text.wav", "text.wav"},
                                                        {"/truncated.wav", "truncated.wav"},
                                                        {"/half.wav", "half.wav"},
                                                        {"/missing.wav", "missing.wav"}})
    expect_user_error(run_cli({"transcribe", "-m", kModel, dir.path() + file}), needle);
  expect_user_error(run_cli({"transcribe", "-m", kModel, kModel + "/audio.wav", "--timestamps"}), "Whisper");
  expect_user_error(run_cli({"transcribe", "-m", kModel, kModel + "/audio.wav", "--task", "translate"}), "translat");
  expect_user_error(run_cli({"transcribe", "-m", std::string(IA_FIXTURES_DIR) + "/models/bert", kModel + "/audio.wav"}),
                    "speech recognition");
}

TEST(CliTranscribe, WhisperGivesTransformersGreedyIdsAndText) {
  const json ref = json::parse(read_file(kWhisper + "/reference.json"));
  // The reference's prefix (<|en|> <|transcribe|> <|notimestamps|>), 12 tokens, no eos stop.
  const std::vector<std::string> args{"transcribe",  "-m", kWhisper,           kWhisper + "/audio.wav",
                                      "--language",  "en", "--max-new-tokens", "12",
                                      "--ignore-eos"};
  std::vector<std::string> with_json = args;
  with_json.push_back("--json");
  const CliResult r = run_cli(with_json);
  ASSERT_EQ(r.status, 0) << r.err;
  const json out = json::parse(r.out);
  EXPECT_EQ(out["ids"], ref["greedy_ids"]);
  EXPECT_EQ(out["text"], ref["greedy_text"]);
  EXPECT_EQ(out["language"], "en");
  EXPECT_EQ(out["model"], "whisper");
  EXPECT_TRUE(out["segments"].empty());
  EXPECT_NEAR(out["duration"].get<double>(), 2.5, 1e-6);
  const CliResult plain = run_cli(args);
  ASSERT_EQ(plain.status, 0) << plain.err;
  EXPECT_EQ(plain.out, ref["greedy_text"].get<std::string>() + "\n");
  // --stream prints the same text as it becomes final; it does not go with --json.
  std::vector<std::string> streamed = args;
  streamed.push_back("--stream");
  const CliResult s = run_cli(streamed);
  ASSERT_EQ(s.status, 0) << s.err;
  EXPECT_EQ(s.out, plain.out);
  streamed.push_back("--json");
  EXPECT_EQ(run_cli(streamed).status, 2);
  // Translation, a detected language and beam search run; the language is reported.
  const CliResult translated = run_cli({"transcribe", "-m", kWhisper, kWhisper + "/audio.wav", "--task", "translate",
                                        "--max-new-tokens", "4", "--num-beams", "2", "--json"});
  ASSERT_EQ(translated.status, 0) << translated.err;
  EXPECT_TRUE(json::parse(translated.out)["language"].is_string());
}

TEST(CliTranscribe, WhatWhisperCannotDoIsOneLineExitTwo) {
  // The fixture's vocabulary has no timestamp tokens.
  expect_user_error(run_cli({"transcribe", "-m", kWhisper, kWhisper + "/audio.wav", "--timestamps"}), "timestamp");
  expect_user_error(run_cli({"transcribe", "-m", kWhisper, kWhisper + "/audio.wav", "--language", "klingon"}),
                    "klingon");
  TempDir dir;
  write_file(dir.path() + "/empty.wav", "");
  expect_user_error(run_cli({"transcribe", "-m", kWhisper, dir.path() + "/empty.wav"}), "empty.wav");
}

}  // namespace
}  // namespace ia::test
