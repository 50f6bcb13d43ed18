#pragma once
// What the providers' calls have cost, kept across restarts: a small JSON file (by default
// $IPFS_ACCELERATE_HOME/provider-spend.json; `spend_file` in the providers file) of USD by
// provider name, period and model,
//
//   {"version": 1, "spend_usd": {"openai": {"total":   {"gpt-4o-mini": 0.42, "whisper-1": 0.03},
//                                           "2025-06": {"gpt-4o-mini": 0.12}}}}
//
// where "total" counts every call and "YYYY-MM" the calls of that UTC calendar month (a
// `budget_period` of "month" reads the current month's, so its spend starts from 0 when the
// month changes). Each priced call is added under an exclusive flock of FILE.lock around the
// read-modify-write, so processes sharing the file never lose each other's spend, and the
// file is replaced atomically (a temporary file in the same folder, fsync, rename, fsync of the
// folder). A file that cannot be read or parsed is an error naming it (Corrupt or
// Unavailable), never reset.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "providers/provider.h"

namespace ia::providers {

using WallClockFn = std::function<std::chrono::system_clock::time_point()>;

// "total", or the UTC calendar month of `now` as "YYYY-MM".
std::string spend_period_key(ProviderConfig::BudgetPeriod period, std::chrono::system_clock::time_point now);

// The spend file's contents checked: USD (finite, not negative) by provider, period and model.
// Corrupt naming `source` and what is wrong.
using SpendTable = std::map<std::string, std::map<std::string, std::map<std::string, double>>>;
SpendTable parse_spend_file(const std::string& text, const std::string& source);

class SpendStore {
 public:
  // Reads the file now (absent: nothing spent yet): a corrupt or unreadable one throws.
  explicit SpendStore(std::string path);
  // Writes what could not be written yet (a failed write is logged).
  ~SpendStore();
  SpendStore(const SpendStore&) = delete;
  SpendStore& operator=(const SpendStore&) = delete;

  const std::string& path() const { return path_; }
  // USD spent at `provider` in `period` ("total" or "YYYY-MM") over every model: the file as it
  // is now (re-read when another process replaced it) plus what this store holds unwritten.
  double spent(const std::string& provider, const std::string& period);
  // Adds `usd` for `provider` and `model` under "total" and `month`, written through at once.
  // A failed write throws; the amount is kept and written with the next add or flush.
  void add(const std::string& provider, const std::string& model, double usd, const std::string& month);
  void flush();

 private:
  const SpendTable& read_file();  // the file now (cached while its inode, size and mtime stay the same)
  void write_locked(std::unique_lock<std::mutex>& lock);

  std::string path_;
  std::mutex mu_;
  SpendTable cached_;
  struct FileId {
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0;
    bool exists = false;
    bool operator==(const FileId&) const = default;
  } cached_id_;
  bool have_cache_ = false;
  SpendTable pending_;  // added here, not written yet
};

}  // namespace ia::providers
