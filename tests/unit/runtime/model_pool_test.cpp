// The resource pool (runtime/model_pool.h): the least recently used idle model goes first, a
// model with a lease out never goes, an unloaded model's memory is freed (its account's bytes
// and the process's resident set, measured), a model larger than the limit is refused naming the
// sizes, the idle timeout, one model at a time, reloads; --max-memory's syntax.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <thread>

#include "backends/backend.h"
#include "backends/memory_budget.h"
#include "core/memory_account.h"
#include "core/tensor.h"
#include "runtime/embedding_endpoint.h"
#include "runtime/model_pool.h"

namespace ia {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

// A model that is `bytes` of host memory, filled with its `fill` byte (so a test can tell it is
// intact), made the way a real load makes its weights: a storage charged to the pool's account.
struct FakeModel {
  Tensor weights;
  uint8_t fill = 0;
  bool intact() const {
    const auto* p = static_cast<const uint8_t*>(weights.raw());
    for (size_t i = 0; i < weights.nbytes(); i += 4096)
      if (p[i] != fill) return false;
    return true;
  }
};

struct Loads {
  std::atomic<int> count{0};
};

ModelSource fake_source(int64_t bytes, uint8_t fill, Loads* loads = nullptr,
                        std::chrono::milliseconds load_time = std::chrono::milliseconds(0)) {
  ModelSource s;
  s.plan = [bytes] { return ModelLoadPlan{Device::cpu(), bytes, bytes}; };
  s.load = [bytes, fill, loads, load_time](const ModelLoadPlan&, std::optional<int64_t>) {
    if (loads) ++loads->count;
    std::this_thread::sleep_for(load_time);
    auto m = std::make_shared<FakeModel>();
    m->weights = Tensor::empty({bytes}, DType::U8);
    std::memset(m->weights.raw(), fill, static_cast<size_t>(bytes));  // resident, as loaded weights are
    m->fill = fill;
    return LoadedModel{m, 0};
  };
  return s;
}

ModelPoolOptions limited(int64_t cpu_bytes) {
  ModelPoolOptions o;
  o.limits.named["cpu"] = cpu_bytes;
  return o;
}

PooledModelStatus status_of(const ModelPool& pool, const std::string& name) {
  for (const auto& s : pool.status())
    if (s.name == name) return s;
  ADD_FAILURE() << "no " << name << " in the pool";
  return {};
}

std::vector<std::string> loaded(const ModelPool& pool) {
  std::vector<std::string> out;
  for (const auto& s : pool.status())
    if (s.loaded) out.push_back(s.name);
  return out;
}

// The resident set of this process, from /proc/self/statm.
int64_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

void use(ModelPool& pool, const std::string& name) {
  const ModelLease lease = pool.acquire(name);
  EXPECT_TRUE(lease.get<FakeModel>().intact());
}

TEST(ModelPool, UnloadsTheLeastRecentlyUsedIdleModelFirstAndOnlyAsManyAsItTakes) {
  ModelPool pool(limited(3 * kMiB + kMiB / 2));
  for (const char* name : {"a", "b", "c", "d"}) pool.declare(name, fake_source(kMiB, static_cast<uint8_t>(name[0])));
  use(pool, "a");
  use(pool, "b");
  use(pool, "c");
  use(pool, "a");  // b is now the least recently used, then c, then a
  EXPECT_EQ(loaded(pool), (std::vector<std::string>{"a", "b", "c"}));
  use(pool, "d");  // 4 MiB do not fit in 3.5: one model goes, b
  EXPECT_EQ(loaded(pool), (std::vector<std::string>{"a", "c", "d"}));
  EXPECT_EQ(status_of(pool, "b").evictions, 1);
  use(pool, "b");  // loaded again from its source; c goes now
  EXPECT_EQ(loaded(pool), (std::vector<std::string>{"a", "b", "d"}));
  EXPECT_EQ(status_of(pool, "b").loads, 2);
  EXPECT_EQ(status_of(pool, "c").evictions, 1);
}

TEST(ModelPool, NeverUnloadsAModelWithALeaseInFlight) {
  ModelPool pool(limited(2 * kMiB + kMiB / 2));
  for (const char* name : {"a", "b", "c", "d"}) pool.declare(name, fake_source(kMiB, static_cast<uint8_t>(name[0])));
  // A request on `a` is in flight on another thread (its lease held) while `b` and then `c` load.
  std::promise<void> holding, finish;
  std::thread request([&] {
    const ModelLease lease = pool.acquire("a");
    holding.set_value();
    finish.get_future().wait();
    EXPECT_TRUE(lease.get<FakeModel>().intact());  // still there: nothing freed it under the request
  });
  holding.get_future().wait();
  use(pool, "b");
  use(pool, "c");  // `a` is the least recently used, but in flight: `b` goes
  EXPECT_EQ(loaded(pool), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(status_of(pool, "a").in_flight, 1);
  EXPECT_EQ(status_of(pool, "a").evictions, 0);
  // With `c` leased too, nothing idle is left to unload for `d`: busy, naming who holds what.
  {
    const ModelLease c = pool.acquire("c");
    try {
      (void)pool.acquire("d");
      ADD_FAILURE() << "d loaded past the limit";
    } catch (const ModelDoesNotFit& e) {
      EXPECT_TRUE(e.busy());
      const std::string m = e.what();
      EXPECT_NE(m.find("`d` needs at least 1.0 MiB on cpu"), std::string::npos) << m;
      EXPECT_NE(m.find("the memory limit there is 2.5 MiB"), std::string::npos) << m;
      EXPECT_NE(m.find("`a` (1.0 MiB, 1 in flight)"), std::string::npos) << m;
      EXPECT_NE(m.find("`c` (1.0 MiB, 1 in flight)"), std::string::npos) << m;
    }
  }
  finish.set_value();
  request.join();
  // Both leases returned, c's first (a lease's end is its model's last use): `d` unloads `c`.
  use(pool, "d");
  EXPECT_EQ(loaded(pool), (std::vector<std::string>{"a", "d"}));
}

TEST(ModelPool, ALoadWhileARequestHoldsTheOnlyOtherModelWaitsForNothingAndSaysBusy) {
  // The limit fits one model: while `a` answers a request on another thread, `b` cannot load
  // (503-style busy), and once that request ends `b` loads and `a` goes.
  ModelPool pool(limited(kMiB + kMiB / 2));
  pool.declare("a", fake_source(kMiB, 'a'));
  pool.declare("b", fake_source(kMiB, 'b'));
  std::promise<void> holding, finish;
  std::thread request([&] {
    const ModelLease lease = pool.acquire("a");
    holding.set_value();
    finish.get_future().wait();
  });
  holding.get_future().wait();
  EXPECT_THROW(
      {
        try {
          (void)pool.acquire("b");
        } catch (const ModelDoesNotFit& e) {
          EXPECT_TRUE(e.busy());
          throw;
        }
      },
      ModelDoesNotFit);
  EXPECT_EQ(loaded(pool), std::vector<std::string>{"a"});
  finish.set_value();
  request.join();
  use(pool, "b");
  EXPECT_EQ(loaded(pool), std::vector<std::string>{"b"});
}

TEST(ModelPool, AnUnloadedModelsMemoryIsFreedMeasuredByItsAccountAndTheProcess) {
  ModelPool pool;  // no limit: the unload is asked for
  const int64_t bytes = 96 * kMiB;
  pool.declare("big", fake_source(bytes, 7));
  const int64_t before = resident_bytes();
  {
    const ModelLease lease = pool.acquire("big");
    const PooledModelStatus s = status_of(pool, "big");
    EXPECT_TRUE(s.loaded);
    EXPECT_EQ(s.weights_bytes, bytes);  // measured: the storage the load left live
    EXPECT_EQ(s.live_bytes, bytes);
    EXPECT_GE(resident_bytes() - before, bytes * 9 / 10);
    EXPECT_FALSE(pool.unload("big"));  // leased
  }
  const int64_t loaded_rss = resident_bytes();
  ASSERT_TRUE(pool.unload("big"));
  const PooledModelStatus s = status_of(pool, "big");
  EXPECT_FALSE(s.loaded);
  EXPECT_EQ(s.weights_bytes, 0);
  EXPECT_EQ(s.live_bytes, 0);  // every storage of it is gone
  EXPECT_GE(loaded_rss - resident_bytes(), bytes * 9 / 10) << "the process did not give the memory back";
}

TEST(ModelPool, MeasuresARealModelsWeightsAndFreesThemOnUnload) {
  // The bert fixture through its endpoint: mapped safetensors and converted tensors alike are
  // charged to the model's account while it is loaded, and refunded when it is unloaded.
  const std::string dir = std::string(IA_FIXTURES_DIR) + "/models/bert";
  ModelPool pool;
  ModelSource s;
  s.plan = [] { return ModelLoadPlan{Device::cpu(), 0, 0}; };
  s.load = [dir](const ModelLoadPlan&, std::optional<int64_t>) {
    return LoadedModel{EmbeddingEndpoint::load(dir, Device::cpu(), DType::BF16), 0};
  };
  pool.declare("bert", s);
  {
    const ModelLease lease = pool.acquire("bert");
    const EmbeddingResult r = lease.get<EmbeddingEndpoint>().embed({"hello world"}, EmbeddingOptions{});
    EXPECT_EQ(r.embeddings.size(0), 1);
  }
  const PooledModelStatus loaded_status = status_of(pool, "bert");
  EXPECT_GT(loaded_status.weights_bytes, 100 * 1024) << "the fixture's weights are a few hundred KiB";
  EXPECT_GE(loaded_status.live_bytes, loaded_status.weights_bytes);
  ASSERT_TRUE(pool.unload("bert"));
  EXPECT_EQ(status_of(pool, "bert").live_bytes, 0);
}

// On a GPU the memory goes back to the driver: the account's device bytes drop to 0 and
// cudaMemGetInfo's free memory returns to what it was before the load (the allocator's cache is
// released at the unload), for a 256 MiB block and for the bert fixture's weights.
TEST(ModelPool, OnAGpuAnUnloadedModelsDeviceMemoryGoesBackToTheDriver) {
  const Device gpu = Device::cuda(0);
  if (!has_backend(gpu)) GTEST_SKIP() << "no usable GPU here";
  Backend& backend = backend_for(gpu);
  const std::string dir = std::string(IA_FIXTURES_DIR) + "/models/bert";
  const int64_t big = 256 * kMiB;
  ModelPool pool;
  ModelSource block;
  block.plan = [gpu, big] { return ModelLoadPlan{gpu, big, big}; };
  block.load = [&backend, big](const ModelLoadPlan&, std::optional<int64_t>) {
    return LoadedModel{backend.allocate(static_cast<size_t>(big)), 0};
  };
  ModelSource bert;
  bert.plan = [gpu] { return ModelLoadPlan{gpu, 0, 0}; };
  bert.load = [dir, gpu](const ModelLoadPlan&, std::optional<int64_t>) {
    return LoadedModel{EmbeddingEndpoint::load(dir, gpu, DType::F32), 0};
  };
  pool.declare("block", block);
  pool.declare("bert", bert);
  auto driver_free = [&backend] {
    backend.synchronize();
    return backend.memory_info()->free_bytes;  // with nothing cached, the driver's free memory
  };
  // A first round: the backend's one-time allocations (its workspace, the context) come now.
  { (void)pool.acquire("bert").get<EmbeddingEndpoint>().embed({"warm up"}, EmbeddingOptions{}); }
  ASSERT_TRUE(pool.unload("bert"));
  for (const char* name : {"block", "bert"}) {
    const int64_t before = driver_free();
    {
      const ModelLease lease = pool.acquire(name);
      if (std::string(name) == "bert") (void)lease.get<EmbeddingEndpoint>().embed({"hello"}, EmbeddingOptions{});
      const PooledModelStatus s = status_of(pool, name);
      EXPECT_EQ(s.device, "cuda:0");
      EXPECT_GT(s.weights_bytes, 0) << name;
      if (std::string(name) == "block") {
        EXPECT_EQ(s.weights_bytes, big);
      }
      EXPECT_LT(driver_free(), before - s.weights_bytes / 2) << name;
    }
    ASSERT_TRUE(pool.unload(name));
    EXPECT_EQ(status_of(pool, name).live_bytes, 0) << name;
    EXPECT_NEAR(static_cast<double>(driver_free()), static_cast<double>(before), 4.0 * kMiB) << name;
  }
}

TEST(ModelPool, RefusesAModelLargerThanTheLimitNamingTheSizes) {
  ModelPool pool(limited(kMiB));
  pool.declare("small", fake_source(kMiB / 2, 's'));
  pool.declare("huge", fake_source(3 * kMiB, 'h'));
  use(pool, "small");
  try {
    (void)pool.acquire("huge");
    FAIL() << "a model larger than the limit loaded";
  } catch (const ModelDoesNotFit& e) {
    EXPECT_FALSE(e.busy());
    EXPECT_EQ(e.kind(), ErrorKind::Unavailable);
    const std::string m = e.what();
    EXPECT_NE(m.find("`huge` needs at least 3.0 MiB on cpu"), std::string::npos) << m;
    EXPECT_NE(m.find("--max-memory 1.0 MiB"), std::string::npos) << m;
  }
  EXPECT_EQ(loaded(pool), std::vector<std::string>{"small"});  // nothing was unloaded for it
}

TEST(ModelPool, UnloadsAModelWhoseEstimateWasShortAndSaysWhatItTook) {
  // The plan says 1 MiB, the load takes 3: past the 2 MiB limit once measured, so it goes again.
  ModelPool pool(limited(2 * kMiB));
  ModelSource s = fake_source(3 * kMiB, 'x');
  s.plan = [] { return ModelLoadPlan{Device::cpu(), kMiB, kMiB}; };
  pool.declare("liar", s);
  try {
    (void)pool.acquire("liar");
    FAIL() << "loaded past the limit";
  } catch (const ModelDoesNotFit& e) {
    EXPECT_NE(std::string(e.what()).find("took 3.0 MiB on cpu once loaded"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(loaded(pool).empty());
  EXPECT_EQ(status_of(pool, "liar").live_bytes, 0);
  // Its measured size is remembered: the next try is refused before loading.
  EXPECT_THROW((void)pool.acquire("liar"), ModelDoesNotFit);
}

TEST(ModelPool, UnloadsModelsIdleLongerThanTheTimeoutButNotOnesInFlight) {
  ModelPoolOptions o;
  o.idle_timeout = std::chrono::milliseconds(150);
  ModelPool pool(o);
  pool.declare("idle", fake_source(kMiB, 'i'));
  pool.declare("busy", fake_source(kMiB, 'b'));
  use(pool, "idle");
  const ModelLease busy = pool.acquire("busy");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (status_of(pool, "idle").loaded && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(status_of(pool, "idle").loaded);
  EXPECT_EQ(status_of(pool, "idle").live_bytes, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_TRUE(status_of(pool, "busy").loaded);
  EXPECT_TRUE(busy.get<FakeModel>().intact());
  use(pool, "idle");  // the next request loads it again
  EXPECT_EQ(status_of(pool, "idle").loads, 2);
}

TEST(ModelPool, OneModelAtATimeUnloadsTheIdleOneAndRefusesWhileItIsBusy) {
  ModelPoolOptions o;
  o.max_resident = 1;
  ModelPool pool(o);
  pool.declare("a", fake_source(kMiB, 'a'));
  pool.declare("b", fake_source(kMiB, 'b'));
  use(pool, "a");
  use(pool, "b");
  EXPECT_EQ(loaded(pool), std::vector<std::string>{"b"});
  const ModelLease b = pool.acquire("b");
  try {
    (void)pool.acquire("a");
    FAIL() << "two models loaded at once";
  } catch (const ModelDoesNotFit& e) {
    EXPECT_TRUE(e.busy());
    EXPECT_NE(std::string(e.what()).find("`b` (1 in flight)"), std::string::npos) << e.what();
  }
}

TEST(ModelPool, ConcurrentRequestsForAnUnloadedModelShareOneLoad) {
  ModelPool pool;
  Loads loads;
  pool.declare("m", fake_source(kMiB, 'm', &loads, std::chrono::milliseconds(100)));
  std::vector<std::future<bool>> requests;
  for (int i = 0; i < 8; ++i)
    requests.push_back(std::async(std::launch::async, [&pool] {
      const ModelLease l = pool.acquire("m");
      return l.get<FakeModel>().intact();
    }));
  for (auto& r : requests) EXPECT_TRUE(r.get());
  EXPECT_EQ(loads.count.load(), 1);
}

TEST(ModelPool, AFailedLoadLeavesTheModelUnloadedAndTheNextRequestTriesAgain) {
  ModelPool pool;
  auto fail_first = std::make_shared<std::atomic<bool>>(true);
  ModelSource s = fake_source(kMiB, 'f');
  auto load = s.load;
  s.load = [load, fail_first](const ModelLoadPlan& p, std::optional<int64_t> room) {
    if (fail_first->exchange(false)) fail(ErrorKind::NotFound, "the folder went away");
    return load(p, room);
  };
  pool.declare("flaky", s);
  EXPECT_THROW((void)pool.acquire("flaky"), Error);
  EXPECT_FALSE(status_of(pool, "flaky").loaded);
  use(pool, "flaky");
  EXPECT_THROW((void)pool.acquire("nobody"), Error);
  EXPECT_THROW(pool.declare("flaky", s), Error);
}

TEST(ModelPool, PeekDoesNotCountAsAUse) {
  ModelPool pool(limited(kMiB + kMiB / 2));
  pool.declare("a", fake_source(kMiB / 2, 'a'));
  pool.declare("b", fake_source(kMiB / 2, 'b'));
  pool.declare("c", fake_source(kMiB / 2, 'c'));
  use(pool, "a");
  use(pool, "b");
  EXPECT_TRUE(pool.peek("a"));   // a stays the least recently used
  EXPECT_FALSE(pool.peek("c"));  // and c is not loaded by a peek
  use(pool, "c");
  use(pool, "c");
  pool.declare("d", fake_source(kMiB / 2, 'd'));
  use(pool, "d");
  EXPECT_EQ(loaded(pool), (std::vector<std::string>{"b", "c", "d"}));
}

TEST(ModelPool, StatusJsonHasTheDevicesAndModels) {
  ModelPool pool(limited(4 * kMiB));
  pool.declare("a", fake_source(kMiB, 'a'));
  pool.declare("b", fake_source(kMiB, 'b'));
  use(pool, "a");
  const nlohmann::json j = pool.status_json();
  ASSERT_EQ(j["devices"].size(), 1u);
  EXPECT_EQ(j["devices"][0]["device"], "cpu");
  EXPECT_EQ(j["devices"][0]["limit_bytes"], 4 * kMiB);
  EXPECT_EQ(j["devices"][0]["used_bytes"], kMiB);
  EXPECT_EQ(j["models"][0]["name"], "a");
  EXPECT_EQ(j["models"][0]["loaded"], true);
  EXPECT_EQ(j["models"][0]["bytes"], kMiB);
  EXPECT_TRUE(j["models"][0]["last_used"].is_number_integer());
  EXPECT_EQ(j["models"][1]["loaded"], false);
  EXPECT_TRUE(j["models"][1]["device"].is_null());
}

TEST(MemoryAccount, ChargesStoragesMadeInItsScopeAndRefundsThemWhereverTheyAreFreed) {
  auto account = std::make_shared<MemoryAccount>();
  Tensor kept;
  {
    ChargeMemoryTo charge(account);
    kept = Tensor::empty({1000}, DType::F32);
    { Tensor temporary = Tensor::empty({250}, DType::F32); }
  }
  Tensor outside = Tensor::empty({100}, DType::F32);  // no account
  EXPECT_EQ(account->host_bytes(), 4000);
  EXPECT_EQ(account->peak_on(Device::cpu()), 5000);
  std::thread([t = std::move(kept)]() mutable { t = Tensor(); }).join();
  EXPECT_EQ(account->host_bytes(), 0);
  EXPECT_EQ(account->device_bytes(), 0);
}

TEST(MemoryLimits, ParsesSizesAndDevicesStrictly) {
  EXPECT_EQ(parse_byte_size("1048576"), kMiB);
  EXPECT_EQ(parse_byte_size("512MiB"), 512 * kMiB);
  EXPECT_EQ(parse_byte_size("1.5GiB"), 1536 * kMiB);
  EXPECT_EQ(parse_byte_size("8GB"), 8'000'000'000);
  EXPECT_EQ(parse_byte_size("8 gib"), 8 * 1024 * kMiB);
  EXPECT_EQ(parse_byte_size("2k"), 2048);
  for (const char* bad : {"", "GiB", "-1", "0", "0.1", "1.2.3", "8XB", "1e3", ".5G", "5.G", "8 GiB extra", "99999999T"})
    EXPECT_THROW(parse_byte_size(bad), Error) << bad;

  const MemoryLimits every = parse_memory_limits("8GiB");
  EXPECT_EQ(every.for_device(Device::cpu()), 8 * 1024 * kMiB);
  EXPECT_EQ(every.for_device(Device::cuda(3)), 8 * 1024 * kMiB);
  const MemoryLimits named = parse_memory_limits("cpu=8GiB, cuda:0=60GiB");
  EXPECT_EQ(named.for_device(Device::cpu()), 8 * 1024 * kMiB);
  EXPECT_EQ(named.for_device(Device::cuda(0)), 60 * 1024 * kMiB);
  EXPECT_FALSE(named.for_device(Device::cuda(1)).has_value());
  const MemoryLimits mixed = parse_memory_limits("1GiB,cuda=2GiB,cuda:1=3GiB");
  EXPECT_EQ(mixed.for_device(Device::cpu()), 1024 * kMiB);
  EXPECT_EQ(mixed.for_device(Device::cuda(0)), 2048 * kMiB);
  EXPECT_EQ(mixed.for_device(Device::cuda(1)), 3072 * kMiB);
  for (const char* bad : {"", " ", "gpu=1GiB", "cpu=1GiB,cpu=2GiB", "cpu=", "=1GiB", "cpu=1GiB,,cuda:0=1GiB",
                          "cuda:x=1GiB", "cuda:-1=1GiB", "1GiB,2GiB", "cuda=1G,cuda=2G", "cpu=1GiB,"})
    EXPECT_THROW(parse_memory_limits(bad), Error) << bad;
  try {
    parse_memory_limits("cpu=8GiB,tpu=1GiB");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("`tpu` is not a device"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ia
