// The Accelerator's model cache under concurrent calls, on the fixture model
// folders: a slow load of one model does not hold up calls on another, loads
// that fail are tried again, and concurrent calls give the sequential answers.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ipfs_accelerate/accelerator.h"
#include "unit/router/router_test_util.h"

namespace ipfs_accelerate {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using test::kModels;
using test::TempDir;

// The bert fixture folder with its WordPiece vocabulary grown by `extra`
// tokens: a real tokenizer.json that takes a while to parse and index.
fs::path big_vocab_bert(const fs::path& dir, int extra) {
  fs::copy(kModels + "/bert", dir, fs::copy_options::recursive);
  nlohmann::json j = nlohmann::json::parse(std::ifstream(dir / "tokenizer.json"));
  auto& vocab = j["model"]["vocab"];
  int next = static_cast<int>(vocab.size());
  for (int i = 0; i < extra; ++i) vocab["zzfiller" + std::to_string(i)] = next++;
  std::ofstream(dir / "tokenizer.json") << j.dump();
  return dir;
}

TEST(AcceleratorLoading, ASlowLoadDoesNotBlockTokenizingWithAnotherModel) {
  TempDir tmp;
  const fs::path slow = big_vocab_bert(tmp.path() / "bert-big", 300000);
  const std::string llama = kModels + "/llama";
  Accelerator reference;
  const std::vector<int> expected = reference.tokenize(llama, "Hello world").ids;
  ASSERT_FALSE(expected.empty());

  // How long the big tokenizer takes to load here (it also warms the page cache).
  const auto t0 = std::chrono::steady_clock::now();
  Accelerator(AcceleratorOptions{}).tokenize(slow.string(), "hello world");
  const auto load_time = std::chrono::steady_clock::now() - t0;
  ASSERT_GT(load_time, 100ms) << "the slow model loads too fast to show anything";
  std::cerr << "bert-big loads in " << std::chrono::duration_cast<std::chrono::milliseconds>(load_time).count()
            << " ms\n";

  Accelerator acc;
  auto slow_call = std::async(std::launch::async, [&] { return acc.tokenize(slow.string(), "hello world"); });
  // A quarter into that load, calls on llama begin: with a lock held across the
  // load they would wait out the rest of it and end after the slow call.
  std::this_thread::sleep_for(load_time / 4);
  // Loading llama's tokenizer and using it while the big one loads: each call returns at once.
  int finished_while_loading = 0;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(acc.tokenize(llama, "Hello world").ids, expected);
    if (slow_call.wait_for(0s) == std::future_status::timeout) ++finished_while_loading;
  }
  const TokenizeResult big = slow_call.get();
  EXPECT_EQ(finished_while_loading, 5) << "a call on llama waited for bert-big's load";
  // The slow model's answer is the real one: its vocabulary is bert's plus fillers the text does not use.
  EXPECT_EQ(big.ids, reference.tokenize(kModels + "/bert", "hello world").ids);
}

TEST(AcceleratorLoading, AFailedLoadIsTriedAgain) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "bert";
  fs::copy(kModels + "/bert", dir, fs::copy_options::recursive);
  fs::rename(dir / "tokenizer.json", tmp.path() / "tokenizer.json");
  Accelerator acc;
  try {
    acc.tokenize(dir.string(), "hello");
    ADD_FAILURE() << "tokenized without a tokenizer";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), "not_found") << e.what();
  }
  fs::rename(tmp.path() / "tokenizer.json", dir / "tokenizer.json");
  EXPECT_EQ(acc.tokenize(dir.string(), "hello").ids, acc.tokenize(kModels + "/bert", "hello").ids);
}

TEST(AcceleratorLoading, ConcurrentCallsGiveTheSequentialAnswers) {
  const std::string bert = kModels + "/bert", llama = kModels + "/llama";
  Accelerator reference;
  const auto bert_ids = reference.tokenize(bert, "the quick brown fox").ids;
  const auto llama_ids = reference.tokenize(llama, "the quick brown fox").ids;
  const auto embedding = reference.embed(bert, {"the quick brown fox"}).embeddings.at(0);

  Accelerator acc;  // nothing loaded: every thread races to load
  std::vector<std::future<bool>> calls;
  for (int t = 0; t < 6; ++t) {
    calls.push_back(std::async(std::launch::async, [&, t] {
      switch (t % 3) {
        case 0: return acc.tokenize(bert, "the quick brown fox").ids == bert_ids;
        case 1: return acc.tokenize(llama, "the quick brown fox").ids == llama_ids;
        default: return acc.embed(bert, {"the quick brown fox"}).embeddings.at(0) == embedding;
      }
    }));
  }
  for (int t = 0; t < 6; ++t) EXPECT_TRUE(calls[t].get()) << "call " << t;
}

}  // namespace
}  // namespace ipfs_accelerate
