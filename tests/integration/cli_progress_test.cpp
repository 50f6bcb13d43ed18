// Progress on stderr (cli/progress.h) for what takes long: at a terminal (a
// pseudo-terminal here) a bar per task redrawn in place and left complete; off
// a terminal plain lines, never a redraw, and none for quick work unless
// `--progress plain`; nothing at all with `--quiet`. Downloads from the hub
// are in cli_hub_test.cpp (they need the fake hub).
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "integration/cli_runner.h"
#include "integration/ipfs_processes.h"
#include "integration/pty_session.h"

namespace ia::test {
namespace {

const std::string kLlama = std::string(IA_FIXTURES_DIR) + "/models/llama";
const std::string kBert = std::string(IA_FIXTURES_DIR) + "/models/bert";

// A finished task's bar: full, then what it did and how long it took.
const std::string kFullBar = "[" + std::string(20, '#') + "] ";

// The last state drawn of the bar whose label starts with `label` (the text after the
// last "\r<label>" up to the next carriage return or newline); "" when there is none.
std::string last_bar(const std::string& out, const std::string& label) {
  const size_t at = out.rfind("\r" + label);
  if (at == std::string::npos) return "";
  const size_t end = out.find_first_of("\r\n", at + 1);
  return out.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
}

// A bar drawn complete (with `amount` done, when given) that erased the rest of the line as it was drawn.
void expect_finished_bar(const std::string& out, const std::string& label, const std::string& amount = "") {
  const std::string bar = last_bar(out, label);
  EXPECT_NE(bar.find(kFullBar + amount), std::string::npos) << "no finished bar for \"" << label << "\" in\n" << out;
  EXPECT_NE(bar.find(" in "), std::string::npos) << bar;
  EXPECT_NE(bar.find("\x1b[K"), std::string::npos) << bar;
}

// Runs the CLI on a pseudo-terminal to its end; what the terminal showed.
std::string at_terminal(const std::vector<std::string>& args) {
  PtySession session(args);
  EXPECT_EQ(session.wait(120), 0) << session.output();
  return session.output();
}

// No bar drawing off a terminal: no carriage return, no line erase.
void expect_no_redraws(const CliResult& r) {
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("\x1b["), std::string::npos) << r.err;
}

// A private IPFS home for the CLI runs of one test (the pseudo-terminal's too: it inherits the environment).
class ProgressCli : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = tmp_.path() + "/home";
    ::setenv("IPFS_ACCELERATE_HOME", home_.c_str(), 1);
    ::unsetenv("IPFS_GATEWAY");
    file_ = tmp_.path() + "/weights.bin";
    write_file(file_, xorshift_bytes(7, 1500000));  // 6 chunks and their root: 7 blocks
  }
  void TearDown() override { ::unsetenv("IPFS_ACCELERATE_HOME"); }

  std::string add_file() {
    CliResult r = run_cli({"ipfs", "add", "-Q", file_});
    EXPECT_EQ(r.status, 0) << r.err;
    return r.out.substr(0, r.out.find('\n'));
  }

  TempDir tmp_;
  std::string home_, file_;
};

TEST_F(ProgressCli, BarsAtATerminalForRandomModelAndModelLoading) {
  const std::string out =
      at_terminal({"dev", "random-model", "--like", kLlama + "/config.json", "--out", tmp_.path() + "/m"});
  expect_finished_bar(out, "generating random weights", "444.0 kB");
  expect_finished_bar(out, "writing model.safetensors", "444.0 kB");
  // Redrawn in place: each state starts with a carriage return, not a new line.
  EXPECT_NE(out.find("\rgenerating random weights"), std::string::npos) << out;

  // Labels too long for their column keep what is done and the end of what it is done to.
  expect_finished_bar(at_terminal({"generate", "-m", kLlama, "-p", "hi", "-n", "1", "--ignore-eos"}), "loading ");
}

TEST_F(ProgressCli, BarsAtATerminalForIpfsAddGetVerifyAndFetch) {
  expect_finished_bar(at_terminal({"ipfs", "add", file_}), "adding weights.bin", "1.5 MB");
  const std::string cid = add_file();
  expect_finished_bar(at_terminal({"ipfs", "get", cid, "-o", tmp_.path() + "/got"}), "saving ", "1.5 MB");
  expect_finished_bar(at_terminal({"ipfs", "repo", "verify"}), "verifying blocks", "7 blocks");

  // ipfs fetch into another home, from a gateway serving this one.
  std::unique_ptr<Process> server;
  const std::string url = start_our_gateway(home_, tmp_.path() + "/serve.log", server);
  ASSERT_FALSE(url.empty());
  ::setenv("IPFS_ACCELERATE_HOME", (tmp_.path() + "/other").c_str(), 1);
  expect_finished_bar(at_terminal({"ipfs", "fetch", cid, "--gateway", url}), "fetching ");
}

TEST_F(ProgressCli, BarsAtATerminalForAModelByCid) {
  CliResult add = run_cli({"ipfs", "add", "-r", "-Q", kBert});
  ASSERT_EQ(add.status, 0) << add.err;
  const std::string cid = add.out.substr(0, add.out.find('\n'));
  std::unique_ptr<Process> server;
  const std::string url = start_our_gateway(home_, tmp_.path() + "/serve.log", server);
  ASSERT_FALSE(url.empty());
  ::setenv("IPFS_ACCELERATE_HOME", (tmp_.path() + "/other").c_str(), 1);
  // Its blocks fetched, the folder written out, its weights loaded: a bar each.
  const std::string out = at_terminal({"embed", "-m", cid, "--gateway", url, "hello"});
  expect_finished_bar(out, "fetching ");
  expect_finished_bar(out, "saving ");
  expect_finished_bar(out, "loading ");
}

TEST_F(ProgressCli, PlainLinesOffATerminalWithProgressPlain) {
  CliResult add = run_cli({"--progress", "plain", "ipfs", "add", file_});
  ASSERT_EQ(add.status, 0) << add.err;
  EXPECT_NE(add.err.find("adding weights.bin (1.5 MB)\n"), std::string::npos) << add.err;
  EXPECT_NE(add.err.find("adding weights.bin: done, 1.5 MB in "), std::string::npos) << add.err;
  expect_no_redraws(add);

  const std::string cid = add_file();
  CliResult get = run_cli({"ipfs", "get", cid, "-o", tmp_.path() + "/got", "--progress", "plain"});  // after, too
  ASSERT_EQ(get.status, 0) << get.err;
  EXPECT_NE(get.err.find("saving " + cid + ": done, 1.5 MB in "), std::string::npos) << get.err;
  CliResult verify = run_cli({"--progress", "plain", "ipfs", "repo", "verify"});
  EXPECT_NE(verify.err.find("verifying blocks (7 blocks)\n"), std::string::npos) << verify.err;
  EXPECT_NE(verify.err.find("verifying blocks: done, 7 blocks in "), std::string::npos) << verify.err;
  expect_no_redraws(verify);

  CliResult random = run_cli(
      {"--progress", "plain", "dev", "random-model", "--like", kLlama + "/config.json", "--out", tmp_.path() + "/m"});
  ASSERT_EQ(random.status, 0) << random.err;
  EXPECT_NE(random.err.find("generating random weights (444.0 kB)\n"), std::string::npos) << random.err;
  EXPECT_NE(random.err.find("writing model.safetensors: done, 444.0 kB in "), std::string::npos) << random.err;
  expect_no_redraws(random);

  CliResult gen = run_cli({"--progress", "plain", "generate", "-m", kLlama, "-p", "hi", "-n", "1", "--quiet"});
  ASSERT_EQ(gen.status, 0) << gen.err;
  EXPECT_TRUE(gen.err.empty()) << gen.err;  // --quiet wins over --progress plain
  gen = run_cli({"--progress", "plain", "generate", "-m", kLlama, "-p", "hi", "-n", "1"});
  ASSERT_EQ(gen.status, 0) << gen.err;
  EXPECT_NE(gen.err.find("loading " + kLlama + " ("), std::string::npos) << gen.err;
  EXPECT_NE(gen.err.find("loading " + kLlama + ": done, "), std::string::npos) << gen.err;
  expect_no_redraws(gen);
}

TEST_F(ProgressCli, QuickWorkSaysNothingOffATerminal) {
  // Lines come only for a task that runs a second or more (cli_hub_test has one that does).
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"ipfs", "add", file_},
           {"ipfs", "repo", "verify"},
           {"dev", "random-model", "--like", kLlama + "/config.json", "--out", tmp_.path() + "/m"}}) {
    CliResult r = run_cli(args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(r.err.empty()) << args[0] << " " << args[1] << ": " << r.err;
  }
}

TEST_F(ProgressCli, QuietDrawsNothingAtATerminal) {
  // The terminal shows stdout and stderr: with --quiet only the command's output is there.
  const std::string random =
      at_terminal({"--quiet", "dev", "random-model", "--like", kLlama + "/config.json", "--out", tmp_.path() + "/m"});
  EXPECT_EQ(random.find("generating"), std::string::npos) << random;
  EXPECT_EQ(random.find("writing"), std::string::npos) << random;
  EXPECT_NE(random.find("\"parameters\""), std::string::npos) << random;
  EXPECT_EQ(at_terminal({"--progress", "none", "ipfs", "add", file_}).find("adding weights.bin"), std::string::npos);
  // `ipfs add -q` / `-Q` print only CIDs, as kubo's, without its bar.
  const std::string added = at_terminal({"ipfs", "add", "-q", file_});
  EXPECT_EQ(added.find("adding"), std::string::npos) << added;
  const std::string loaded = at_terminal({"generate", "-m", kLlama, "-p", "hi", "-n", "1", "--quiet"});
  EXPECT_EQ(loaded.find("loading"), std::string::npos) << loaded;
  EXPECT_EQ(loaded.find(kFullBar), std::string::npos) << loaded;
}

}  // namespace
}  // namespace ia::test
