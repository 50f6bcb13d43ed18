#pragma once
// The resource pool: the models a process may serve, by name, each loaded on one device or not
// loaded. It knows per device what every loaded model holds in memory, measured (each load runs
// under a memory account of its own, core/memory_account.h, and so do the threads that run the
// model's requests): weights, KV cache, and the workspace its requests needed beyond those.
// A request holds a lease on the model it uses (acquire) for as long as it runs, streams
// included; a model with a lease out is never unloaded.
//
// A model is loaded by the first request that names it when it is not loaded. A load that
// would pass its device's limit (--max-memory) first unloads idle models of that device, least
// recently used first, as few as it takes; a model idle longer than the idle timeout is unloaded
// on its own. When even unloading every idle model would not make room, acquire throws
// ModelDoesNotFit naming the sizes: `busy` when requests in flight hold the memory (try again),
// not busy when the model is larger than the limit itself. With max_resident 1 (serve
// --low-memory) one model is loaded at a time.
//
// The pool holds models as shared_ptr<void> so that it serves any kind of loaded thing (the
// server's ServedModel); ModelLease::get<T>() gives it back typed.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/device.h"
#include "core/error.h"

namespace ia {

// "1048576", "512MiB", "1.5GiB", "8GB": bytes, with an optional unit (B; K, KiB, M, MiB, G, GiB,
// T, TiB are powers of 1024; KB, MB, GB, TB powers of 1000; case-insensitive). InvalidArgument
// naming `text` for anything else, zero, or a size past 2^62.
int64_t parse_byte_size(const std::string& text);
// "1.50 GiB", "12.0 MiB", "640 B".
std::string format_bytes(int64_t bytes);

// --max-memory: one size for every device ("8GiB"), sizes per device ("cpu=8GiB,cuda:0=60GiB";
// "cuda" names every GPU not named on its own), or both (a bare size is the default for devices
// not named). InvalidArgument naming the part at fault: an unknown device, a bad size, a device
// named twice, an empty part.
struct MemoryLimits {
  std::optional<int64_t> every;          // a bare size
  std::optional<int64_t> every_gpu;      // "cuda=SIZE"
  std::map<std::string, int64_t> named;  // "cpu", "cuda:N"
  bool empty() const { return !every && !every_gpu && named.empty(); }
  std::optional<int64_t> for_device(Device device) const;
};
MemoryLimits parse_memory_limits(const std::string& text);

struct ModelPoolOptions {
  MemoryLimits limits;
  // A model unused this long is unloaded (loaded again by the next request that names it);
  // 0: never for idleness.
  std::chrono::milliseconds idle_timeout{0};
  size_t max_resident = 0;  // models loaded at once, every device together; 0: no bound
};

// What the pool knows of a model before it loads it: where it goes and what it will take there
// (estimates: the weights from the checkpoint's headers, the KV cache from its layout).
struct ModelLoadPlan {
  Device device;
  int64_t min_bytes = 0;     // the least it loads in: weights and the smallest KV cache it accepts
  int64_t wanted_bytes = 0;  // weights and the KV cache it is configured for
};

struct LoadedModel {
  std::shared_ptr<void> model;
  int64_t kv_cache_bytes = 0;  // of what the load left live on the device, the KV cache's
};

// How a model is loaded, again after each unload. `load` runs under the model's memory account
// and is given the bytes the limit leaves it on plan.device (nullopt: no limit), within which it
// sizes its KV cache.
struct ModelSource {
  std::function<ModelLoadPlan()> plan;
  std::function<LoadedModel(const ModelLoadPlan& plan, std::optional<int64_t> room)> load;
};

// A model's load refused for room: the message names the model's size, the limit and what is
// in use. `busy`: requests in flight hold the memory (try again); otherwise the model does not
// fit the limit at all.
class ModelDoesNotFit : public Error {
 public:
  ModelDoesNotFit(bool busy, const std::string& message) : Error(ErrorKind::Unavailable, message), busy_(busy) {}
  bool busy() const { return busy_; }

 private:
  bool busy_;
};

// A request's hold on a loaded model: copies share it, and the model may be unloaded once the
// last copy is gone.
class ModelLease {
 public:
  ModelLease() = default;
  template <typename T>
  T& get() const {
    return *static_cast<T*>(model_);
  }
  explicit operator bool() const { return held_ != nullptr; }

 private:
  friend class ModelPool;
  struct Held;
  std::shared_ptr<Held> held_;
  void* model_ = nullptr;  // what held_ keeps alive
};

// A model's line of status(): sizes of the loaded instance (0 when not loaded).
struct PooledModelStatus {
  std::string name;
  std::string device;  // where it is or was last loaded ("" before its first load)
  bool loaded = false, loading = false;
  int64_t weights_bytes = 0, kv_cache_bytes = 0, workspace_bytes = 0;
  int64_t total_bytes() const { return weights_bytes + kv_cache_bytes + workspace_bytes; }
  // What its memory account holds on its device now: the live bytes while loaded; after an
  // unload, what was not freed (0 once every storage of it is gone).
  int64_t live_bytes = 0;
  int64_t host_bytes = 0;  // a GPU model's bytes in host memory (0 for a CPU model: all of it is its device's)
  int in_flight = 0;       // leases out
  std::optional<int64_t> last_used;  // seconds since the epoch, of its last lease's end (or its load)
  int64_t loads = 0, evictions = 0;
};

class ModelPool {
 public:
  explicit ModelPool(ModelPoolOptions options = {});
  ~ModelPool();
  ModelPool(const ModelPool&) = delete;
  ModelPool& operator=(const ModelPool&) = delete;

  // InvalidArgument when `name` is declared already.
  void declare(const std::string& name, ModelSource source);
  bool declared(const std::string& name) const;
  // The model, loaded first if it is not (which may unload idle ones); a lease for the caller.
  // NotFound for a name not declared; ModelDoesNotFit as above; a failed load's own error.
  // A caller that asks for a model another is loading waits for that load.
  ModelLease acquire(const std::string& name);
  // A lease on the model if it is loaded now (empty otherwise, nothing is loaded), which does not
  // count as a use: its last-used time stays (metrics, shutdown).
  ModelLease peek(const std::string& name);
  // Unloads the model if it is loaded and idle; false otherwise.
  bool unload(const std::string& name);
  // Unloads every model idle for at least `idle` (what the idle timeout does); returns how many.
  size_t unload_idle(std::chrono::milliseconds idle);

  std::vector<PooledModelStatus> status() const;
  // {"devices": [{"device", "limit_bytes" (null: none), "used_bytes", "models"}], "models": [...],
  //  "idle_timeout_s", "max_resident"}: GET /v1/pool.
  nlohmann::json status_json() const;
  const ModelPoolOptions& options() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace ia
