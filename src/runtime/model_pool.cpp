#include "runtime/model_pool.h"

#include <malloc.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "backends/backend.h"
#include "core/logging.h"
#include "core/memory_account.h"

namespace ia {

namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// "cpu", "cuda" (every GPU), "cuda:N"; nullopt for anything else.
std::optional<std::string> device_key(const std::string& s) {
  if (s == "cpu" || s == "cuda") return s;
  const std::string prefix = "cuda:";
  if (s.size() <= prefix.size() || s.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  int index = -1;
  const char* first = s.data() + prefix.size();
  const char* last = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(first, last, index);
  if (ec != std::errc() || ptr != last || index < 0) return std::nullopt;
  return "cuda:" + std::to_string(index);
}

int64_t wall_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

int64_t parse_byte_size(const std::string& text) {
  const std::string t = trim(text);
  size_t i = 0;
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
  const std::string number = t.substr(0, i);
  const std::string unit = lower(trim(t.substr(i)));
  static const std::map<std::string, double> kUnits{{"", 1},
                                                    {"b", 1},
                                                    {"k", 1024.0},
                                                    {"kib", 1024.0},
                                                    {"kb", 1e3},
                                                    {"m", 1048576.0},
                                                    {"mib", 1048576.0},
                                                    {"mb", 1e6},
                                                    {"g", 1073741824.0},
                                                    {"gib", 1073741824.0},
                                                    {"gb", 1e9},
                                                    {"t", 1099511627776.0},
                                                    {"tib", 1099511627776.0},
                                                    {"tb", 1e12}};
  auto u = kUnits.find(unit);
  double value = 0;
  const bool digits = !number.empty() && number.find_first_of("0123456789") != std::string::npos &&
                      std::count(number.begin(), number.end(), '.') <= 1 && number.front() != '.' &&
                      number.back() != '.';
  if (digits) {
    auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || ptr != number.data() + number.size()) value = 0;
  }
  if (u == kUnits.end() || !digits)
    fail(ErrorKind::InvalidArgument,
         "`{}` is not a size: give bytes with an optional unit (B, KiB, MiB, GiB, TiB, or KB, MB, GB, TB), "
         "e.g. 8GiB",
         text);
  const double bytes = std::floor(value * u->second);
  if (!(bytes >= 1) || bytes > 4.6e18)
    fail(ErrorKind::InvalidArgument, "`{}` is not a usable size: it must be at least 1 byte and below 4 EiB", text);
  return static_cast<int64_t>(bytes);
}

std::string format_bytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes >= (int64_t{1} << 30)) return fmt::format("{:.2f} GiB", b / (1 << 30));
  if (bytes >= (int64_t{1} << 20)) return fmt::format("{:.1f} MiB", b / (1 << 20));
  if (bytes >= (int64_t{1} << 10)) return fmt::format("{:.1f} KiB", b / (1 << 10));
  return fmt::format("{} B", bytes);
}

std::optional<int64_t> MemoryLimits::for_device(Device device) const {
  if (auto it = named.find(device.str()); it != named.end()) return it->second;
  if (!device.is_cpu() && every_gpu) return every_gpu;
  return every;
}

namespace {

// A size of --max-memory `text`, its errors naming the flag.
int64_t size_in(const std::string& text, const std::string& size) {
  try {
    return parse_byte_size(size);
  } catch (const Error& e) {
    fail(e.kind(), "--max-memory `{}`: {}", text, e.what());
  }
}

}  // namespace

MemoryLimits parse_memory_limits(const std::string& text) {
  MemoryLimits out;
  if (trim(text).empty()) fail(ErrorKind::InvalidArgument, "--max-memory is empty: give a size (8GiB) or DEVICE=SIZE");
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    const std::string part = trim(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (part.empty()) fail(ErrorKind::InvalidArgument, "--max-memory `{}` has an empty part between commas", text);
    const size_t eq = part.find('=');
    if (eq == std::string::npos) {
      if (out.every)
        fail(ErrorKind::InvalidArgument, "--max-memory `{}` gives more than one size for every device", text);
      out.every = size_in(text, part);
    } else {
      const std::string name = lower(trim(part.substr(0, eq)));
      const std::optional<std::string> key = device_key(name);
      if (!key)
        fail(ErrorKind::InvalidArgument, "--max-memory `{}`: `{}` is not a device (cpu, cuda or cuda:N)", text,
             trim(part.substr(0, eq)));
      const int64_t size = size_in(text, part.substr(eq + 1));
      if (*key == "cuda") {
        if (out.every_gpu) fail(ErrorKind::InvalidArgument, "--max-memory `{}` names cuda twice", text);
        out.every_gpu = size;
      } else if (!out.named.emplace(*key, size).second) {
        fail(ErrorKind::InvalidArgument, "--max-memory `{}` names {} twice", text, *key);
      }
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

struct ModelLease::Held {
  std::shared_ptr<void> model;
  std::function<void()> on_release;
  ~Held() {
    model.reset();  // before the count drops: an unload that sees 0 holds the last reference
    on_release();
  }
};

namespace {

struct Entry {
  std::string name;
  ModelSource source;
  std::shared_ptr<void> model;  // null: not loaded
  bool loading = false;
  Device device;
  bool placed = false;                     // device is known (loaded at least once)
  std::shared_ptr<MemoryAccount> account;  // of the current (or last) load
  int64_t weights = 0, kv_cache = 0;       // measured at load, on `device`
  int in_flight = 0;
  Clock::time_point last_used{};
  int64_t last_used_wall = 0;
  int64_t loads = 0, evictions = 0;
  // The last instance's weights, kept across an unload: the next load's estimate starts from them.
  int64_t last_weights = 0;

  int64_t resident() const { return weights + kv_cache; }
  // What its requests needed beyond the weights and KV cache, measured (the account's peak since load).
  int64_t workspace() const {
    if (!model || !account) return 0;
    return std::max<int64_t>(0, account->peak_on(device) - resident());
  }
  int64_t footprint() const { return model ? resident() + workspace() : 0; }
};

// What was unloaded, freed outside the pool's lock.
struct Unloaded {
  Device device;
  std::shared_ptr<void> model;
};

void free_unloaded(std::vector<Unloaded>& unloaded) {
  if (unloaded.empty()) return;
  std::vector<Device> devices;
  for (auto& u : unloaded) {
    u.model.reset();  // the last reference: the model's storages go back now
    if (std::find(devices.begin(), devices.end(), u.device) == devices.end()) devices.push_back(u.device);
  }
  unloaded.clear();
  // Cached blocks go back too, so the memory is the device's (or the system's) again, not ours.
  for (const Device& d : devices) {
    try {
      backend_for(d).release_cached_memory();
    } catch (const Error& e) {
      spdlog::warn("model pool: could not release cached memory of {}: {}", d.str(), e.what());
    }
    if (d.is_cpu()) malloc_trim(0);
  }
}

}  // namespace

struct ModelPool::State {
  explicit State(ModelPoolOptions o) : options(std::move(o)) {}
  ModelPoolOptions options;
  mutable std::mutex mu;
  std::condition_variable loaded_cv;            // a load finished (or failed)
  std::mutex load_mu;                           // one load at a time: room is decided with nothing else loading
  std::vector<std::unique_ptr<Entry>> entries;  // in declaration order

  std::thread reaper;
  std::condition_variable reaper_cv;
  bool stopping = false;

  Entry* find(const std::string& name) const {
    for (const auto& e : entries)
      if (e->name == name) return e.get();
    return nullptr;
  }

  // Takes a loaded, idle model out (under mu).
  Unloaded take(Entry& e) {
    Unloaded u{e.device, std::move(e.model)};
    e.model.reset();
    e.last_weights = e.weights;
    e.weights = e.kv_cache = 0;
    ++e.evictions;
    return u;
  }

  // Loaded models with no lease out, least recently used first (under mu); `device`: on it only.
  std::vector<Entry*> idle(const Entry* except, const std::optional<Device>& device) const {
    std::vector<Entry*> out;
    for (const auto& e : entries)
      if (e.get() != except && e->model && e->in_flight == 0 && (!device || e->device == *device))
        out.push_back(e.get());
    std::stable_sort(out.begin(), out.end(),
                     [](const Entry* a, const Entry* b) { return a->last_used < b->last_used; });
    return out;
  }

  int64_t used_on(Device device, const Entry* except) const {
    int64_t used = 0;
    for (const auto& e : entries)
      if (e.get() != except && e->model && e->device == device) used += e->footprint();
    return used;
  }

  std::string busy_list(Device device, const Entry* except) const {
    std::string out;
    for (const auto& e : entries)
      if (e.get() != except && e->model && e->device == device && e->in_flight > 0)
        out += fmt::format("{}`{}` ({}, {} in flight)", out.empty() ? "" : ", ", e->name, format_bytes(e->footprint()),
                           e->in_flight);
    return out;
  }

  // Chooses the models to unload so that `e` fits (under mu): throws ModelDoesNotFit when it
  // cannot. Returns the room the limit leaves it (nullopt: no limit) and takes the victims out.
  std::optional<int64_t> make_room(Entry& e, const ModelLoadPlan& plan, std::vector<Unloaded>& unloaded) {
    const Device device = plan.device;
    int64_t need = plan.min_bytes;
    if (e.placed && e.device == device) need = std::max(need, e.last_weights);
    std::vector<Entry*> victims;
    const std::optional<int64_t> limit = options.limits.for_device(device);
    std::optional<int64_t> room;
    if (limit) {
      if (need > *limit)
        throw ModelDoesNotFit(false, fmt::format("model `{}` needs at least {} on {}, more than the memory limit "
                                                 "there (--max-memory {})",
                                                 e.name, format_bytes(need), device.str(), format_bytes(*limit)));
      const int64_t used = used_on(device, &e);
      int64_t freed = 0;
      const std::vector<Entry*> idle_here = idle(&e, device);
      int64_t idle_bytes = 0;
      for (const Entry* v : idle_here) idle_bytes += v->footprint();
      if (used - idle_bytes + need > *limit)
        throw ModelDoesNotFit(
            true, fmt::format("model `{}` needs at least {} on {}; the memory limit there is {} (--max-memory) and {} "
                              "of it is held by models answering requests: {}; try again when they finish",
                              e.name, format_bytes(need), device.str(), format_bytes(*limit),
                              format_bytes(used - idle_bytes), busy_list(device, &e)));
      for (Entry* v : idle_here) {
        if (used - freed + need <= *limit) break;
        freed += v->footprint();
        victims.push_back(v);
      }
      room = *limit - (used - freed);
    }
    if (options.max_resident > 0) {
      size_t resident = 0;
      for (const auto& other : entries)
        if (other.get() != &e && other->model) ++resident;
      resident -= victims.size();
      for (Entry* v : idle(&e, std::nullopt)) {
        if (resident < options.max_resident) break;
        if (std::find(victims.begin(), victims.end(), v) != victims.end()) continue;
        victims.push_back(v);
        --resident;
      }
      if (resident >= options.max_resident) {
        std::string busy;
        for (const auto& other : entries)
          if (other.get() != &e && other->model && other->in_flight > 0)
            busy += fmt::format("{}`{}` ({} in flight)", busy.empty() ? "" : ", ", other->name, other->in_flight);
        throw ModelDoesNotFit(true,
                              fmt::format("model `{}` cannot be loaded: {} model{} may be loaded at a time "
                                          "(--low-memory) and {} answering requests; try again when they finish",
                                          e.name, options.max_resident, options.max_resident == 1 ? "" : "s", busy));
      }
    }
    for (Entry* v : victims) {
      spdlog::info("model pool: unloading `{}` ({} on {}, idle {:.1f} s) to load `{}`", v->name,
                   format_bytes(v->footprint()), v->device.str(),
                   std::chrono::duration<double>(Clock::now() - v->last_used).count(), e.name);
      unloaded.push_back(take(*v));
    }
    return room;
  }

  void release(Entry& e, bool use) {
    std::lock_guard lock(mu);
    --e.in_flight;
    if (use) touch(e);
  }

  static void touch(Entry& e) {
    e.last_used = Clock::now();
    e.last_used_wall = wall_seconds();
  }

  // `use`: the lease counts as a use of the model (its start and end are its last use).
  ModelLease lease(const std::shared_ptr<State>& self, Entry& e, bool use = true) {  // under mu
    ++e.in_flight;
    if (use) touch(e);
    ModelLease l;
    auto held = std::make_shared<ModelLease::Held>();
    held->model = e.model;
    held->on_release = [self, entry = &e, use] { self->release(*entry, use); };
    l.model_ = held->model.get();
    l.held_ = std::move(held);
    return l;
  }

  size_t unload_idle(std::chrono::milliseconds idle_for) {
    std::vector<Unloaded> unloaded;
    {
      std::lock_guard lock(mu);
      const auto now = Clock::now();
      for (Entry* e : idle(nullptr, std::nullopt))
        if (!e->loading && now - e->last_used >= idle_for) {
          spdlog::info("model pool: unloading `{}` ({} on {}): idle for {:.1f} s", e->name,
                       format_bytes(e->footprint()), e->device.str(),
                       std::chrono::duration<double>(now - e->last_used).count());
          unloaded.push_back(take(*e));
        }
    }
    const size_t n = unloaded.size();
    free_unloaded(unloaded);
    return n;
  }
};

ModelPool::ModelPool(ModelPoolOptions options) : state_(std::make_shared<State>(std::move(options))) {
  const auto timeout = state_->options.idle_timeout;
  if (timeout.count() > 0) {
    State* s = state_.get();
    s->reaper = std::thread([s, timeout] {
      const auto tick = std::min<std::chrono::milliseconds>(timeout / 4 + std::chrono::milliseconds(1),
                                                            std::chrono::milliseconds(1000));
      std::unique_lock lock(s->mu);
      while (!s->stopping) {
        s->reaper_cv.wait_for(lock, tick);
        if (s->stopping) break;
        lock.unlock();
        s->unload_idle(timeout);
        lock.lock();
      }
    });
  }
}

ModelPool::~ModelPool() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->reaper_cv.notify_all();
  if (state_->reaper.joinable()) state_->reaper.join();
  std::vector<Unloaded> unloaded;
  {
    std::lock_guard lock(state_->mu);
    for (auto& e : state_->entries)
      if (e->model) unloaded.push_back({e->device, std::move(e->model)});
  }
  for (auto& u : unloaded) u.model.reset();  // leases still out keep theirs
}

void ModelPool::declare(const std::string& name, ModelSource source) {
  std::lock_guard lock(state_->mu);
  if (state_->find(name)) fail(ErrorKind::InvalidArgument, "two models are served as `{}`", name);
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->source = std::move(source);
  state_->entries.push_back(std::move(e));
}

bool ModelPool::declared(const std::string& name) const {
  std::lock_guard lock(state_->mu);
  return state_->find(name) != nullptr;
}

const ModelPoolOptions& ModelPool::options() const {
  return state_->options;
}

ModelLease ModelPool::acquire(const std::string& name) {
  State& s = *state_;
  std::unique_lock lock(s.mu);
  Entry* found = s.find(name);
  if (!found) fail(ErrorKind::NotFound, "no model `{}` in the pool", name);
  Entry& e = *found;
  for (;;) {
    if (e.model) return s.lease(state_, e);
    if (!e.loading) break;
    s.loaded_cv.wait(lock);  // another request loads it
  }
  e.loading = true;
  lock.unlock();
  struct DoneLoading {
    State& s;
    Entry& e;
    ~DoneLoading() {
      {
        std::lock_guard l(s.mu);
        e.loading = false;
      }
      s.loaded_cv.notify_all();
    }
  } done{s, e};
  std::lock_guard load_lock(s.load_mu);
  const ModelLoadPlan plan = e.source.plan();
  std::vector<Unloaded> unloaded;
  std::optional<int64_t> room;
  {
    std::lock_guard l(s.mu);
    room = s.make_room(e, plan, unloaded);
  }
  free_unloaded(unloaded);
  auto account = std::make_shared<MemoryAccount>();
  const auto t0 = Clock::now();
  LoadedModel loaded;
  {
    ChargeMemoryTo charge(account);
    loaded = e.source.load(plan, room);
  }
  IA_CHECK(loaded.model != nullptr, "model pool: the load of {} gave no model", name);
  account->reset_peaks();
  const int64_t resident = account->bytes_on(plan.device);
  std::optional<ModelDoesNotFit> refused;
  ModelLease out;
  {
    std::lock_guard l(s.mu);
    e.device = plan.device;
    e.placed = true;
    if (const std::optional<int64_t> limit = s.options.limits.for_device(plan.device)) {
      // The estimates were short: more idle models go, or this one does not stay.
      int64_t used = s.used_on(plan.device, &e);
      for (Entry* v : s.idle(&e, plan.device)) {
        if (used + resident <= *limit) break;
        used -= v->footprint();
        unloaded.push_back(s.take(*v));
      }
      if (used + resident > *limit) {
        const std::string busy = s.busy_list(plan.device, &e);
        refused.emplace(!busy.empty(),
                        fmt::format("model `{}` took {} on {} once loaded (estimated: {}); the memory limit there is "
                                    "{} (--max-memory){}",
                                    name, format_bytes(resident), plan.device.str(), format_bytes(plan.min_bytes),
                                    format_bytes(*limit),
                                    busy.empty() ? ""
                                                 : fmt::format(" and {} of it is held by models answering requests: {}",
                                                               format_bytes(used), busy)));
        e.last_weights = std::max(e.last_weights, resident - loaded.kv_cache_bytes);
        unloaded.push_back({plan.device, std::move(loaded.model)});
      }
    }
    if (!refused) {
      e.model = std::move(loaded.model);
      e.account = account;
      e.kv_cache = std::min(loaded.kv_cache_bytes, resident);
      e.weights = resident - e.kv_cache;
      ++e.loads;
      spdlog::info("model pool: loaded `{}` on {} in {:.2f} s: {} of weights, {} of KV cache{}", name,
                   plan.device.str(), std::chrono::duration<double>(Clock::now() - t0).count(), format_bytes(e.weights),
                   format_bytes(e.kv_cache), room ? fmt::format(" (the limit left it {})", format_bytes(*room)) : "");
      out = s.lease(state_, e);  // in the same hold of the lock: nothing unloads it in between
    }
  }
  free_unloaded(unloaded);
  if (refused) throw *refused;
  return out;
}

ModelLease ModelPool::peek(const std::string& name) {
  std::lock_guard lock(state_->mu);
  Entry* e = state_->find(name);
  if (!e || !e->model) return {};
  return state_->lease(state_, *e, /*use=*/false);
}

bool ModelPool::unload(const std::string& name) {
  std::vector<Unloaded> unloaded;
  {
    std::lock_guard lock(state_->mu);
    Entry* e = state_->find(name);
    if (!e || !e->model || e->in_flight > 0 || e->loading) return false;
    unloaded.push_back(state_->take(*e));
  }
  free_unloaded(unloaded);
  return true;
}

size_t ModelPool::unload_idle(std::chrono::milliseconds idle) {
  return state_->unload_idle(idle);
}

std::vector<PooledModelStatus> ModelPool::status() const {
  std::lock_guard lock(state_->mu);
  std::vector<PooledModelStatus> out;
  for (const auto& e : state_->entries) {
    PooledModelStatus st;
    st.name = e->name;
    st.device = e->placed ? e->device.str() : "";
    st.loaded = e->model != nullptr;
    st.loading = e->loading;
    if (st.loaded) {
      st.weights_bytes = e->weights;
      st.kv_cache_bytes = e->kv_cache;
      st.workspace_bytes = e->workspace();
    }
    if (e->account) {
      st.live_bytes = e->account->bytes_on(e->device);
      st.host_bytes = e->device.is_cpu() ? 0 : e->account->host_bytes();
    }
    st.in_flight = e->in_flight;
    if (e->last_used_wall) st.last_used = e->last_used_wall;
    st.loads = e->loads;
    st.evictions = e->evictions;
    out.push_back(std::move(st));
  }
  return out;
}

nlohmann::json ModelPool::status_json() const {
  using nlohmann::json;
  const std::vector<PooledModelStatus> models = status();
  const MemoryLimits& limits = state_->options.limits;
  std::vector<std::string> devices;
  auto add = [&devices](const std::string& d) {
    if (!d.empty() && std::find(devices.begin(), devices.end(), d) == devices.end()) devices.push_back(d);
  };
  for (const auto& [name, size] : limits.named) add(name);
  for (const auto& m : models) add(m.device);
  json out{{"devices", json::array()}, {"models", json::array()}};
  for (const auto& d : devices) {
    int64_t used = 0, loaded = 0;
    for (const auto& m : models)
      if (m.loaded && m.device == d) {
        used += m.total_bytes();
        ++loaded;
      }
    const Device device = d == "cpu" ? Device::cpu() : Device::cuda(std::stoi(d.substr(5)));
    const std::optional<int64_t> limit = limits.for_device(device);
    out["devices"].push_back(json{{"device", d},
                                  {"limit_bytes", limit ? json(*limit) : json(nullptr)},
                                  {"used_bytes", used},
                                  {"loaded_models", loaded}});
  }
  for (const auto& m : models)
    out["models"].push_back(json{{"name", m.name},
                                 {"device", m.device.empty() ? json(nullptr) : json(m.device)},
                                 {"loaded", m.loaded},
                                 {"loading", m.loading},
                                 {"bytes", m.total_bytes()},
                                 {"weights_bytes", m.weights_bytes},
                                 {"kv_cache_bytes", m.kv_cache_bytes},
                                 {"workspace_bytes", m.workspace_bytes},
                                 {"live_bytes", m.live_bytes},
                                 {"host_bytes", m.host_bytes},
                                 {"in_flight", m.in_flight},
                                 {"last_used", m.last_used ? json(*m.last_used) : json(nullptr)},
                                 {"loads", m.loads},
                                 {"unloads", m.evictions}});
  out["idle_timeout_s"] = std::chrono::duration<double>(state_->options.idle_timeout).count();
  out["max_resident"] = state_->options.max_resident == 0 ? json(nullptr) : json(state_->options.max_resident);
  return out;
}

}  // namespace ia
