#include "providers/spend_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace ia::providers {

namespace {

namespace fs = std::filesystem;
constexpr size_t kMaxSpendFile = 16u << 20;

[[noreturn]] void corrupt(const std::string& source, const std::string& what) {
  fail(ErrorKind::Corrupt, "spend file {}: {}; fix or remove it (recorded spend is never reset silently)", source,
       what);
}

// A descriptor closed on every path.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

}  // namespace

std::string spend_period_key(ProviderConfig::BudgetPeriod period, std::chrono::system_clock::time_point now) {
  if (period == ProviderConfig::BudgetPeriod::Total) return "total";
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1);
}

SpendTable parse_spend_file(const std::string& text, const std::string& source) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) corrupt(source, "not valid JSON");
  if (!j.is_object()) corrupt(source, "expected a JSON object");
  for (const auto& [key, _] : j.items())
    if (key != "version" && key != "spend_usd") corrupt(source, fmt::format("unknown field `{}`", key));
  auto v = j.find("version");
  if (v == j.end() || !v->is_number_integer() || v->get<int64_t>() != 1) corrupt(source, "expected \"version\": 1");
  SpendTable out;
  auto s = j.find("spend_usd");
  if (s == j.end()) return out;
  if (!s->is_object()) corrupt(source, "\"spend_usd\": expected an object of providers");
  for (const auto& [provider, periods] : s->items()) {
    if (!periods.is_object()) corrupt(source, fmt::format("spend_usd.{}: expected an object of periods", provider));
    for (const auto& [period, models] : periods.items()) {
      const std::string where = fmt::format("spend_usd.{}.{}", provider, period);
      const bool month = period.size() == 7 && period[4] == '-' &&
                         std::all_of(period.begin(), period.end(),
                                     [](char c) { return c == '-' || std::isdigit(static_cast<unsigned char>(c)); });
      if (period != "total" && !month) corrupt(source, fmt::format("{}: a period is \"total\" or \"YYYY-MM\"", where));
      if (!models.is_object()) corrupt(source, fmt::format("{}: expected an object of models", where));
      for (const auto& [model, usd] : models.items()) {
        if (!usd.is_number() || !std::isfinite(usd.get<double>()) || usd.get<double>() < 0)
          corrupt(source, fmt::format("{}.{}: expected USD (a number, 0 or more)", where, model));
        out[provider][period][model] = usd.get<double>();
      }
    }
  }
  return out;
}

SpendStore::SpendStore(std::string path) : path_(std::move(path)) {
  std::lock_guard lock(mu_);
  read_file();
}

SpendStore::~SpendStore() {
  try {
    flush();
  } catch (const std::exception& e) {
    spdlog::error("spend file {}: could not write the last spend: {}", path_, e.what());
  }
}

const SpendTable& SpendStore::read_file() {
  Fd f(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0) {
    if (errno != ENOENT) fail(ErrorKind::Unavailable, "spend file {}: cannot read: {}", path_, std::strerror(errno));
    cached_.clear();
    cached_id_ = {};
    have_cache_ = true;
    return cached_;
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0)
    fail(ErrorKind::Unavailable, "spend file {}: cannot read: {}", path_, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) corrupt(path_, "not a regular file");
  const FileId id{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
                  mtime_ns(st), true};
  if (have_cache_ && id == cached_id_) return cached_;
  if (static_cast<size_t>(st.st_size) > kMaxSpendFile) corrupt(path_, "larger than 16 MiB");
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(f.fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(ErrorKind::Unavailable, "spend file {}: cannot read: {}", path_, std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  cached_ = parse_spend_file(text, path_);
  cached_id_ = id;
  have_cache_ = true;
  return cached_;
}

double SpendStore::spent(const std::string& provider, const std::string& period) {
  std::lock_guard lock(mu_);
  double total = 0;
  for (const SpendTable* t : {&read_file(), static_cast<const SpendTable*>(&pending_)}) {
    auto p = t->find(provider);
    if (p == t->end()) continue;
    auto q = p->second.find(period);
    if (q == p->second.end()) continue;
    for (const auto& [model, usd] : q->second) total += usd;
  }
  return total;
}

void SpendStore::add(const std::string& provider, const std::string& model, double usd, const std::string& month) {
  if (!(usd > 0) || !std::isfinite(usd)) return;
  std::unique_lock lock(mu_);
  pending_[provider]["total"][model] += usd;
  pending_[provider][month][model] += usd;
  write_locked(lock);
}

void SpendStore::flush() {
  std::unique_lock lock(mu_);
  if (!pending_.empty()) write_locked(lock);
}

void SpendStore::write_locked(std::unique_lock<std::mutex>&) {
  const fs::path path(path_);
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(ErrorKind::Unavailable, "spend file {}: cannot create its folder: {}", path_, ec.message());
  // The lock lives beside the file (the file itself is replaced by rename, so a lock on it would
  // be a lock on an inode the next writer no longer opens).
  const std::string lock_path = path_ + ".lock";
  Fd lock_fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (lock_fd.fd < 0)
    fail(ErrorKind::Unavailable, "spend file {}: cannot open its lock {}: {}", path_, lock_path, std::strerror(errno));
  while (::flock(lock_fd.fd, LOCK_EX) != 0)
    if (errno != EINTR)
      fail(ErrorKind::Unavailable, "spend file {}: cannot lock {}: {}", path_, lock_path, std::strerror(errno));

  SpendTable merged = read_file();  // what every process has written, under the lock
  for (const auto& [provider, periods] : pending_)
    for (const auto& [period, models] : periods)
      for (const auto& [model, usd] : models) merged[provider][period][model] += usd;
  nlohmann::json j{{"version", 1}, {"spend_usd", nlohmann::json::object()}};
  for (const auto& [provider, periods] : merged)
    for (const auto& [period, models] : periods)
      for (const auto& [model, usd] : models) j["spend_usd"][provider][period][model] = usd;
  const std::string text = j.dump(1) + "\n";

  thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::string tmp = fmt::format("{}.tmp.{}.{:x}", path_, ::getpid(), rng());
  Fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (out.fd < 0) fail(ErrorKind::Unavailable, "spend file {}: cannot create {}: {}", path_, tmp, std::strerror(errno));
  auto give_up = [&](const char* what) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(ErrorKind::Unavailable, "spend file {}: {}: {}", path_, what, std::strerror(err));
  };
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(out.fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) give_up("cannot write");
    done += static_cast<size_t>(n);
  }
  if (::fsync(out.fd) != 0) give_up("cannot flush");
  struct stat st {};
  if (::fstat(out.fd, &st) != 0) give_up("cannot stat");
  if (::rename(tmp.c_str(), path_.c_str()) != 0) give_up("cannot rename into place");
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.fd >= 0) ::fsync(dfd.fd);  // the new name itself
  cached_ = std::move(merged);
  cached_id_ = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
                mtime_ns(st), true};
  have_cache_ = true;
  pending_.clear();
}

}  // namespace ia::providers
