// `transcribe` with the Wav2Vec2 fixture as a user's model folder: the reference's CTC ids and
// text from its audio.wav, and every bad audio file an exit 2 with one line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"

namespace ia::test {
namespace {

using nlohmann::json;

const std::string kModel = std::string(IA_FIXTURES_DIR) + "/models/wav2vec2";

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

}  // namespace
}  // namespace ia::test
