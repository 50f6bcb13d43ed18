// The server's GenerationService over the batch engine, without HTTP: a job's sequences
// stream and finish as generate_ids runs them, the queue bound refuses (and a refused job
// leaves nothing behind), abort cancels what waits and runs, the engine's figures reach the
// metrics, and the KV pool is sized from the limits or the device's memory.
#include <gtest/gtest.h>

#include <thread>

#include "core/error.h"
#include "core/thread_pool.h"
#include "server/batched_generation_service.h"
#include "server/server_state.h"

namespace ia::server {
namespace {

using namespace std::chrono_literals;

class BatchedGenerationServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    threads_ = num_threads();
    set_num_threads(1);  // tiny model, many small steps: no barrier waits on a busy machine
    gen_ = Generator::load(std::string(IA_FIXTURES_DIR) + "/models/llama", Device::cpu(), DType::F32);
  }
  void TearDown() override { set_num_threads(threads_); }

  std::vector<int32_t> ids(const std::string& text) const {
    const auto e = gen_->tokenizer().encode(text);
    return {e.ids.begin(), e.ids.end()};
  }
  static GenerationRequest greedy(int64_t max_new) {
    GenerationRequest r;
    r.temperature = 0;
    r.max_new_tokens = max_new;
    r.ignore_eos = true;
    return r;
  }
  BatchedGenerationOptions options(size_t max_queue = 64) const {
    BatchedGenerationOptions o;
    o.engine.max_model_len = gen_->model().config().max_positions;
    o.max_queue = max_queue;
    return o;
  }
  static std::shared_ptr<GenerationStream> submit(GenerationService& s, std::vector<std::vector<int32_t>> prompts,
                                                  const GenerationRequest& req) {
    GenerationJob job;
    job.prompts = std::move(prompts);
    job.request = req;
    job.stream = std::make_shared<GenerationStream>();
    auto stream = job.stream;
    s.submit(std::move(job));
    return stream;
  }
  // Every delta of a stream, per sequence, until it ends.
  static std::vector<std::string> read(GenerationStream& stream, size_t sequences) {
    std::vector<std::string> text(sequences);
    std::vector<std::pair<size_t, std::string>> deltas;
    for (bool done = false; !done;) {
      done = stream.wait(deltas, 5000ms);
      for (auto& [i, d] : deltas) text.at(i) += d;
      deltas.clear();
    }
    return text;
  }

  int threads_ = 1;
  std::shared_ptr<Generator> gen_;
};

TEST_F(BatchedGenerationServiceTest, AJobStreamsAndFinishesAsGenerateIds) {
  ServerState state{ServeOptions{}};
  auto service = make_batched_generation_service(gen_, options(), &state.metrics, "llama");
  const std::vector<std::vector<int32_t>> prompts = {ids("The quick brown fox"), ids("Hello")};
  const GenerationRequest req = greedy(9);
  auto stream = submit(*service, prompts, req);
  const std::vector<std::string> streamed = read(*stream, 2);
  const std::vector<GenerationResult>& got = stream->results();
  ASSERT_EQ(got.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const GenerationResult want = gen_->generate_ids({prompts[i]}, req).at(0);
    EXPECT_EQ(got[i].ids, want.ids) << i;
    EXPECT_EQ(got[i].text, want.text) << i;
    EXPECT_EQ(streamed[i], want.text) << i;
    EXPECT_EQ(got[i].finish_reason, "length");
  }
  EXPECT_TRUE(stream->started_at.has_value());
  EXPECT_EQ(stream->stats().prompt_tokens, static_cast<int64_t>(prompts[0].size() + prompts[1].size()));
  EXPECT_EQ(stream->stats().decode_tokens, 2 * 8);  // each sequence's tokens after its first
  EXPECT_GE(stream->stats().prefill_ms, 0);

  const MetricsRegistry::Labels labels{{"model", "llama"}};
  service->export_metrics(state.metrics, labels);
  service->export_metrics(state.metrics, labels);  // a second scrape adds nothing new
  EXPECT_EQ(state.metrics.value(metric::kPrefixQueries, labels),
            static_cast<double>(prompts[0].size() + prompts[1].size()));
  EXPECT_EQ(state.metrics.value(metric::kKvBlocksUsed, labels), 0);
  EXPECT_EQ(state.metrics.value(metric::kKvBlocksTotal, labels), 64.0 * (256 / 16));
  EXPECT_NE(state.metrics.render().find("ia_batch_size_count{model=\"llama\"}"), std::string::npos);
}

TEST_F(BatchedGenerationServiceTest, SeededSequencesDrawApartAndRepeat) {
  auto service = make_batched_generation_service(gen_, options(), nullptr, "llama");
  GenerationRequest req = greedy(12);
  req.temperature = 1.0f;
  req.seed = 5;
  auto a = submit(*service, {ids("x"), ids("x")}, req);
  a->wait_done();
  auto b = submit(*service, {ids("x")}, req);
  b->wait_done();
  // Sequence i draws with seed + i: the first repeats in a second job, as generate_ids with that seed.
  EXPECT_EQ(a->results()[0].ids, b->results()[0].ids);
  EXPECT_EQ(a->results()[0].ids, gen_->generate_ids({ids("x")}, req).at(0).ids);
  GenerationRequest second = req;
  second.seed = 6;
  EXPECT_EQ(a->results()[1].ids, gen_->generate_ids({ids("x")}, second).at(0).ids);
}

TEST_F(BatchedGenerationServiceTest, AFullQueueRefusesAndAbortEndsEverything) {
  BatchedGenerationOptions o = options(/*max_queue=*/1);
  o.engine.max_num_seqs = 1;
  o.step_delay = 20ms;
  auto service = make_batched_generation_service(gen_, o, nullptr, "llama");
  auto running = submit(*service, {ids("first")}, greedy(200));
  for (int i = 0; i < 200 && service->running() == 0; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(service->running(), 1u);
  auto waiting = submit(*service, {ids("second")}, greedy(200));
  EXPECT_THROW(submit(*service, {ids("third")}, greedy(4)), QueueFull);
  service->abort();
  running->wait_done();
  waiting->wait_done();
  EXPECT_EQ(running->results().at(0).finish_reason, "cancelled");
  EXPECT_LT(running->results().at(0).ids.size(), 200u);
  EXPECT_EQ(waiting->results().at(0).finish_reason, "cancelled");
  EXPECT_TRUE(waiting->results().at(0).ids.empty());
  // The queue is empty again.
  auto next = submit(*service, {ids("fourth")}, greedy(2));
  next->wait_done();
  EXPECT_EQ(next->results().at(0).ids.size(), 2u);
  service->drain();
  EXPECT_THROW(submit(*service, {ids("fifth")}, greedy(2)), QueueFull);
}

TEST_F(BatchedGenerationServiceTest, ASequenceThePoolCanNeverHoldRefusesTheWholeJob) {
  BatchedGenerationOptions o = options(/*max_queue=*/1);
  o.engine.num_blocks = 2;  // 32 tokens
  auto service = make_batched_generation_service(gen_, o, nullptr, "llama");
  EXPECT_THROW(submit(*service, {ids("short"), ids("short")}, greedy(100)), Error);
  EXPECT_EQ(service->waiting(), 0u);
  auto ok = submit(*service, {ids("short")}, greedy(4));  // nothing of the refused job is counted as waiting
  ok->wait_done();
  EXPECT_EQ(ok->results().at(0).ids.size(), 4u);
}

TEST_F(BatchedGenerationServiceTest, KvPoolSizing) {
  const CausalLM& model = gen_->model();
  BatchEngineOptions o;
  o.max_model_len = 100;  // 7 blocks of 16
  o.max_num_seqs = 8;
  EXPECT_EQ(kv_pool_blocks(model, o, std::nullopt, 0.9), 56);  // the CPU: every sequence at full length
  const KvCacheLayout l = model.kv_layout();
  const int64_t block = 2 * l.num_layers * 16 * l.kv_heads * l.head_dim * 4;
  DeviceMemoryInfo plenty{int64_t{64} << 30, int64_t{80} << 30};
  EXPECT_EQ(kv_pool_blocks(model, o, plenty, 0.9), 56);  // no more than the limits can use
  DeviceMemoryInfo tight{0, int64_t{80} << 30};
  EXPECT_THROW(kv_pool_blocks(model, o, tight, 0.9), Error);
  // The least free memory whose share, less the activation reserve, holds 20 blocks: a pool cut
  // to what fits, and refused below one sequence of max_model_len.
  int64_t lo = 0, hi = int64_t{64} << 30;
  while (lo + 1 < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    int64_t blocks = 0;
    try {
      blocks = kv_pool_blocks(model, o, DeviceMemoryInfo{mid, hi}, 1.0);
    } catch (const Error&) {
      blocks = 0;
    }
    (blocks >= 20 ? hi : lo) = mid;
  }
  EXPECT_EQ(kv_pool_blocks(model, o, DeviceMemoryInfo{hi, hi}, 1.0), 20);
  EXPECT_EQ(kv_pool_blocks(model, o, DeviceMemoryInfo{hi + 10 * block, hi}, 1.0), 30);
  try {
    kv_pool_blocks(model, o, DeviceMemoryInfo{hi - 14 * block, hi}, 1.0);  // 6 blocks: not one sequence
    ADD_FAILURE() << "a pool smaller than one sequence was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unavailable);
    EXPECT_NE(std::string(e.what()).find("--gpu-memory-fraction"), std::string::npos) << e.what();
  }
}

// An int8 KV cache's blocks are smaller (KvCacheLayout::bytes_per_token): the same memory holds
// more of them, as many as its bytes divide into, and a sequence fits where f32's would not.
TEST_F(BatchedGenerationServiceTest, KvPoolSizingInt8) {
  const CausalLM& model = gen_->model();
  BatchEngineOptions o;
  o.max_model_len = 256;  // 16 blocks of 16
  o.max_num_seqs = 64;
  EXPECT_EQ(kv_pool_blocks(model, o, std::nullopt, 0.9, DType::Q8Kv), 64 * 16);  // the CPU: the limits
  const KvCacheLayout l = model.kv_layout();
  const int64_t f32_block = 16 * l.bytes_per_token(DType::F32), int8_block = 16 * l.bytes_per_token(DType::Q8Kv);
  EXPECT_EQ(int8_block, 16 * 2 * l.num_layers * l.kv_heads * (l.head_dim + 4));
  // The activation reserve, found as the least memory that holds one f32 sequence.
  const int64_t reserve_and_one = [&] {
    int64_t lo = 0, hi = int64_t{64} << 30;
    while (lo + 1 < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      bool fits = true;
      try {
        kv_pool_blocks(model, o, DeviceMemoryInfo{mid, hi}, 1.0);
      } catch (const Error&) {
        fits = false;
      }
      (fits ? hi : lo) = mid;
    }
    return hi;
  }();
  const int64_t reserve = reserve_and_one - 16 * f32_block;
  for (int64_t room : {int64_t{40} * f32_block, int64_t{100} * f32_block}) {
    const DeviceMemoryInfo m{reserve + room, int64_t{80} << 30};
    const int64_t f32_blocks = kv_pool_blocks(model, o, m, 1.0, DType::F32);
    const int64_t int8_blocks = kv_pool_blocks(model, o, m, 1.0, DType::Q8Kv);
    EXPECT_EQ(f32_blocks, room / f32_block);
    EXPECT_EQ(int8_blocks, room / int8_block);
    // head_dim 16: 20 bytes a row against 64 (3.2x f32's tokens; against bf16's 32, 1.6x).
    EXPECT_GE(static_cast<double>(int8_blocks) / static_cast<double>(f32_blocks), 3.1);
  }
  // Room for 10 f32 blocks, less than one sequence: refused for f32, 32 blocks of int8.
  const DeviceMemoryInfo small{reserve + 10 * f32_block, int64_t{80} << 30};
  EXPECT_THROW(kv_pool_blocks(model, o, small, 1.0, DType::F32), Error);
  EXPECT_EQ(kv_pool_blocks(model, o, small, 1.0, DType::Q8Kv), 10 * f32_block / int8_block);
}

}  // namespace
}  // namespace ia::server
