// Tokenizer throughput on ~4 MB of deterministic mixed text (English-like
// words, punctuation, numbers, some accents, CJK and emoji) with the gpt2 and
// llama fixture tokenizers: an encode() loop on one thread, encode_batch on
// one thread, and encode_batch on every core. Reported as MB/s of input.
// IA_BENCH_TEXT_OUT=path also writes the texts as JSONL, so another
// tokenizer (tools/bench/tokenizer_speed_hf.py) can time the same input.
// Detokenization of 4,096 generated tokens: DecodeStream (each token decoded
// once, with its context) beside re-decoding the whole output after every
// token, as the generation loop did before it; reported as total ms.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/thread_pool.h"
#include "tokenizers/decode_stream.h"
#include "tokenizers/tokenizer.h"

namespace {

// xorshift64*: tiny, and easy to reimplement exactly elsewhere.
struct Rng {
  uint64_t s = 0x9E3779B97F4A7C15ull;
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
};

std::vector<std::string> make_texts(size_t total_bytes) {
  static const char* syll[] = {"the", "an", "in", "ter", "con", "ing", "tion", "re",  "pro", "ver", "al", "ment",
                               "com", "de", "ly", "est", "ab",  "ous", "per",  "ist", "ure", "ble", "fi", "sta"};
  static const char* accented[] = {"caf\xC3\xA9",
                                   "na\xC3\xAFve",
                                   "r\xC3\xA9sum\xC3\xA9",
                                   "\xC3\xBC"
                                   "ber",
                                   "fa\xC3\xA7"
                                   "ade",
                                   "Stra\xC3\x9F"
                                   "e"};
  static const char* cjk[] = {"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", "\xE4\xB8\xAD\xE6\x96\x87",
                              "\xE6\x9D\xB1\xE4\xBA\xAC", "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4"};
  static const char* emoji[] = {"\xF0\x9F\x98\x80", "\xF0\x9F\x8E\x89", "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD"};
  static const char* punct[] = {",", ".", "!", "?", ";", ":", " -", "'s", "n't", "\"", "(", ")"};
  Rng rng;
  std::vector<std::string> texts;
  size_t bytes = 0;
  while (bytes < total_bytes) {
    std::string t;
    const size_t words = 20 + rng.below(80);
    for (size_t w = 0; w < words; ++w) {
      if (w) t += ' ';
      const size_t kind = rng.below(100);
      if (kind < 80) {
        const size_t n = 1 + rng.below(3);
        std::string word;
        for (size_t k = 0; k < n; ++k) word += syll[rng.below(sizeof syll / sizeof *syll)];
        if (rng.below(10) == 0) word[0] = static_cast<char>(word[0] - 32);
        t += word;
      } else if (kind < 88) {
        t += std::to_string(rng.below(100000));
      } else if (kind < 92) {
        t += accented[rng.below(sizeof accented / sizeof *accented)];
      } else if (kind < 95) {
        t += cjk[rng.below(sizeof cjk / sizeof *cjk)];
      } else if (kind < 97) {
        t += emoji[rng.below(sizeof emoji / sizeof *emoji)];
      } else {
        t += punct[rng.below(sizeof punct / sizeof *punct)];
      }
      if (rng.below(8) == 0) t += punct[rng.below(sizeof punct / sizeof *punct)];
    }
    bytes += t.size();
    texts.push_back(std::move(t));
  }
  return texts;
}

const std::vector<std::string>& texts() {
  static const std::vector<std::string> t = [] {
    auto v = make_texts(4u << 20);
    if (const char* out = std::getenv("IA_BENCH_TEXT_OUT")) {
      std::ofstream f(out, std::ios::binary);
      for (const auto& s : v) f << nlohmann::json(s).dump() << "\n";
    }
    return v;
  }();
  return t;
}

size_t total_bytes() {
  size_t n = 0;
  for (const auto& t : texts()) n += t.size();
  return n;
}

// The fixtures: $IA_FIXTURES_DIR, else tests/fixtures next to this source file.
std::string fixtures_dir() {
  if (const char* env = std::getenv("IA_FIXTURES_DIR")) return env;
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "tests" / "fixtures";
}

std::shared_ptr<ia::tok::Tokenizer> load(const std::string& family) {
  return ia::tok::Tokenizer::from_file(fixtures_dir() + "/models/" + family + "/tokenizer.json");
}

void report(benchmark::State& state, size_t tokens) {
  const double mb = static_cast<double>(total_bytes()) / 1e6;
  state.counters["MB/s"] =
      benchmark::Counter(mb * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["tokens"] = static_cast<double>(tokens);
}

void encode_loop(benchmark::State& state, const std::string& family) {
  auto tok = load(family);
  const auto& tx = texts();
  size_t tokens = 0;
  for (auto _ : state) {
    tokens = 0;
    for (const auto& t : tx) tokens += tok->encode(t).ids.size();
  }
  report(state, tokens);
}

void encode_batch(benchmark::State& state, const std::string& family, int threads) {
  auto tok = load(family);
  const auto& tx = texts();
  ia::set_num_threads(threads);
  size_t tokens = 0;
  for (auto _ : state) {
    auto out = tok->encode_batch(tx);
    tokens = 0;
    for (const auto& e : out) tokens += e.ids.size();
    benchmark::DoNotOptimize(out.data());
  }
  ia::set_num_threads(0);
  report(state, tokens);
}

void BM_Gpt2EncodeLoop(benchmark::State& s) {
  encode_loop(s, "gpt2");
}
void BM_Gpt2Batch1Thread(benchmark::State& s) {
  encode_batch(s, "gpt2", 1);
}
void BM_Gpt2BatchAllCores(benchmark::State& s) {
  encode_batch(s, "gpt2", 0);
}
void BM_LlamaEncodeLoop(benchmark::State& s) {
  encode_loop(s, "llama");
}
void BM_LlamaBatch1Thread(benchmark::State& s) {
  encode_batch(s, "llama", 1);
}
void BM_LlamaBatchAllCores(benchmark::State& s) {
  encode_batch(s, "llama", 0);
}

// The first 4,096 tokens of the bench text: what a long generation hands to
// the detokenizer one id at a time.
std::vector<int32_t> generated_ids(const ia::tok::Tokenizer& tok) {
  constexpr size_t kTokens = 4096;
  std::vector<int32_t> ids;
  for (const auto& t : texts()) {
    const auto e = tok.encode(t, /*add_special_tokens=*/false);
    ids.insert(ids.end(), e.ids.begin(), e.ids.end());
    if (ids.size() >= kTokens) break;
  }
  ids.resize(kTokens);
  return ids;
}

void decode_stream(benchmark::State& state, const std::string& family) {
  auto tok = load(family);
  const auto ids = generated_ids(*tok);
  size_t bytes = 0;
  for (auto _ : state) {
    ia::tok::DecodeStream ds(*tok, /*skip_special_tokens=*/true);
    bytes = 0;
    for (int32_t id : ids) bytes += ds.step(id).size();
    bytes += ds.flush().size();
  }
  if (bytes != tok->decode(ids, true).size()) state.SkipWithError("DecodeStream text differs from decode()");
  state.counters["tokens"] = static_cast<double>(ids.size());
}

void full_redecode(benchmark::State& state, const std::string& family) {
  auto tok = load(family);
  const auto ids = generated_ids(*tok);
  for (auto _ : state) {
    std::vector<int32_t> so_far;
    size_t bytes = 0;
    for (int32_t id : ids) {
      so_far.push_back(id);
      bytes = tok->decode(so_far, true).size();
    }
    benchmark::DoNotOptimize(bytes);
  }
  state.counters["tokens"] = static_cast<double>(ids.size());
}

void BM_Gpt2DecodeStream4096(benchmark::State& s) {
  decode_stream(s, "gpt2");
}
void BM_Gpt2FullRedecode4096(benchmark::State& s) {
  full_redecode(s, "gpt2");
}
void BM_LlamaDecodeStream4096(benchmark::State& s) {
  decode_stream(s, "llama");
}
void BM_LlamaFullRedecode4096(benchmark::State& s) {
  full_redecode(s, "llama");
}

BENCHMARK(BM_Gpt2EncodeLoop)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_Gpt2Batch1Thread)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_Gpt2BatchAllCores)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_LlamaEncodeLoop)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_LlamaBatch1Thread)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_LlamaBatchAllCores)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_Gpt2DecodeStream4096)->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_Gpt2FullRedecode4096)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK(BM_LlamaDecodeStream4096)->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_LlamaFullRedecode4096)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
