#include "providers/curl_handle_pool.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace ia::providers {

struct CurlHandlePool::State {
  mutable std::mutex mu;
  std::unordered_map<std::string, std::vector<CURL*>> idle;  // by origin, most recently used last
  size_t idle_count = 0;
  CURLSH* share = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> share_locks;
};

namespace {

void lock_share(CURL*, curl_lock_data data, curl_lock_access, void* state) {
  static_cast<CurlHandlePool::State*>(state)->share_locks[static_cast<size_t>(data)].lock();
}

void unlock_share(CURL*, curl_lock_data data, void* state) {
  static_cast<CurlHandlePool::State*>(state)->share_locks[static_cast<size_t>(data)].unlock();
}

}  // namespace

CurlHandlePool::CurlHandlePool() : state_(new State) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  state_->share = curl_share_init();
  if (state_->share) {
    curl_share_setopt(state_->share, CURLSHOPT_LOCKFUNC, &lock_share);
    curl_share_setopt(state_->share, CURLSHOPT_UNLOCKFUNC, &unlock_share);
    curl_share_setopt(state_->share, CURLSHOPT_USERDATA, state_);
    curl_share_setopt(state_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(state_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
}

CurlHandlePool& CurlHandlePool::instance() {
  static CurlHandlePool* pool = new CurlHandlePool();
  return *pool;
}

std::string CurlHandlePool::origin_of(std::string_view url) {
  const size_t scheme_end = url.find("://");
  std::string_view origin = url;
  if (scheme_end != std::string_view::npos) {
    const size_t end = url.find_first_of("/?#", scheme_end + 3);
    origin = url.substr(0, end);
  }
  std::string out(origin);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

CurlHandlePool::Lease CurlHandlePool::acquire(std::string_view url) {
  std::string origin = origin_of(url);
  {
    std::lock_guard lock(state_->mu);
    auto it = state_->idle.find(origin);
    if (it != state_->idle.end() && !it->second.empty()) {
      CURL* h = it->second.back();
      it->second.pop_back();
      --state_->idle_count;
      return Lease(*this, std::move(origin), h);
    }
  }
  CURL* h = curl_easy_init();
  if (h && state_->share) curl_easy_setopt(h, CURLOPT_SHARE, state_->share);
  return Lease(*this, std::move(origin), h);
}

void CurlHandlePool::put(const std::string& origin, CURL* handle) {
  {
    std::lock_guard lock(state_->mu);
    if (state_->idle_count < kMaxIdleHandles) {
      state_->idle[origin].push_back(handle);
      ++state_->idle_count;
      return;
    }
  }
  curl_easy_cleanup(handle);  // the pool is full: its connections close
}

size_t CurlHandlePool::idle() const {
  std::lock_guard lock(state_->mu);
  return state_->idle_count;
}

CurlHandlePool::Lease::~Lease() {
  if (handle_) pool_->put(origin_, handle_);
}

}  // namespace ia::providers
