// `embed` as sentence-transformers 6.0.1 encodes, end to end through the binary: the st-bert
// (max_seq_length, Dense, Normalize, prompts, an empty text) and st-qwen3 (a decoder with
// lasttoken pooling) fixtures against their reference embeddings, --jsonl, the one-line
// truncation summary, the prompt flags, and the hint at a terminal.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "integration/cli_runner.h"
#include "integration/pty_session.h"

namespace ia::test {
namespace {

using Json = nlohmann::json;

std::string fixture(const std::string& name) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + name;
}

struct Reference {
  std::shared_ptr<SafetensorsFile> file;
  std::vector<std::string> texts;
  double atol = 0;
};

Reference load_reference(const std::string& dir) {
  Reference r;
  r.file = SafetensorsFile::open(dir + "/reference.safetensors");
  std::ifstream in(dir + "/reference.json");
  Json meta = Json::parse(in);
  r.texts = meta["texts"].get<std::vector<std::string>>();
  r.atol = meta["atol"].get<double>();
  return r;
}

// Max abs difference of a JSON list of rows from a [N, D] reference tensor.
double max_err(const Json& rows, const Tensor& want) {
  const int64_t N = want.size(0), D = want.size(1);
  EXPECT_EQ(rows.size(), static_cast<size_t>(N));
  if (rows.size() != static_cast<size_t>(N)) return INFINITY;
  double err = 0;
  for (int64_t i = 0; i < N; ++i) {
    EXPECT_EQ(rows[static_cast<size_t>(i)].size(), static_cast<size_t>(D));
    if (rows[static_cast<size_t>(i)].size() != static_cast<size_t>(D)) return INFINITY;
    for (int64_t k = 0; k < D; ++k)
      err = std::max(err, std::fabs(rows[static_cast<size_t>(i)][static_cast<size_t>(k)].get<double>() -
                                    want.data<float>()[i * D + k]));
  }
  return err;
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

Json parse_out(const CliResult& r) {
  EXPECT_EQ(r.status, 0) << r.err;
  return Json::parse(r.out);
}

class CliEmbedSentenceTransformers : public ::testing::TestWithParam<const char*> {};

TEST_P(CliEmbedSentenceTransformers, MatchesTheReferenceWithAndWithoutTheQueryPrompt) {
  const std::string dir = fixture(GetParam());
  Reference ref = load_reference(dir);
  Json plain = parse_out(run_cli(with({"embed", "--model", dir}, ref.texts)));
  EXPECT_EQ(plain["dimensions"], ref.file->tensor("embeddings").size(1));
  EXPECT_EQ(plain["normalized"], true);
  EXPECT_LE(max_err(plain["embeddings"], ref.file->tensor("embeddings")), ref.atol);
  Json query = parse_out(run_cli(with({"embed", "--model", dir, "--prompt-name", "query"}, ref.texts)));
  EXPECT_LE(max_err(query["embeddings"], ref.file->tensor("embeddings_query")), ref.atol);
}

TEST_P(CliEmbedSentenceTransformers, JsonlOneObjectPerInputLine) {
  const std::string dir = fixture(GetParam());
  Reference ref = load_reference(dir);
  std::string input;
  for (const auto& t : ref.texts) input += t + "\n";
  CliResult r = run_cli({"embed", "--model", dir, "--jsonl"}, input);
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  Json rows = Json::array();
  size_t truncated = 0;
  while (std::getline(lines, line)) {
    Json j = Json::parse(line);
    EXPECT_EQ(j["index"], rows.size());
    EXPECT_GT(j["tokens"].get<int>(), 0);
    if (j.contains("truncated")) {
      EXPECT_EQ(j["truncated"], true);
      ++truncated;
    }
    rows.push_back(j["embedding"]);
  }
  EXPECT_GT(truncated, 0u);
  EXPECT_LE(max_err(rows, ref.file->tensor("embeddings")), ref.atol);
}

TEST_P(CliEmbedSentenceTransformers, TruncationIsOneSummaryLine) {
  const std::string dir = fixture(GetParam());
  Reference ref = load_reference(dir);
  const int64_t max_seq = ref.file->tensor("input_ids").size(1);
  CliResult r = run_cli(with({"embed", "--model", dir}, ref.texts));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto lines = r.err_lines();
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find(" of " + std::to_string(ref.texts.size()) + " texts were truncated to " +
                          std::to_string(max_seq) + " tokens"),
            std::string::npos)
      << lines[0];
  Json j = Json::parse(r.out);
  ASSERT_EQ(j["warnings"].size(), 1u);
  // --max-length lowers the limit; past the model's positions it is refused.
  Json shorter = parse_out(run_cli(with({"embed", "--model", dir, "--max-length", "3", "--jsonl"}, {ref.texts[0]})));
  EXPECT_EQ(shorter["tokens"], 3);
  expect_user_error(run_cli({"embed", "--model", dir, "--max-length", "100000", "hi"}), "100000");
  expect_user_error(run_cli(with({"embed", "--model", dir, "--no-truncate"}, {ref.texts[0]})), "limit of");
}

TEST_P(CliEmbedSentenceTransformers, PromptFlags) {
  const std::string dir = fixture(GetParam());
  expect_user_error(run_cli({"embed", "--model", dir, "--prompt-name", "nope", "hi"}), "query");
  CliResult both = run_cli({"embed", "--model", dir, "--prompt-name", "query", "--prompt", "x: ", "hi"});
  EXPECT_EQ(both.status, 2) << both.err;
  // --prompt TEXT is the named prompt's text: the same embedding.
  std::ifstream in(dir + "/reference.json");
  const std::string text = Json::parse(in)["prompts"]["query"].get<std::string>();
  Json named = parse_out(run_cli({"embed", "--model", dir, "--prompt-name", "query", "Hello world"}));
  Json given = parse_out(run_cli({"embed", "--model", dir, "--prompt", text, "Hello world"}));
  EXPECT_EQ(named["embeddings"], given["embeddings"]);
}

std::string param_name(const ::testing::TestParamInfo<const char*>& info) {
  std::string name = info.param;
  for (char& ch : name)
    if (ch == '-') ch = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CliEmbedSentenceTransformers, ::testing::Values("st-bert", "st-qwen3"), param_name);

TEST(CliEmbedTerminal, HintWhenWaitingForTheTerminal) {
  PtySession embed({"embed", "--model", fixture("st-bert")});
  ASSERT_TRUE(embed.expect("Ctrl-D")) << embed.output();
  embed.type("Hello world\r");
  embed.type("\x04");  // end of input
  ASSERT_TRUE(embed.expect("\"embeddings\"")) << embed.output();
  EXPECT_EQ(embed.wait(), 0) << embed.output();
  // Piped input: no hint.
  CliResult r = run_cli({"embed", "--model", fixture("st-bert")}, "Hello world\n");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err.find("Ctrl-D"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ia::test
