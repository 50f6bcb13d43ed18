#include "ipfs/gateway_client.h"

#include <curl/curl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <unordered_set>

#include "core/error.h"
#include "ipfs/car.h"
#include "ipfs/dag.h"

namespace ia::ipfs {

namespace fs = std::filesystem;

namespace {

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Download {
  Bytes body;
  std::ofstream* file = nullptr;
  uint64_t bytes = 0;
  size_t limit = 0;  // 0: none
  const FetchOptions* opt = nullptr;
};

size_t on_data(char* p, size_t size, size_t n, void* ud) {
  auto* d = static_cast<Download*>(ud);
  size_t len = size * n;
  d->bytes += len;
  if (d->file) {
    d->file->write(p, static_cast<std::streamsize>(len));
    if (!*d->file) return 0;
  } else {
    if (d->limit && d->body.size() + len > d->limit) return 0;  // a "block" larger than any block may be
    d->body.append(p, len);
  }
  if (d->opt && d->opt->on_progress) d->opt->on_progress(len);
  return len;
}

// GET url; returns the HTTP status (0 on a transport failure, with `err` set).
long http_get(const std::string& url, const std::string& accept, Download& d, long timeout_s, std::string& err) {
  curl_init_once();
  CURL* c = curl_easy_init();
  if (!c) fail(ErrorKind::Internal, "curl_easy_init failed");
  curl_slist* headers = curl_slist_append(nullptr, ("Accept: " + accept).c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  if (rc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  else
    err = curl_easy_strerror(rc);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  return status;
}

std::string trim_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// CIDs of the DAG that are not stored yet (walking what is stored), or empty when complete.
std::vector<Cid> missing_blocks(Blockstore& store, const Cid& root, size_t& total) {
  std::vector<Cid> missing, stack{root};
  std::unordered_set<Cid> seen;
  total = 0;
  while (!stack.empty()) {
    Cid c = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(c).second) continue;
    ++total;
    if (!store.has(c.hash)) {
      missing.push_back(c);
      continue;
    }
    Bytes b = load_block(store, c);
    auto links = block_links(c, b);
    for (auto it = links.rbegin(); it != links.rend(); ++it) stack.push_back(*it);
  }
  return missing;
}

// Tries one CAR request; blocks are verified by read_car before being stored.
void fetch_car(const std::string& gw, const Cid& root, Blockstore& store, const FetchOptions& opt, FetchStats& st) {
  fs::path tmp = fs::temp_directory_path() / fmt::format("ia-fetch-{}-{}.car", ::getpid(), root.to_string());
  std::string err;
  long status;
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    Download d;
    d.file = &f;
    d.opt = &opt;
    status = http_get(gw + "/ipfs/" + root.to_string() + "?format=car&dag-scope=all",
                      "application/vnd.ipld.car; version=1; order=dfs; dups=n", d, opt.timeout_s, err);
  }
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove(p, ec);
    }
  } cleanup{tmp};
  if (status != 200) return;  // fall back to raw blocks
  std::ifstream in(tmp, std::ios::binary);
  struct Counting : BlockSink {
    Blockstore& s;
    FetchStats& st;
    Counting(Blockstore& s_, FetchStats& st_) : s(s_), st(st_) {}
    void put(const Cid& c, BytesView b) override {
      if (!s.has(c.hash)) ++st.blocks_fetched, st.bytes_fetched += b.size();
      s.put(c, b);
    }
  } sink(store, st);
  try {
    read_car(in, sink);  // a truncated CAR still leaves its verified blocks stored
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Corrupt) throw;
  }
}

}  // namespace

std::vector<std::string> gateways_from_env() {
  std::vector<std::string> out;
  const char* env = std::getenv("IPFS_GATEWAY");
  if (!env) return out;
  std::string s(env);
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string g = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!g.empty()) out.push_back(g);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

FetchStats fetch_dag(const Cid& root, Blockstore& store, const FetchOptions& options) {
  if (options.gateways.empty()) fail(ErrorKind::InvalidArgument, "no gateway given (--gateway URL or IPFS_GATEWAY)");
  FetchStats st;
  std::string last_error = "nothing tried";
  for (const auto& raw_gw : options.gateways) {
    std::string gw = trim_slash(raw_gw);
    if (gw.rfind("http://", 0) != 0 && gw.rfind("https://", 0) != 0) {
      fail(ErrorKind::InvalidArgument, "gateway \"{}\" is not an http(s) URL", raw_gw);
    }
    if (missing_blocks(store, root, st.blocks_total).empty()) {
      st.gateway = gw;
      return st;
    }
    if (options.try_car) fetch_car(gw, root, store, options, st);
    // Whatever is still missing, one verified block at a time.
    bool failed = false;
    for (;;) {
      auto missing = missing_blocks(store, root, st.blocks_total);
      if (missing.empty()) break;
      for (const Cid& c : missing) {
        Download d;
        d.limit = kMaxCarSection;
        d.opt = &options;
        std::string err;
        long status = http_get(gw + "/ipfs/" + c.to_string() + "?format=raw", "application/vnd.ipld.raw", d,
                               options.timeout_s, err);
        if (status != 200) {
          last_error = status ? fmt::format("{}: HTTP {} for block {}", gw, status, c.to_string())
                              : fmt::format("{}: {}", gw, err);
          failed = true;
          break;
        }
        if (!multihash_matches(c.hash, d.body)) {
          last_error = fmt::format("{} sent bytes that do not match block {}", gw, c.to_string());
          failed = true;
          break;
        }
        store.put(c, d.body);
        ++st.blocks_fetched;
        st.bytes_fetched += d.body.size();
      }
      if (failed) break;
    }
    if (!failed) {
      st.gateway = gw;
      return st;
    }
  }
  fail(ErrorKind::Unavailable, "could not fetch {}: {}", root.to_string(), last_error);
}

}  // namespace ia::ipfs
