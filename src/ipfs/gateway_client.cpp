#include "ipfs/gateway_client.h"

#include <curl/curl.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_set>
#include <vector>

#include "core/error.h"
#include "core/progress.h"
#include "ipfs/car.h"
#include "ipfs/car_stream.h"
#include "ipfs/dag.h"
#include "ipfs/dag_pb.h"
#include "ipfs/exporter.h"
#include "ipfs/url_redaction.h"

namespace ia::ipfs {

namespace {

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// scheme://host:port of a URL, lower-cased, the port explicit; "" when it does not parse.
std::string origin_of(const std::string& url) {
  CURLU* u = curl_url();
  std::string out;
  if (u && curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    char *scheme = nullptr, *host = nullptr, *port = nullptr;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
      out = std::string(scheme) + "://" + host + ":" + port;
      for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
  }
  curl_url_cleanup(u);
  return out;
}

// One curl handle per gateway, so successive requests reuse the connection.
// Redirects are followed by hand, and only within the origin of the URL
// asked for: a gateway cannot send the client (and its credentials, and the
// CIDs it wants) to another host. A transfer that delivers nothing useful
// (touch() not called) for `idle_s` is abandoned.
class HttpSession {
 public:
  using OnBody = std::function<bool(BytesView)>;  // false aborts the transfer
  static constexpr int kMaxRedirects = 5;
  HttpSession(long stall_timeout_s, long idle_s) : stall_(stall_timeout_s), idle_(idle_s) {
    curl_init_once();
    c_ = curl_easy_init();
    if (!c_) fail(ErrorKind::Internal, "curl_easy_init failed");
  }
  ~HttpSession() { curl_easy_cleanup(c_); }
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // Useful progress (a block accepted): pushes the idle deadline back.
  void touch() { last_useful_ = std::chrono::steady_clock::now(); }

  // GET url; the body goes to on_body only when the status is 200. Returns the
  // status (0 on a transport failure, with `err` set; an aborted or cut
  // transfer, or a refused redirect, also sets `err`).
  long get(const std::string& url, const std::string& accept, const OnBody& on_body, std::string& err) {
    const std::string origin = origin_of(url);
    std::string at = url;
    for (int hop = 0;; ++hop) {
      long status = get_once(at, accept, on_body, err);
      if (!err.empty() || status < 300 || status >= 400) return status;
      char* location = nullptr;
      curl_easy_getinfo(c_, CURLINFO_REDIRECT_URL, &location);
      if (!location) return status;  // a 3xx without a Location: an error status
      std::string next = location;
      if (origin.empty() || origin_of(next) != origin) {
        err = fmt::format("refused a redirect to another origin ({})", redact_url(next));
        return 0;
      }
      if (hop + 1 > kMaxRedirects) {
        err = fmt::format("more than {} redirects", kMaxRedirects);
        return 0;
      }
      at = next;
    }
  }

 private:
  long get_once(const std::string& url, const std::string& accept, const OnBody& on_body, std::string& err) {
    curl_slist* headers = curl_slist_append(nullptr, ("Accept: " + accept).c_str());
    Ctx ctx{c_, &on_body, this};
    touch();
    curl_easy_setopt(c_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c_, CURLOPT_WRITEFUNCTION, &HttpSession::on_data);
    curl_easy_setopt(c_, CURLOPT_WRITEDATA, &ctx);
    curl_easy_setopt(c_, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c_, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c_, CURLOPT_XFERINFOFUNCTION, &HttpSession::on_progress);
    curl_easy_setopt(c_, CURLOPT_XFERINFODATA, &ctx);
    curl_easy_setopt(c_, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c_, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c_, CURLOPT_LOW_SPEED_TIME, stall_);
    curl_easy_setopt(c_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c_, CURLOPT_BUFFERSIZE, 512L * 1024);
    CURLcode rc = curl_easy_perform(c_);
    long status = 0;
    curl_easy_getinfo(c_, CURLINFO_RESPONSE_CODE, &status);
    if (ctx.idle) {
      err = fmt::format("no new block for {} s (idle limit)", idle_);
    } else if (rc != CURLE_OK) {
      err = curl_easy_strerror(rc);
    }
    curl_easy_setopt(c_, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(headers);
    return status;
  }
  struct Ctx {
    CURL* c;
    const OnBody* on_body;
    HttpSession* self;
    bool idle = false;
  };
  static size_t on_data(char* p, size_t size, size_t n, void* ud) {
    auto* ctx = static_cast<Ctx*>(ud);
    long status = 0;
    curl_easy_getinfo(ctx->c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) return size * n;  // an error body: drained, not kept
    return (*ctx->on_body)(BytesView(p, size * n)) ? size * n : 0;
  }
  static int on_progress(void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* ctx = static_cast<Ctx*>(ud);
    if (ctx->self->idle_ > 0 &&
        std::chrono::steady_clock::now() - ctx->self->last_useful_ > std::chrono::seconds(ctx->self->idle_)) {
      ctx->idle = true;
      return 1;
    }
    return 0;
  }
  CURL* c_;
  long stall_, idle_;
  std::chrono::steady_clock::time_point last_useful_{};
};

std::string trim_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// A missing block and the Tsize its parent claims for its subtree (0 when unknown).
struct Missing {
  Cid cid;
  uint64_t tsize = 0;
};

// The links of a block with their Tsizes.
std::vector<Missing> links_of(const Cid& cid, BytesView block) {
  std::vector<Missing> out;
  if (cid.codec == kCodecDagPb) {
    for (auto& l : decode_pb_node(block).links) out.push_back({std::move(l.cid), l.tsize.value_or(0)});
  } else {
    for (auto& c : block_links(cid, block)) out.push_back({std::move(c), 0});  // raw: none; others refused
  }
  return out;
}

// The missing blocks whose parents are stored (the roots of the missing
// subtrees), walking what is stored; `total` counts the blocks seen.
std::vector<Missing> missing_frontier(Blockstore& store, const Cid& root, size_t& total) {
  std::vector<Missing> missing, stack{{root, 0}};
  std::unordered_set<Cid> seen;
  total = 0;
  while (!stack.empty()) {
    Missing m = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(m.cid).second) continue;
    ++total;
    if (!store.has(m.cid.hash)) {
      missing.push_back(std::move(m));
      continue;
    }
    if (m.cid.codec == kCodecRaw) continue;  // no links: no need to read it
    auto links = links_of(m.cid, load_block(store, m.cid));
    for (auto it = links.rbegin(); it != links.rend(); ++it) stack.push_back(std::move(*it));
  }
  return missing;
}

// The response bytes one stage of a fetch received, held to options.max_bytes and shown on the fetch's task.
struct ReceivedBytes {
  const FetchOptions& opt;
  ProgressTask& task;
  uint64_t bytes = 0;
  // Throws InvalidArgument past the total-size limit: a hard stop, whatever gateway is next.
  void add(uint64_t n) {
    if (opt.max_bytes && bytes + n > opt.max_bytes) {
      fail(ErrorKind::InvalidArgument,
           "the fetch passed the limit of {} bytes received (raise it with --max-size); what was verified is kept",
           opt.max_bytes);
    }
    bytes += n;
    task.advance(n);
  }
};

enum class CarResult { Complete, Partial, Refused };

// Streams /ipfs/{sub}?format=car into the store. Blocks are accepted only when
// they belong to `sub`'s DAG (the root, then links of accepted blocks).
CarResult fetch_car(HttpSession& http, const std::string& gw, const Missing& sub, Blockstore& store, FetchStats& st,
                    ReceivedBytes& received_bytes, std::string& last_error, size_t& subtree_blocks,
                    const std::string& path = "") {
  std::set<Multihash> expected{sub.cid.hash}, received;
  bool root_seen = false;
  size_t duplicates = 0;
  const std::string shown = redact_url(gw);
  CarStreamReader reader([&](const Cid& cid, BytesView block) {
    if (!expected.count(cid.hash)) {
      // In a DFS CAR every block of the DAG comes after its parent. A block
      // already received is a duplicate (bounded: with dups=n asked, at most
      // one per block); anything else is not ours, and a gateway sending it is
      // not followed further (it could send such blocks forever).
      if (received.count(cid.hash) && ++duplicates <= received.size()) return;
      fail(ErrorKind::Corrupt, "{} sent block {}, which is not part of the DAG asked for", shown, cid.to_string());
    }
    http.touch();
    expected.erase(cid.hash);
    received.insert(cid.hash);
    subtree_blocks = received.size();
    auto links = links_of(cid, block);
    if (!root_seen && cid.hash == sub.cid.hash) {
      root_seen = true;
      if (sub.tsize == 0) {  // the request's root: now its weight is known
        uint64_t t = block.size();
        for (const auto& l : links) t += l.tsize;
        received_bytes.task.set_total(received_bytes.task.total() + t);
      }
    }
    for (auto& l : links) {
      if (!received.count(l.cid.hash)) expected.insert(l.cid.hash);
    }
    if (!store.has(cid.hash)) {
      store.put(cid, block);
      ++st.blocks_fetched;
      st.bytes_fetched += block.size();
    }
  });
  std::exception_ptr failure;
  std::string err;
  long status = http.get(
      gw + "/ipfs/" + sub.cid.to_string() + (path.empty() ? "" : "/" + path) + "?format=car&dag-scope=all",
      "application/vnd.ipld.car; version=1; order=dfs; dups=n",
      [&](BytesView data) {
        try {  // nothing may throw through curl's C frames
          received_bytes.add(data.size());
          reader.feed(data);
        } catch (...) {
          failure = std::current_exception();
          return false;
        }
        return true;
      },
      err);
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Corrupt && e.kind() != ErrorKind::Unsupported) throw;  // e.g. the disk
      last_error = e.what();
      return CarResult::Refused;
    }
  }
  if (status != 200) {
    last_error = status ? fmt::format("{}: HTTP {} for {}?format=car", shown, status, sub.cid.to_string())
                        : fmt::format("{}: {}", shown, err);
    return reader.blocks() ? CarResult::Partial : CarResult::Refused;
  }
  if (!err.empty()) {
    last_error = fmt::format("{}: {}", shown, err);
    return CarResult::Partial;
  }
  try {
    reader.finish();
  } catch (const Error& e) {
    last_error = fmt::format("{}: {}", shown, e.what());
    return CarResult::Partial;
  }
  return expected.empty() ? CarResult::Complete : CarResult::Partial;
}

// One verified block by ?format=raw; false (with last_error) when the gateway could not deliver it.
bool fetch_raw(HttpSession& http, const std::string& gw, const Cid& c, Blockstore& store, FetchStats& st,
               ReceivedBytes& received_bytes, std::string& last_error) {
  Bytes body;
  std::string err;
  std::exception_ptr failure;
  const std::string shown = redact_url(gw);
  long status = http.get(
      gw + "/ipfs/" + c.to_string() + "?format=raw", "application/vnd.ipld.raw",
      [&](BytesView data) {
        if (body.size() + data.size() > kMaxCarSection) return false;  // larger than any block may be
        try {
          received_bytes.add(data.size());
        } catch (...) {
          failure = std::current_exception();  // never through curl's C frames
          return false;
        }
        body.append(data);
        http.touch();
        return true;
      },
      err);
  if (failure) std::rethrow_exception(failure);
  if (status != 200 || !err.empty()) {
    last_error = status && status != 200 ? fmt::format("{}: HTTP {} for block {}", shown, status, c.to_string())
                                         : fmt::format("{}: {}", shown, err);
    return false;
  }
  if (!multihash_matches(c.hash, body)) {
    last_error = fmt::format("{} sent bytes that do not match block {}", shown, c.to_string());
    return false;
  }
  store.put(c, body);
  ++st.blocks_fetched;
  st.bytes_fetched += body.size();
  return true;
}

// The store as a path walk sees it: a block it lacks is fetched (?format=raw,
// verified) from the first gateway that delivers it, so resolving a path
// fetches the directories and HAMT shards on the way and nothing else. A walk
// reads only directories and shards, so the block asked for is dag-pb.
class FetchOnMiss : public Blockstore {
 public:
  // `what` names the walk in errors (ROOT/PATH).
  FetchOnMiss(Blockstore& store, const FetchOptions& options, ReceivedBytes& received_bytes, std::string what)
      : store_(store), options_(options), received_bytes_(received_bytes), what_(std::move(what)) {}
  void put(const Cid& cid, BytesView block) override { store_.put(cid, block); }
  bool has(const Multihash& mh) override { return store_.has(mh); }
  bool remove(const Multihash& mh) override { return store_.remove(mh); }
  void for_each(const std::function<void(const Multihash&)>& fn) override { store_.for_each(fn); }
  std::optional<Bytes> get(const Multihash& mh) override {
    if (auto block = store_.get(mh)) return block;
    const Cid cid{1, kCodecDagPb, mh};
    std::string last_error = "nothing tried";
    for (size_t i = 0; i < options_.gateways.size(); ++i) {
      if (sessions_.size() <= i)
        sessions_.push_back(std::make_unique<HttpSession>(options_.stall_timeout_s, options_.idle_timeout_s));
      if (fetch_raw(*sessions_[i], trim_slash(options_.gateways[i]), cid, store_, stats_, received_bytes_, last_error))
        return store_.get(mh);
    }
    fail(ErrorKind::Unavailable, "could not fetch {}: {}", what_, last_error);
  }

 private:
  Blockstore& store_;
  const FetchOptions& options_;
  ReceivedBytes& received_bytes_;
  std::string what_;
  FetchStats stats_;
  std::vector<std::unique_ptr<HttpSession>> sessions_;  // one per gateway, reused along the path
};

void check_gateways(const FetchOptions& options) {
  if (options.gateways.empty()) fail(ErrorKind::InvalidArgument, "no gateway given (--gateway URL or IPFS_GATEWAY)");
  for (const auto& gw : options.gateways) {
    if (gw.rfind("http://", 0) != 0 && gw.rfind("https://", 0) != 0)
      fail(ErrorKind::InvalidArgument, "gateway \"{}\" is not an http(s) URL", redact_url(gw));
  }
}

// What `path` names under `root` with the blocks stored; nullopt while a block on the way is missing.
std::optional<Cid> resolve_stored(Blockstore& store, const Cid& root, const std::string& path) {
  try {
    return resolve_path(store, root, path);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::NotFound) throw;
    return std::nullopt;
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

namespace {

// fetch_dag, shown on `task` (fetch_path's, when the DAG is what a path named).
FetchStats fetch_dag_shown_on(const Cid& root, Blockstore& store, const FetchOptions& options, ProgressTask& task) {
  check_gateways(options);
  FetchStats st;
  std::string last_error = "nothing tried";
  ReceivedBytes received_bytes{options, task};
  for (const auto& raw_gw : options.gateways) {
    std::string gw = trim_slash(raw_gw);
    HttpSession http(options.stall_timeout_s, options.idle_timeout_s);
    bool car = options.try_car, failed = false;
    for (;;) {
      auto missing = missing_frontier(store, root, st.blocks_total);
      if (missing.empty()) break;
      uint64_t expected = task.done();
      for (const auto& m : missing) expected += m.tsize;
      task.set_total(expected);
      if (car) {
        // One CAR per missing subtree: a fresh fetch asks for the root once;
        // a resumed one only for what is not stored yet.
        size_t before = st.blocks_fetched, received = 0;
        bool all_complete = true;
        for (const auto& m : missing) {
          size_t sub_blocks = 0;
          CarResult r = fetch_car(http, gw, m, store, st, received_bytes, last_error, sub_blocks);
          received += sub_blocks > 0 ? sub_blocks - 1 : 0;  // the subtree's root is already counted
          if (r == CarResult::Refused) {
            car = false;
            break;
          }
          all_complete = all_complete && r == CarResult::Complete;
        }
        if (car && all_complete) {
          // Every missing subtree arrived whole (each link of each block was
          // received and verified): no need to walk the DAG again.
          st.blocks_total += received;
          break;
        }
        if (st.blocks_fetched == before) car = false;  // no progress by CAR: block by block
        continue;
      }
      for (const auto& m : missing) {
        if (!fetch_raw(http, gw, m.cid, store, st, received_bytes, last_error)) {
          failed = true;
          break;
        }
      }
      if (failed) break;
    }
    if (!failed) {
      store.sync();  // the commit point: everything fetched is durable before anyone pins it
      st.gateway = redact_url(gw);
      return st;
    }
  }
  store.sync();  // keep what was verified: a later fetch resumes from it
  fail(ErrorKind::Unavailable, "could not fetch {}: {}", root.to_string(), last_error);
}

}  // namespace

FetchStats fetch_dag(const Cid& root, Blockstore& store, const FetchOptions& options) {
  ProgressTask task(fmt::format("fetching {}", root.to_string()), 0, ProgressUnit::Bytes);
  FetchStats st = fetch_dag_shown_on(root, store, options, task);
  task.finish();
  return st;
}

Cid fetch_path(const Cid& root, const std::string& path, Blockstore& store, const FetchOptions& options,
               FetchStats* stats) {
  if (path.empty()) {
    FetchStats st = fetch_dag(root, store, options);
    if (stats) *stats = st;
    return root;
  }
  ProgressTask task(fmt::format("fetching {}/{}", root.to_string(), path), 0, ProgressUnit::Bytes);
  std::optional<Cid> target = resolve_stored(store, root, path);
  if (!target) {
    check_gateways(options);
    ReceivedBytes received_bytes{options, task};
    // One CAR of the path: the blocks proving it (directories, HAMT shards) and
    // the DAG at its end. Each block is still accepted only as a link of an
    // accepted one, starting from the root.
    if (options.try_car) {
      FetchStats ignored;
      std::string err;
      for (const auto& gw : options.gateways) {
        HttpSession http(options.stall_timeout_s, options.idle_timeout_s);
        size_t n = 0;
        fetch_car(http, trim_slash(gw), Missing{root, 0}, store, ignored, received_bytes, err, n, path);
        if (resolve_stored(store, root, path)) break;
      }
    }
    // The path is stored now or, failing that (no CAR, or a gateway that answers
    // a missing name with an error), walked block by block: only the blocks on
    // the way are fetched, never the rest of root's DAG, and a NotFound is then
    // a name that does not exist. Then the target is completed.
    target = resolve_stored(store, root, path);
    if (!target) {
      FetchOnMiss walk(store, options, received_bytes, root.to_string() + "/" + path);
      target = resolve_path(walk, root, path);
    }
  }
  FetchStats st = fetch_dag_shown_on(*target, store, options, task);
  task.finish();
  if (stats) *stats = st;
  return *target;
}

}  // namespace ia::ipfs
