// The gateway client against hostile loopback gateways: one that follows the
// root with valid blocks from elsewhere forever, redirects to another origin,
// a total-size limit, and credentials that must not appear in errors.
#include <gtest/gtest.h>

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "ipfs/car.h"
#include "ipfs/gateway_client.h"
#include "ipfs/importer.h"
#include "ipfs/url_redaction.h"
#include "ipfs/varint.h"
#include "unit/ipfs/fixtures.h"

namespace ia::ipfs {
namespace {

// An httplib server on a free loopback port, stopped when this goes away.
class LoopbackServer {
 public:
  httplib::Server http;
  void start() {
    port_ = http.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { http.listen_after_bind(); });
    while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~LoopbackServer() {
    http.stop();
    if (thread_.joinable()) thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 private:
  int port_ = 0;
  std::thread thread_;
};

std::string car_section(const Cid& cid, BytesView block) {
  Bytes cb = cid.bytes();
  return encode_varint(cb.size() + block.size()) + cb + std::string(block);
}

TEST(GatewayClientHostile, UnrelatedBlocksForeverStopTheFetch) {
  MemoryBlockstore src;
  BuiltNode f = import_bytes(test::xorshift_bytes(11, 600000), src, ImportOptions{1, {}, kDefaultChunkSize});
  const std::string root_section = car_section(f.cid, *src.get(f.cid.hash));
  std::atomic<uint64_t> sent{0};
  LoopbackServer gw;
  // The root, then valid blocks that belong to nothing asked for, without end
  // (the server gives up after 256 MB so a client that never stops still ends).
  gw.http.Get(R"(/ipfs/(.+))", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/vnd.ipld.car; version=1; order=dfs; dups=n",
                                     [&, n = uint64_t{0}](size_t, httplib::DataSink& sink) mutable {
                                       std::string piece;
                                       if (n == 0) piece = encode_car_header({f.cid}) + root_section;
                                       Bytes junk = test::xorshift_bytes(static_cast<uint32_t>(n + 1000), 65536);
                                       piece += car_section(Cid::of(1, kCodecRaw, junk), junk);
                                       ++n;
                                       sent += piece.size();
                                       if (sent > (256u << 20)) {
                                         sink.done();
                                         return true;
                                       }
                                       return sink.write(piece.data(), piece.size());
                                     });
  });
  gw.start();
  MemoryBlockstore local;
  FetchOptions o;
  o.gateways = {gw.url()};
  o.idle_timeout_s = 5;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(fetch_dag(f.cid, local, o), Error);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  EXPECT_LT(sent.load(), 64u << 20) << "the client kept reading unrelated blocks";
  EXPECT_LE(local.size(), 1u);  // the root at most; nothing unrelated
}

TEST(GatewayClientHostile, RedirectsStayWithinTheGatewayOrigin) {
  MemoryBlockstore src;
  BuiltNode f = import_bytes(test::xorshift_bytes(12, 300000), src, ImportOptions{1, {}, kDefaultChunkSize});
  std::stringstream car;
  write_car(src, f.cid, car);
  const std::string body = car.str();
  std::atomic<int> elsewhere_hits{0};
  LoopbackServer elsewhere;
  elsewhere.http.Get(R"(/.*)", [&](const httplib::Request&, httplib::Response& res) {
    ++elsewhere_hits;
    res.set_content(body, "application/vnd.ipld.car");
  });
  elsewhere.start();
  LoopbackServer gw;
  // /same/... redirects within the origin; /away/... to the other server.
  gw.http.Get(R"(/same/ipfs/(.+))", [&](const httplib::Request& req, httplib::Response& res) {
    res.set_redirect("/ipfs/" + std::string(req.matches[1]) + "?format=car", 302);
  });
  gw.http.Get(R"(/away/ipfs/(.+))", [&](const httplib::Request& req, httplib::Response& res) {
    res.set_redirect(elsewhere.url() + "/ipfs/" + std::string(req.matches[1]), 302);
  });
  gw.http.Get(R"(/ipfs/(.+))", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(body, "application/vnd.ipld.car");
  });
  gw.start();
  {
    MemoryBlockstore local;
    FetchOptions o;
    o.gateways = {gw.url() + "/same"};
    FetchStats st = fetch_dag(f.cid, local, o);
    EXPECT_EQ(st.blocks_total, 3u);
  }
  {
    MemoryBlockstore local;
    FetchOptions o;
    o.gateways = {gw.url() + "/away"};
    try {
      fetch_dag(f.cid, local, o);
      ADD_FAILURE() << "followed a redirect to another origin";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Unavailable) << e.what();
      EXPECT_NE(std::string(e.what()).find("redirect"), std::string::npos) << e.what();
    }
    EXPECT_EQ(elsewhere_hits.load(), 0);
    EXPECT_EQ(local.size(), 0u);
  }
}

TEST(GatewayClientHostile, TotalSizeLimitStopsTheFetch) {
  MemoryBlockstore src;
  BuiltNode f = import_bytes(test::xorshift_bytes(13, 2000000), src, ImportOptions{1, {}, kDefaultChunkSize});
  LoopbackServer gw;  // an honest CAR of whatever CID is asked for
  gw.http.Get(R"(/ipfs/([^/?]+))", [&](const httplib::Request& req, httplib::Response& res) {
    std::stringstream car;
    write_car(src, Cid::parse(std::string(req.matches[1])), car);
    res.set_content(car.str(), "application/vnd.ipld.car");
  });
  gw.start();
  MemoryBlockstore local;
  FetchOptions o;
  o.gateways = {gw.url()};
  o.max_bytes = 500000;
  try {
    fetch_dag(f.cid, local, o);
    ADD_FAILURE() << "fetched past the size limit";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find("500000"), std::string::npos) << e.what();
  }
  o.max_bytes = 0;
  EXPECT_EQ(fetch_dag(f.cid, local, o).blocks_total, 9u);  // unlimited, it completes (resuming what was kept)
}

TEST(GatewayClientHostile, CredentialsNeverAppearInErrorsOrStats) {
  EXPECT_EQ(redact_url("https://user:s3cret@gw.example:8443/x?y=1"), "https://***@gw.example:8443/x?y=1");
  EXPECT_EQ(redact_url("http://127.0.0.1:8080/"), "http://127.0.0.1:8080/");
  EXPECT_EQ(redact_url("http://a@b@host/p@q"), "http://***@host/p@q");
  MemoryBlockstore local;
  for (const std::string& gw : {std::string("http://user:s3cret@127.0.0.1:1"), std::string("ftp://user:s3cret@h/")}) {
    FetchOptions o;
    o.gateways = {gw};
    o.stall_timeout_s = 2;
    try {
      fetch_dag(Cid::of(1, kCodecRaw, "x"), local, o);
      ADD_FAILURE() << "fetched from " << gw;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("***@"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace ia::ipfs
