// Argument handling as users of llama.cpp, Ollama and transformers expect: the
// nearest name for a typo, short flags, --threads before or after the command,
// `help [COMMAND...]`, errors that name the next step, and `ipfs serve`
// refusing a port another server holds.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "integration/cli_runner.h"
#include "integration/ipfs_processes.h"

namespace ia::test {
namespace {

const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models";
const std::string kLlama = kModels + "/llama";

TEST(CliArgs, TypoGetsTheNearestName) {
  CliResult r = run_cli({"generate", "--modle", kLlama, "--prompt", "Hi"});
  expect_user_error(r, "did you mean --model?");
  expect_user_error(run_cli({"--thread", "2", "hardware"}), "did you mean --threads?");
  r = run_cli({"genrate", "--model", kLlama});
  expect_user_error(r, "did you mean generate?");
  expect_user_error(run_cli({"ipfs", "ad", "x"}), "did you mean add?");
  // No guess when nothing is near.
  r = run_cli({"generate", "--zzzzzzzz", "1"});
  expect_user_error(r, "unknown option \"--zzzzzzzz\"");
  EXPECT_EQ(r.err.find("did you mean"), std::string::npos) << r.err;
}

TEST(CliArgs, ShortFlagsEqualLongOnes) {
  CliResult s = run_cli({"generate", "-m", kLlama, "-p", "Hi", "-n", "2", "--temperature", "0"});
  CliResult l =
      run_cli({"generate", "--model", kLlama, "--prompt", "Hi", "--max-new-tokens", "2", "--temperature", "0"});
  ASSERT_EQ(s.status, 0) << s.err;
  ASSERT_EQ(l.status, 0) << l.err;
  EXPECT_EQ(s.out, l.out);
  CliResult t = run_cli({"-t", "1", "tokenize", "-m", kLlama, "Hi"});
  CliResult u = run_cli({"tokenize", "--model", kLlama, "Hi"});
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_EQ(t.out, u.out);
  // A flag of the root takes no value: the command after it is still the command.
  CliResult v = run_cli({"-v", "tokenize", "-m", kLlama, "Hi"});
  ASSERT_EQ(v.status, 0) << v.err;
  EXPECT_EQ(v.out, u.out);
}

TEST(CliArgs, ThreadsBeforeOrAfterTheCommand) {
  CliResult before = run_cli({"--threads", "1", "generate", "-m", kLlama, "-p", "Hi", "-n", "2", "--temperature", "0"});
  CliResult after = run_cli({"generate", "-m", kLlama, "-p", "Hi", "-n", "2", "--temperature", "0", "--threads", "1"});
  ASSERT_EQ(before.status, 0) << before.err;
  ASSERT_EQ(after.status, 0) << after.err;
  EXPECT_EQ(before.out, after.out);
  // The same check of its value either way.
  expect_user_error(run_cli({"hardware", "--threads", "abc"}), "--threads");
  expect_user_error(run_cli({"--threads", "abc", "hardware"}), "--threads");
}

TEST(CliArgs, HelpCommandPrintsTheHelpOfThatLevel) {
  for (const auto& path : std::vector<std::vector<std::string>>{{}, {"ipfs"}, {"ipfs", "add"}, {"ipfs", "cid"}}) {
    std::vector<std::string> help{"help"}, flag = path;
    help.insert(help.end(), path.begin(), path.end());
    flag.push_back("--help");
    CliResult h = run_cli(help), f = run_cli(flag);
    EXPECT_EQ(h.status, 0) << h.err;
    EXPECT_EQ(f.status, 0) << f.err;
    EXPECT_FALSE(h.out.empty());
    EXPECT_EQ(h.out, f.out);
  }
  // Every level with subcommands lists them.
  EXPECT_NE(run_cli({"help"}).out.find("generate"), std::string::npos);
  EXPECT_NE(run_cli({"help", "ipfs"}).out.find("serve"), std::string::npos);
  EXPECT_NE(run_cli({"help", "ipfs", "cid"}).out.find("format"), std::string::npos);
  expect_user_error(run_cli({"help", "ipfs", "ad"}), "did you mean add?");
}

TEST(CliArgs, ErrorsNameTheNextStep) {
  expect_user_error(run_cli({"inspect", "--model", kLlama + "/model.safetensors"}),
                    "pass the folder that holds it: " + kLlama);
  TempDir dir;
  write_file(dir.path() + "/model.gguf", "GGUF");
  expect_user_error(run_cli({"generate", "-m", dir.path() + "/model.gguf", "-p", "Hi"}), "GGUF is not supported yet");
  write_file(dir.path() + "/messages.json", R"([{"role": "user", "content": "Hi"}])");
  expect_user_error(run_cli({"chat", "-m", kModels + "/gpt2", "--messages", dir.path() + "/messages.json"}),
                    "this model has no chat template; use `generate`");
}

TEST(CliArgs, ServeRefusesAPortInUse) {
  TempDir home;
  ::setenv("IPFS_ACCELERATE_HOME", home.path().c_str(), 1);
  const std::string port = std::to_string(free_port());
  const std::string log = home.path() + "/first.log";
  auto first = std::make_unique<Process>(
      std::vector<std::string>{IA_CLI_PATH, "ipfs", "serve", "--host", "127.0.0.1", "--port", port}, log);
  ASSERT_NE(wait_for(log, "listening on http://").find(":" + port), std::string::npos) << read_file(log);
  CliResult second = run_cli({"ipfs", "serve", "--host", "127.0.0.1", "--port", port});
  first.reset();
  ::unsetenv("IPFS_ACCELERATE_HOME");
  expect_user_error(second, "port " + port + " is in use");
}

}  // namespace
}  // namespace ia::test
