// Continuous batching on the tiny fixture decoders: whatever the batch, the chunking,
// the preemptions or the prefix-cache hits, every greedy request gives the ids, text
// and finish reason of the same request run alone through Generator::generate_ids,
// and the engine's bookkeeping holds (the pool is never overcommitted, every block
// comes back, cancelled requests free theirs).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <iostream>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/thread_pool.h"
#include "runtime/batch_engine.h"

namespace ia {
namespace {

std::string fixture(const std::string& f) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + f;
}

std::string param_name(const ::testing::TestParamInfo<const char*>& info) {
  return info.param;
}

// What the engine handed out for one request.
struct Outcome {
  std::string streamed;  // token events' texts, then the finish event's
  std::vector<int32_t> streamed_ids;
  int admitted = 0;  // on_admitted calls
  std::optional<FinishEvent> finish;
};

class BatchEngineTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    // The fixtures are tiny and these tests run hundreds of small steps: on one thread a
    // busy 2-core machine does not make every op wait at a barrier (28 s -> 1.4 s here).
    threads_ = num_threads();
    set_num_threads(1);
    gen_ = Generator::load(fixture(GetParam()), Device::cpu(), DType::F32);
    corpus_ = gen_->tokenizer()
                  .encode(
                      "Continuous batching lets many requests share one model: each step runs the new tokens "
                      "of every running sequence together, so a server keeps its hardware busy while clients "
                      "come and go. The key and value cache is paged in blocks of sixteen tokens, blocks are "
                      "shared between prompts with the same prefix, and a sequence that cannot grow is "
                      "preempted and later recomputed. 0123456789 ÀÉÎÕÜ ñ ß 漢字 😀 end.",
                      /*add_special_tokens=*/false)
                  .ids;
  }
  void TearDown() override { set_num_threads(threads_); }
  int64_t vocab() const { return gen_->model().config().vocab_size; }

  // A prompt of n tokens: a slice of the corpus from `offset`, wrapping, with a few random ids.
  std::vector<int32_t> prompt(size_t n, size_t offset, std::mt19937& rng) const {
    std::vector<int32_t> p;
    for (size_t i = 0; i < n; ++i) p.push_back(corpus_[(offset + i) % corpus_.size()]);
    std::uniform_int_distribution<int32_t> id(3, static_cast<int32_t>(vocab()) - 1);
    for (size_t i = 0; i < n / 8; ++i) p[std::uniform_int_distribution<size_t>(0, n - 1)(rng)] = id(rng);
    return p;
  }
  static GenerationRequest greedy(int64_t max_new) {
    GenerationRequest r;
    r.temperature = 0;
    r.max_new_tokens = max_new;
    return r;
  }
  GenerationResult solo(const std::vector<int32_t>& prompt, const GenerationRequest& req) const {
    return gen_->generate_ids({prompt}, req).at(0);
  }
  // Submits a request whose events land in `out`.
  RequestHandle submit(BatchEngine& engine, std::vector<int32_t> prompt, const GenerationRequest& req, Outcome& out) {
    BatchRequest r;
    r.prompt = std::move(prompt);
    r.options = req;
    r.on_admitted = [&out] { ++out.admitted; };
    r.on_token = [&out](const TokenEvent& e) {
      out.streamed += e.text;
      out.streamed_ids.push_back(e.id);
    };
    r.on_finish = [&out](const FinishEvent& e) {
      EXPECT_FALSE(out.finish.has_value()) << "finished twice";
      out.streamed += e.text;
      out.finish = e;
    };
    return engine.submit(std::move(r));
  }
  // The request's outcome equals its solo run.
  void expect_solo(const std::vector<int32_t>& prompt, const GenerationRequest& req, const Outcome& out,
                   const std::string& what) const {
    ASSERT_TRUE(out.finish.has_value()) << what;
    const GenerationResult want = solo(prompt, req);
    const GenerationResult& got = out.finish->result;
    EXPECT_EQ(got.ids, want.ids) << what;
    EXPECT_EQ(got.text, want.text) << what;
    EXPECT_EQ(got.finish_reason, want.finish_reason) << what;
    EXPECT_EQ(got.prompt_ids, prompt) << what;
    EXPECT_EQ(out.streamed, got.text) << what;
    EXPECT_EQ(out.streamed_ids, got.ids) << what;
    EXPECT_EQ(out.admitted, 1) << what;  // once, even when preempted and admitted again
    EXPECT_EQ(out.finish->usage.prompt_tokens, static_cast<int64_t>(prompt.size())) << what;
    EXPECT_EQ(out.finish->usage.completion_tokens, static_cast<int64_t>(got.ids.size())) << what;
  }
  // Every step respects the limits and the pool.
  void watch_limits(BatchEngine& engine) {
    engine.set_step_observer([&engine, this](const StepReport& s) {
      const BatchEngineStats st = engine.stats();
      EXPECT_LE(s.sequences, engine.options().max_num_seqs);
      EXPECT_LE(s.prefill_tokens + s.decode_tokens, engine.options().max_batch_tokens);
      EXPECT_LE(st.kv_blocks_used, st.kv_blocks_total);
      EXPECT_LE(st.running, engine.options().max_num_seqs);
      max_batch_ = std::max(max_batch_, s.sequences);
    });
  }
  static void expect_idle(const BatchEngine& engine) {
    const BatchEngineStats st = engine.stats();
    EXPECT_EQ(st.running, 0);
    EXPECT_EQ(st.waiting, 0);
    EXPECT_EQ(st.kv_blocks_used, 0);
    EXPECT_EQ(engine.cache().free_blocks(), engine.cache().num_blocks());
  }

  int threads_ = 0;
  std::shared_ptr<Generator> gen_;
  std::vector<int32_t> corpus_;
  int64_t max_batch_ = 0;
};

TEST_P(BatchEngineTest, SixtyFourConcurrentRequestsEqualTheirSoloRuns) {
  BatchEngineOptions o;
  o.max_batch_tokens = 192;  // prompts are prefilled in chunks beside the decoding ones
  BatchEngine engine(gen_, o);
  watch_limits(engine);
  std::mt19937 rng(7);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerationRequest> reqs;
  std::vector<Outcome> outs(64);
  for (size_t i = 0; i < 64; ++i) {
    prompts.push_back(prompt(1 + (i * 37) % 90, i * 11, rng));
    reqs.push_back(greedy(4 + static_cast<int64_t>(i % 13)));
    if (i % 5 == 0) {
      // A stop string taken from the middle of the solo text, so it does stop there.
      const std::string text = solo(prompts[i], reqs[i]).text;
      if (text.size() > 6) reqs[i].stop = {text.substr(text.size() / 2, 2)};
    }
    if (i % 7 == 0) reqs[i].logprobs = 2;
    submit(engine, prompts[i], reqs[i], outs[i]);
  }
  engine.run_until_idle();
  for (size_t i = 0; i < 64; ++i) expect_solo(prompts[i], reqs[i], outs[i], fmt::format("request {}", i));
  for (size_t i = 0; i < 64; i += 7) {
    const FinishEvent& f = *outs[i].finish;
    ASSERT_EQ(f.result.logprobs.size(), f.result.ids.size());
    const GenerationResult want = solo(prompts[i], reqs[i]);
    for (size_t t = 0; t < want.logprobs.size(); ++t) {
      EXPECT_NEAR(f.result.logprobs[t].logprob, want.logprobs[t].logprob, 1e-4);
      EXPECT_EQ(f.result.logprobs[t].top.size(), 2u);
    }
  }
  EXPECT_GT(max_batch_, 16);
  const BatchEngineStats st = engine.stats();
  EXPECT_EQ(st.requests_finished, 64);
  EXPECT_EQ(st.preemptions, 0);
  int64_t prompt_tokens = 0, generated = 0;
  for (size_t i = 0; i < 64; ++i) {
    prompt_tokens += static_cast<int64_t>(prompts[i].size());
    generated += static_cast<int64_t>(outs[i].finish->result.ids.size());
  }
  EXPECT_EQ(st.prompt_tokens, prompt_tokens);
  EXPECT_EQ(st.generated_tokens, generated);
  expect_idle(engine);
}

// An int8 KV cache (--kv-cache-dtype int8): the engine's pool is int8, batching and chunked
// prefill still give each request its solo run on an int8 cache, and those stay close to the
// f32 cache's greedy ids.
TEST_P(BatchEngineTest, AnInt8KvCacheGivesTheSoloOutputs) {
  const std::shared_ptr<Generator> f32 = gen_;
  gen_ = Generator::load(fixture(GetParam()), Device::cpu(), DType::F32, {}, DType::Q8Kv);
  ASSERT_EQ(gen_->kv_cache_dtype(), DType::Q8Kv);
  BatchEngineOptions o;
  o.max_batch_tokens = 40;  // prompts prefilled in chunks beside decoding ones
  BatchEngine engine(gen_, o);
  EXPECT_EQ(engine.cache().dtype(), DType::Q8Kv);
  watch_limits(engine);
  std::mt19937 rng(3);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<Outcome> outs(16);
  GenerationRequest req = greedy(12);
  req.ignore_eos = true;
  for (size_t i = 0; i < outs.size(); ++i) {
    prompts.push_back(prompt(3 + i * 5, i * 13, rng));
    submit(engine, prompts[i], req, outs[i]);
  }
  engine.run_until_idle();
  int64_t same = 0, total = 0;
  for (size_t i = 0; i < outs.size(); ++i) {
    expect_solo(prompts[i], req, outs[i], fmt::format("int8 kv request {}", i));
    const std::vector<int32_t> want = f32->generate_ids({prompts[i]}, req).at(0).ids;
    for (size_t t = 0; t < want.size() && t < outs[i].finish->result.ids.size(); ++t)
      same += outs[i].finish->result.ids[t] == want[t];
    total += static_cast<int64_t>(want.size());
  }
  std::cout << "[ kv int8  ] " << GetParam() << ": " << same << " of " << total << " greedy ids as on an f32 cache\n";
  EXPECT_GE(same * 10, total * 8);
  EXPECT_GT(max_batch_, 2);
  expect_idle(engine);
  gen_ = f32;
}

TEST_P(BatchEngineTest, RequestsJoiningWhileOthersRunEqualTheirSoloRuns) {
  BatchEngineOptions o;
  o.max_batch_tokens = 48;
  BatchEngine engine(gen_, o);
  watch_limits(engine);
  std::mt19937 rng(11);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<Outcome> outs(12);
  const GenerationRequest req = greedy(12);
  for (size_t i = 0; i < outs.size(); ++i) {
    prompts.push_back(prompt(5 + i * 9, i * 3, rng));
    submit(engine, prompts[i], req, outs[i]);
    // Two steps between arrivals: the newcomer's prefill shares steps with decoding requests.
    engine.step();
    engine.step();
  }
  engine.run_until_idle();
  for (size_t i = 0; i < outs.size(); ++i) expect_solo(prompts[i], req, outs[i], fmt::format("request {}", i));
  EXPECT_GT(max_batch_, 2);
  expect_idle(engine);
}

TEST_P(BatchEngineTest, ATinyPoolPreemptsAndStillGivesTheSoloOutputs) {
  for (const bool prefix_caching : {true, false}) {
    BatchEngineOptions o;
    o.num_blocks = 10;  // 160 tokens for 12 requests of up to ~70 tokens each
    o.prefix_caching = prefix_caching;
    BatchEngine engine(gen_, o);
    watch_limits(engine);
    std::mt19937 rng(5);
    std::vector<std::vector<int32_t>> prompts;
    std::vector<Outcome> outs(12);
    const GenerationRequest req = greedy(24);
    for (size_t i = 0; i < outs.size(); ++i) {
      prompts.push_back(prompt(20 + i * 4, i * 7, rng));
      submit(engine, prompts[i], req, outs[i]);
    }
    engine.run_until_idle();
    int64_t preempted = 0;
    for (size_t i = 0; i < outs.size(); ++i) {
      expect_solo(prompts[i], req, outs[i], fmt::format("request {} (prefix caching {})", i, prefix_caching));
      if (outs[i].finish) preempted += outs[i].finish->preemptions;
    }
    EXPECT_GT(engine.stats().preemptions, 0);
    EXPECT_EQ(preempted, engine.stats().preemptions);
    expect_idle(engine);
  }
}

// Random limits, pools and arrival orders over prompts that share three prefixes: whatever
// mix of chunking, same-step and later prefix hits and preemptions comes out, outputs stay.
TEST_P(BatchEngineTest, RandomArrivalsPoolsAndSharedPrefixesGiveTheSoloOutputs) {
  std::mt19937 rng(31);
  std::vector<std::vector<int32_t>> systems;
  for (size_t i = 0; i < 3; ++i) systems.push_back(prompt(40, i * 17, rng));
  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = 0; i < 16; ++i) {
    std::vector<int32_t> p = systems[i % 3];
    p.resize(16 + (i * 7) % 25);
    const std::vector<int32_t> user = prompt(1 + i % 9, 50 + i * 3, rng);
    p.insert(p.end(), user.begin(), user.end());
    prompts.push_back(p);
  }
  GenerationRequest req = greedy(14);
  req.ignore_eos = true;
  std::vector<std::vector<int32_t>> want;
  for (const auto& p : prompts) want.push_back(solo(p, req).ids);
  int64_t hits = 0, preemptions = 0;
  for (uint32_t seed = 0; seed < 40; ++seed) {
    std::mt19937 r(seed);
    BatchEngineOptions o;
    o.max_batch_tokens = std::uniform_int_distribution<int64_t>(8, 200)(r);
    o.num_blocks = std::uniform_int_distribution<int64_t>(5, 40)(r);
    o.max_num_seqs = std::uniform_int_distribution<int64_t>(1, 16)(r);
    o.prefix_caching = seed % 4 != 3;
    BatchEngine engine(gen_, o);
    std::vector<std::vector<int32_t>> got(prompts.size());
    std::vector<size_t> order(prompts.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), r);
    for (size_t next = 0; next < order.size(); engine.step()) {
      // Zero to four arrivals between steps.
      for (int n = std::uniform_int_distribution<int>(0, 4)(r); n > 0 && next < order.size(); --n, ++next) {
        const size_t i = order[next];
        BatchRequest b;
        b.prompt = prompts[i];
        b.options = req;
        b.on_finish = [&got, i](const FinishEvent& e) { got[i] = e.result.ids; };
        engine.submit(std::move(b));
      }
    }
    engine.run_until_idle();
    for (size_t i = 0; i < prompts.size(); ++i)
      EXPECT_EQ(got[i], want[i]) << "seed " << seed << ", prompt " << i << ", " << o.num_blocks << " blocks";
    hits += engine.stats().prefix_cache_hits;
    preemptions += engine.stats().preemptions;
    expect_idle(engine);
  }
  EXPECT_GT(hits, 0);
  EXPECT_GT(preemptions, 0);
}

TEST_P(BatchEngineTest, AdmissionStopsAtTheFreeBlocksAndTheSequenceLimit) {
  BatchEngineOptions o;
  o.num_blocks = 6;  // two requests of 3 blocks each
  o.max_num_seqs = 3;
  BatchEngine engine(gen_, o);
  watch_limits(engine);
  std::mt19937 rng(21);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<Outcome> outs(8);
  const GenerationRequest req = greedy(4);  // 40 + 4 - 1 tokens: 3 blocks of 16
  for (size_t i = 0; i < outs.size(); ++i) {
    prompts.push_back(prompt(40, i * 5, rng));
    submit(engine, prompts[i], req, outs[i]);
  }
  EXPECT_EQ(engine.stats().waiting, 8);
  engine.step();
  BatchEngineStats st = engine.stats();
  EXPECT_EQ(st.running, 2);
  EXPECT_EQ(st.waiting, 6);
  EXPECT_EQ(st.kv_blocks_used, 6);
  EXPECT_EQ(st.last_step_tokens, 80);
  EXPECT_EQ(outs[1].admitted, 1);
  EXPECT_EQ(outs[2].admitted, 0);
  engine.run_until_idle();
  for (size_t i = 0; i < outs.size(); ++i) expect_solo(prompts[i], req, outs[i], fmt::format("request {}", i));
  EXPECT_EQ(engine.stats().preemptions, 0);  // admission left each running request the blocks it needs
  expect_idle(engine);

  // Small requests: the sequence limit binds first.
  std::vector<Outcome> small(5);
  for (size_t i = 0; i < small.size(); ++i) submit(engine, prompt(4, i, rng), req, small[i]);
  engine.step();
  EXPECT_EQ(engine.stats().running, 3);
  EXPECT_EQ(engine.stats().last_step_sequences, 3);
  engine.run_until_idle();
  expect_idle(engine);
}

TEST_P(BatchEngineTest, ASharedPrefixIsComputedOnce) {
  BatchEngine engine(gen_);
  std::mt19937 rng(3);
  const std::vector<int32_t> system = prompt(70, 0, rng);  // four full blocks and a partial one
  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = 0; i < 3; ++i) {
    std::vector<int32_t> p = system;
    const std::vector<int32_t> user = prompt(6 + i, 40 + i * 13, rng);
    p.insert(p.end(), user.begin(), user.end());
    prompts.push_back(p);
  }
  const GenerationRequest req = greedy(10);
  std::vector<Outcome> outs(3);
  submit(engine, prompts[0], req, outs[0]);
  engine.run_until_idle();
  EXPECT_EQ(outs[0].finish->usage.cached_tokens, 0);
  EXPECT_GT(engine.stats().kv_blocks_cached, 0);
  // One arrives after the first finished (its blocks are cached, unheld), one while another runs.
  submit(engine, prompts[1], req, outs[1]);
  engine.step();
  submit(engine, prompts[2], req, outs[2]);
  engine.run_until_idle();
  for (size_t i = 0; i < 3; ++i) expect_solo(prompts[i], req, outs[i], fmt::format("request {}", i));
  EXPECT_EQ(outs[1].finish->usage.cached_tokens, 64);
  EXPECT_EQ(outs[2].finish->usage.cached_tokens, 64);
  const BatchEngineStats st = engine.stats();
  EXPECT_EQ(st.prefix_cache_hits, 128);
  EXPECT_GT(st.prefix_cache_hit_rate(), 0.0);
  EXPECT_LT(st.prefix_cache_hit_rate(), 1.0);
  // Two arriving together: the second shares the blocks the first fills in the same step.
  Outcome first, second;
  std::vector<int32_t> other_system = prompt(70, 5, rng), p1 = other_system, p2 = other_system;
  p1.push_back(7);
  p2.push_back(8);
  submit(engine, p1, req, first);
  submit(engine, p2, req, second);
  engine.step();
  EXPECT_EQ(engine.stats().last_step_tokens, 71 + 7);
  engine.run_until_idle();
  expect_solo(p1, req, first, "the first of two together");
  expect_solo(p2, req, second, "the second of two together");
  EXPECT_EQ(first.finish->usage.cached_tokens, 0);
  EXPECT_EQ(second.finish->usage.cached_tokens, 64);
  // The same prompt again: everything but its last token's block comes from the cache.
  Outcome again;
  submit(engine, prompts[0], req, again);
  engine.run_until_idle();
  expect_solo(prompts[0], req, again, "the first prompt again");
  EXPECT_EQ(again.finish->usage.cached_tokens, 64);
  expect_idle(engine);
}

TEST_P(BatchEngineTest, CancellingMidRunFreesTheBlocks) {
  BatchEngine engine(gen_);
  std::mt19937 rng(9);
  GenerationRequest req = greedy(200);
  req.ignore_eos = true;  // runs until cancelled
  std::vector<Outcome> outs(3);
  std::vector<RequestHandle> handles;
  for (size_t i = 0; i < outs.size(); ++i) handles.push_back(submit(engine, prompt(30, i * 5, rng), req, outs[i]));
  for (int i = 0; i < 6; ++i) engine.step();
  const int64_t used = engine.stats().kv_blocks_used;
  EXPECT_GT(used, 0);
  handles[1].cancel();
  engine.step();
  ASSERT_TRUE(outs[1].finish.has_value());
  EXPECT_EQ(outs[1].finish->result.finish_reason, "cancelled");
  EXPECT_EQ(outs[1].streamed, outs[1].finish->result.text);
  EXPECT_FALSE(outs[0].finish.has_value());
  EXPECT_LT(engine.stats().kv_blocks_used, used + 1);  // the others grew by at most a block, the cancelled freed its
  handles[0].cancel();
  handles[2].cancel();
  handles[2].cancel();  // twice is harmless
  engine.step();
  for (const Outcome& o : outs) {
    ASSERT_TRUE(o.finish.has_value());
    EXPECT_EQ(o.finish->result.finish_reason, "cancelled");
    EXPECT_GE(o.finish->result.ids.size(), 5u);
  }
  expect_idle(engine);
  handles[0].cancel();  // after it finished: nothing happens
  // A request whose GenerationRequest::cancelled hook says so (Generator's way).
  std::atomic<bool> client_left{false};
  GenerationRequest hooked = req;
  hooked.cancelled = [&client_left] { return client_left.load(); };
  Outcome left;
  submit(engine, prompt(20, 2, rng), hooked, left);
  engine.step();
  engine.step();
  EXPECT_FALSE(left.finish.has_value());
  client_left = true;
  engine.step();
  ASSERT_TRUE(left.finish.has_value());
  EXPECT_EQ(left.finish->result.finish_reason, "cancelled");
  EXPECT_EQ(left.finish->result.ids.size(), 2u);
  expect_idle(engine);
  // A request cancelled before it ever ran.
  Outcome waiting;
  RequestHandle h = submit(engine, prompt(10, 0, rng), req, waiting);
  h.cancel();
  engine.step();
  ASSERT_TRUE(waiting.finish.has_value());
  EXPECT_EQ(waiting.finish->result.finish_reason, "cancelled");
  EXPECT_TRUE(waiting.finish->result.ids.empty());
  expect_idle(engine);
}

TEST_P(BatchEngineTest, AThrowingCallbackEndsOnlyItsRequest) {
  BatchEngine engine(gen_);
  std::mt19937 rng(29);
  GenerationRequest req = greedy(12);
  req.ignore_eos = true;
  const std::vector<int32_t> p = prompt(20, 4, rng);
  Outcome other;
  submit(engine, p, req, other);
  // A consumer that goes away after three tokens (a closed connection).
  std::optional<FinishEvent> gone;
  int tokens = 0;
  BatchRequest r;
  r.prompt = prompt(25, 1, rng);
  r.options = req;
  r.on_token = [&tokens](const TokenEvent&) {
    if (++tokens == 3) throw std::runtime_error("client disconnected");
  };
  r.on_finish = [&gone](const FinishEvent& e) { gone = e; };
  engine.submit(std::move(r));
  // One that fails as it is admitted.
  std::optional<FinishEvent> refused;
  BatchRequest early;
  early.prompt = prompt(10, 2, rng);
  early.options = req;
  early.on_admitted = [] { throw std::runtime_error("no room for the stream"); };
  early.on_finish = [&refused](const FinishEvent& e) { refused = e; };
  engine.submit(std::move(early));
  engine.run_until_idle();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->result.finish_reason, "cancelled");
  EXPECT_LE(refused->result.ids.size(), 1u);  // at most the token of the step it joined
  ASSERT_TRUE(gone.has_value());
  EXPECT_EQ(gone->result.finish_reason, "cancelled");
  EXPECT_EQ(gone->result.ids.size(), 3u);
  EXPECT_EQ(tokens, 3);
  expect_solo(p, req, other, "the other request");
  expect_idle(engine);
}

TEST_P(BatchEngineTest, RefusesRequestsThatCanNeverRun) {
  BatchEngineOptions o;
  o.num_blocks = 4;  // 64 tokens
  BatchEngine engine(gen_, o);
  const int64_t ctx = gen_->model().config().max_positions;
  Outcome out;
  auto refused = [&](std::vector<int32_t> p, const GenerationRequest& req) {
    try {
      submit(engine, std::move(p), req, out);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << e.what();
    }
  };
  refused(std::vector<int32_t>(static_cast<size_t>(ctx), 5), greedy(4));      // the prompt fills the context
  refused(std::vector<int32_t>(static_cast<size_t>(ctx) + 9, 5), greedy(4));  // it exceeds it
  refused({}, greedy(4));                                                     // empty
  refused({5, static_cast<int32_t>(vocab())}, greedy(4));                     // outside the vocabulary
  refused(std::vector<int32_t>(60, 5), greedy(8));                            // more than the pool holds
  GenerationRequest bad = greedy(4);
  bad.top_p = 2;
  refused({5, 6}, bad);
  EXPECT_EQ(engine.stats().waiting, 0);
  // What fits exactly is accepted: 60 + 5 - 1 tokens in 4 blocks of 16.
  submit(engine, std::vector<int32_t>(60, 5), greedy(5), out);
  engine.run_until_idle();
  ASSERT_TRUE(out.finish.has_value());
  expect_idle(engine);
}

TEST_P(BatchEngineTest, MaxModelLenRefusesCutsOrCapsRequests) {
  BatchEngineOptions o;
  o.max_model_len = 40;
  BatchEngine engine(gen_, o);
  std::mt19937 rng(23);
  const std::vector<int32_t> long_prompt = prompt(50, 0, rng);
  Outcome out;
  try {
    submit(engine, long_prompt, greedy(8), out);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
  }
  GenerationRequest cut = greedy(8);
  cut.truncate_prompt = true;
  submit(engine, long_prompt, cut, out);
  Outcome capped;
  const std::vector<int32_t> near_the_end = prompt(35, 9, rng);
  GenerationRequest many = greedy(20);
  many.ignore_eos = true;
  submit(engine, near_the_end, many, capped);
  engine.run_until_idle();
  // The last 40 - 8 tokens are kept, as Generator::prepare cuts to the model's context.
  const std::vector<int32_t> kept(long_prompt.end() - 32, long_prompt.end());
  ASSERT_TRUE(out.finish.has_value());
  EXPECT_EQ(out.finish->result.prompt_ids, kept);
  EXPECT_EQ(out.finish->result.warnings.size(), 1u);
  EXPECT_EQ(out.finish->result.ids, solo(kept, greedy(8)).ids);
  ASSERT_TRUE(capped.finish.has_value());
  EXPECT_EQ(capped.finish->result.ids.size(), 5u);
  EXPECT_EQ(capped.finish->result.finish_reason, "length");
  expect_idle(engine);
}

TEST_P(BatchEngineTest, ItsOwnThreadServesConcurrentSubmitters) {
  constexpr size_t kThreads = 4, kPerThread = 6;
  std::vector<std::vector<int32_t>> prompts(kThreads * kPerThread);
  std::mt19937 rng(13);
  for (size_t i = 0; i < prompts.size(); ++i) prompts[i] = prompt(3 + i * 5, i, rng);
  const GenerationRequest req = greedy(10);
  // The solo runs first: they would otherwise run the model on this thread while the
  // engine's thread runs it too.
  std::vector<GenerationResult> want;
  for (const auto& p : prompts) want.push_back(solo(p, req));
  BatchEngineOptions o;
  o.max_batch_tokens = 128;
  BatchEngine engine(gen_, o);
  engine.start();
  std::vector<std::promise<FinishEvent>> done(prompts.size());
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (size_t k = 0; k < kPerThread; ++k) {
        const size_t i = t * kPerThread + k;
        BatchRequest r;
        r.prompt = prompts[i];
        r.options = req;
        r.on_finish = [&done, i](const FinishEvent& e) { done[i].set_value(e); };
        engine.submit(std::move(r));
      }
    });
  }
  for (auto& th : threads) th.join();
  for (size_t i = 0; i < prompts.size(); ++i) {
    const FinishEvent e = done[i].get_future().get();
    EXPECT_EQ(e.result.ids, want[i].ids) << "request " << i;
    EXPECT_EQ(e.result.text, want[i].text) << "request " << i;
  }
  EXPECT_TRUE(engine.wait_idle(std::chrono::seconds(10)));
  engine.stop();
  expect_idle(engine);
}

TEST_P(BatchEngineTest, SeededSamplingEqualsTheSoloRun) {
  BatchEngine engine(gen_);
  std::mt19937 rng(17);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerationRequest> reqs;
  std::vector<Outcome> outs(6);
  for (size_t i = 0; i < outs.size(); ++i) {
    prompts.push_back(prompt(8 + i * 6, i * 4, rng));
    GenerationRequest r = greedy(12);
    r.temperature = 0.9f;
    r.top_k = 40;
    r.seed = 100 + i;
    reqs.push_back(r);
    submit(engine, prompts[i], r, outs[i]);
  }
  engine.run_until_idle();
  for (size_t i = 0; i < outs.size(); ++i) expect_solo(prompts[i], reqs[i], outs[i], fmt::format("request {}", i));
}

TEST_P(BatchEngineTest, DestroyingTheEngineEndsWhatIsLeft) {
  Outcome running, queued;
  std::mt19937 rng(1);
  RequestHandle h;
  {
    BatchEngine engine(gen_);
    GenerationRequest req = greedy(50);
    req.ignore_eos = true;
    h = submit(engine, prompt(12, 0, rng), req, running);
    engine.step();
    submit(engine, prompt(12, 3, rng), req, queued);
  }
  ASSERT_TRUE(running.finish.has_value());
  ASSERT_TRUE(queued.finish.has_value());
  EXPECT_EQ(running.finish->result.finish_reason, "cancelled");
  EXPECT_EQ(queued.finish->result.finish_reason, "cancelled");
  h.cancel();  // the engine is gone: nothing happens
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BatchEngineTest, ::testing::Values("llama", "qwen2", "gpt2", "mistral"), param_name);

}  // namespace
}  // namespace ia
