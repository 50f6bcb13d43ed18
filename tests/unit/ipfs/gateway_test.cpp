// The trustless gateway server and client against each other over loopback,
// plus a lying gateway: every block is verified, nothing unverified is stored.
#include <gtest/gtest.h>

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.h"
#include "ipfs/car.h"
#include "ipfs/car_stream.h"
#include "ipfs/dag.h"
#include "ipfs/exporter.h"
#include "ipfs/gateway_client.h"
#include "ipfs/gateway_server.h"
#include "ipfs/importer.h"
#include "ipfs/varint.h"
#include "unit/ipfs/fixtures.h"

namespace ia::ipfs {
namespace {

class Gateway : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<GatewayServer>(served_);
    port_ = server_->bind("127.0.0.1", 0);
    thread_ = std::thread([this] { server_->run(); });
    url_ = "http://127.0.0.1:" + std::to_string(port_);
    // Wait until the probe answers.
    httplib::Client c("127.0.0.1", port_);
    for (int i = 0; i < 100; ++i) {
      if (auto r = c.Get("/ipfs/bafkqaaa?format=raw"); r) break;  // any answer: it is listening
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
  }
  MemoryBlockstore served_;
  std::unique_ptr<GatewayServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::string url_;
};

TEST_F(Gateway, ServesRawAndCarWithTheSpecHeaders) {
  BuiltNode f = import_bytes(test::xorshift_bytes(1, 786449), served_, ImportOptions{1, {}, kDefaultChunkSize});
  httplib::Client c("127.0.0.1", port_);
  auto car = c.Get(("/ipfs/" + f.cid.to_string() + "?format=car").c_str());
  ASSERT_TRUE(car);
  EXPECT_EQ(car->status, 200);
  EXPECT_TRUE(car->body == test::read_all(test::kIpfsFixtures + "/car/xs1_786449.kubo-cidv1.car"));
  EXPECT_EQ(car->get_header_value("Content-Type"), "application/vnd.ipld.car; version=1; order=dfs; dups=n");
  EXPECT_EQ(car->get_header_value("X-Ipfs-Path"), "/ipfs/" + f.cid.to_string());
  EXPECT_EQ(car->get_header_value("X-Content-Type-Options"), "nosniff");
  auto raw = c.Get(("/ipfs/" + f.cid.to_string()).c_str(), {{"Accept", "application/vnd.ipld.raw"}});
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->status, 200);
  EXPECT_EQ(raw->body, *served_.get(f.cid.hash));
  EXPECT_EQ(raw->get_header_value("Etag"), "\"" + f.cid.to_string() + ".raw\"");
  EXPECT_EQ(raw->get_header_value("Content-Type"), "application/vnd.ipld.raw");
  auto head = c.Head(("/ipfs/" + f.cid.to_string() + "?format=raw").c_str());
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());

  auto status = [&](const std::string& path, httplib::Headers h = {}) {
    auto r = c.Get(path.c_str(), h);
    return r ? r->status : -1;
  };
  EXPECT_EQ(status("/ipfs/" + f.cid.to_string()), 400);  // no trustless format asked
  EXPECT_EQ(status("/ipfs/not-a-cid?format=raw"), 400);
  EXPECT_EQ(status("/ipfs/" + f.cid.to_string() + "/x?format=raw"), 400);
  EXPECT_EQ(status("/ipfs/" + f.cid.to_string() + "?format=car&car-version=2"), 406);
  EXPECT_EQ(status("/ipfs/" + Cid::of(1, kCodecRaw, "absent").to_string() + "?format=raw"), 404);
  EXPECT_EQ(status("/ipfs/" + f.cid.to_string() + "?format=tar"), 400);
}

TEST_F(Gateway, ClientFetchesDirectoriesByCarAndByRawBlocksAndResumes) {
  MemoryBlockstore src;
  std::vector<DirEntryLink> entries;
  for (int i = 0; i < 3; ++i) {
    BuiltNode f = import_bytes(test::xorshift_bytes(10 + i, 300000 + i), served_, ImportOptions{});
    entries.push_back(DirEntryLink{"f" + std::to_string(i), f.cid, f.tsize});
  }
  BuiltNode dir = build_directory(entries, served_, 0);
  for (bool car : {true, false}) {
    MemoryBlockstore local;
    FetchOptions o;
    o.gateways = {"http://127.0.0.1:1", url_};  // the first refuses connections: the next is tried
    o.try_car = car;
    FetchStats st = fetch_dag(dir.cid, local, o);
    EXPECT_EQ(st.blocks_total, served_.size());
    EXPECT_EQ(local.size(), served_.size());
    std::stringstream out;
    cat_file(local, resolve_path(local, dir.cid, "f2"), out);
    EXPECT_EQ(out.str(), test::xorshift_bytes(12, 300002));
    // Resume: drop two blocks, fetch again: only those come over the wire.
    auto links = list_directory(local, dir.cid);
    local.remove(links[0].cid.hash);
    local.remove(links[1].cid.hash);
    FetchStats again = fetch_dag(dir.cid, local, o);
    EXPECT_EQ(again.blocks_fetched, 2u);
    EXPECT_EQ(local.size(), served_.size());
  }
}

TEST_F(Gateway, EntityBytesDupsAndScopesShapeTheCar) {
  BuiltNode f = import_bytes(test::xorshift_bytes(3, 1'000'000), served_, ImportOptions{});
  httplib::Client c("127.0.0.1", port_);
  std::string base = "/ipfs/" + f.cid.to_string() + "?format=car";
  auto whole = c.Get(base.c_str());
  auto first = c.Get((base + "&entity-bytes=0:0").c_str());
  ASSERT_TRUE(whole && first);
  EXPECT_EQ(first->status, 200);
  EXPECT_LT(first->body.size(), whole->body.size() / 2);  // the root and one leaf of four
  EXPECT_NE(first->get_header_value("Etag"), whole->get_header_value("Etag"));
  MemoryBlockstore got;
  CarStreamReader r([&](const Cid& cid, BytesView b) { got.put(cid, b); });
  r.feed(first->body);
  r.finish();
  EXPECT_EQ(got.size(), 2u);
  auto dups = c.Get((base + "&car-dups=y").c_str());
  ASSERT_TRUE(dups);
  EXPECT_EQ(dups->get_header_value("Content-Type"), "application/vnd.ipld.car; version=1; order=dfs; dups=y");
  auto status = [&](const std::string& q) {
    auto res = c.Get((base + q).c_str());
    return res ? res->status : -1;
  };
  EXPECT_EQ(status("&entity-bytes=5000000:*"), 400);  // wholly past the end
  EXPECT_EQ(status("&entity-bytes=x"), 400);
  EXPECT_EQ(status("&dag-scope=everything"), 400);
  EXPECT_EQ(status("&car-dups=maybe"), 400);
  EXPECT_EQ(c.Get(("/ipfs/" + f.cid.to_string() + "/no-such-name?format=car").c_str())->status,
            400);  // a file has no names
}

// One HTTP/1.1 connection to the gateway, read byte by byte as a client
// would: the chunked framing is checked as sent, not as httplib decodes it.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{10, 0};
    if (ok_) ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return ok_; }
  void send_get(const std::string& target) {
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    ASSERT_EQ(::send(fd_, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  }
  // Up to and including `end`, or what came before the connection closed.
  std::string read_until(const std::string& end) {
    while (buf_.find(end) == std::string::npos && fill()) {
    }
    size_t at = buf_.find(end);
    return take(at == std::string::npos ? buf_.size() : at + end.size());
  }
  std::string read_exactly(size_t n) {
    while (buf_.size() < n && fill()) {
    }
    return take(std::min(n, buf_.size()));
  }
  // Everything until the server closes the connection.
  std::string read_to_eof() {
    while (fill()) {
    }
    return take(buf_.size());
  }

 private:
  bool fill() {
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  std::string take(size_t n) {
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }
  int fd_;
  bool ok_ = false;
  std::string buf_;
};

// Reads a chunked body's chunks until the last (size 0) one; false when the
// framing is broken or the connection ends first. A chunk whose data came
// whole is kept even without its closing CRLF (the server sends that with the
// next chunk's size line, as a client that streams chunk data would see it).
bool read_chunks(RawConnection& conn, std::vector<std::string>& chunks) {
  for (;;) {
    const std::string line = conn.read_until("\r\n");
    if (line.size() < 3 || line.substr(line.size() - 2) != "\r\n") return false;
    const size_t size = std::stoul(line, nullptr, 16);
    const std::string data = conn.read_exactly(size + 2);
    if (size > 0 && data.size() >= size) chunks.push_back(data.substr(0, size));  // its data came whole
    if (data.size() != size + 2 || data.substr(size) != "\r\n") return false;
    if (size == 0) return true;
  }
}

// The CAR body is chunked by hand: one chunk for the header and one per
// section, ending in the last chunk, and the connection serves the next
// request after it (keep-alive stays intact).
TEST_F(Gateway, CarIsOneChunkPerSectionAndTheConnectionIsReused) {
  BuiltNode f = import_bytes(test::xorshift_bytes(1, 786449), served_, ImportOptions{1, {}, kDefaultChunkSize});
  const std::string fixture = test::read_all(test::kIpfsFixtures + "/car/xs1_786449.kubo-cidv1.car");
  RawConnection conn(port_);
  ASSERT_TRUE(conn.ok());
  for (int round = 0; round < 2; ++round) {  // the second CAR comes from the reused block buffer
    conn.send_get("/ipfs/" + f.cid.to_string() + "?format=car");
    const std::string head = conn.read_until("\r\n\r\n");
    ASSERT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
    EXPECT_NE(head.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << head;
    EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
    std::vector<std::string> chunks;
    ASSERT_TRUE(read_chunks(conn, chunks));
    std::string body;
    for (const auto& c : chunks) body += c;
    EXPECT_TRUE(body == fixture);
    size_t sections = 0;
    CarStreamReader r([&](const Cid&, BytesView) { ++sections; });
    uint64_t fed = 0;
    for (const auto& c : chunks) {
      r.feed(c);
      fed += c.size();
      EXPECT_EQ(r.offset(), fed);  // each chunk ends on a section boundary: all of it consumed
    }
    r.finish();
    EXPECT_EQ(chunks.size(), 1 + sections);
  }
  // A raw block on the same connection: sent from the buffer, with its length.
  const Cid small = Cid::of(1, kCodecRaw, "a raw block");
  served_.put(small, "a raw block");
  conn.send_get("/ipfs/" + small.to_string() + "?format=raw");
  const std::string head = conn.read_until("\r\n\r\n");
  ASSERT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_NE(head.find("Content-Length: 11\r\n"), std::string::npos) << head;
  EXPECT_EQ(conn.read_exactly(11), "a raw block");
}

// A corrupt block met while streaming cuts the CAR: the blocks before it are
// sent, the last chunk never is and the connection closes, so no client can
// take what came for a whole CAR.
TEST(GatewayStream, ACorruptBlockCutsTheCarBeforeItsLastChunk) {
  MemoryBlockstore whole, damaged;
  BuiltNode f = import_bytes(test::xorshift_bytes(9, 1'000'000), whole, ImportOptions{1, {}, kDefaultChunkSize});
  const std::vector<Cid> leaves = block_links(f.cid, *whole.get(f.cid.hash));
  ASSERT_EQ(leaves.size(), 4u);
  whole.for_each([&](const Multihash& mh) {
    Bytes b = *whole.get(mh);
    if (mh == leaves[2].hash) b[7] ^= 1;  // the third leaf: stored under its hash, one bit off
    damaged.put(Cid{1, kCodecRaw, mh}, b);
  });
  GatewayServer server(damaged);
  const int port = server.bind("127.0.0.1", 0);
  std::thread thread([&] { server.run(); });
  RawConnection conn(port);
  ASSERT_TRUE(conn.ok());
  conn.send_get("/ipfs/" + f.cid.to_string() + "?format=car");
  const std::string head = conn.read_until("\r\n\r\n");
  ASSERT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  std::vector<std::string> chunks;
  EXPECT_FALSE(read_chunks(conn, chunks));  // the connection ended without the last chunk
  EXPECT_EQ(chunks.size(), 1u + 3u);        // the header, the root and the two leaves before the bad one
  std::string body;
  for (const auto& c : chunks) body += c;
  CarStreamReader r([](const Cid&, BytesView) {});
  r.feed(body);
  EXPECT_EQ(r.blocks(), 3u);
  server.stop();
  thread.join();
}

TEST(GatewayClient, BlocksOutsideTheRequestedDagAreNotStored) {
  MemoryBlockstore src;
  BuiltNode f = import_bytes(test::xorshift_bytes(4, 300000), src, ImportOptions{1, {}, kDefaultChunkSize});
  Cid stray = Cid::of(1, kCodecRaw, "valid bytes, but not part of the DAG");
  std::stringstream car;
  write_car(src, f.cid, car);
  Bytes sb = stray.bytes();
  std::string body = car.str() + encode_varint(sb.size() + 36) + sb + "valid bytes, but not part of the DAG";
  httplib::Server gw;
  gw.Get(R"(/ipfs/(.+))", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(body, "application/vnd.ipld.car; version=1; order=dfs; dups=n");
  });
  int port = gw.bind_to_any_port("127.0.0.1");
  std::thread t([&] { gw.listen_after_bind(); });
  while (!gw.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  MemoryBlockstore local;
  FetchOptions o;
  o.gateways = {"http://127.0.0.1:" + std::to_string(port)};
  FetchStats st = fetch_dag(f.cid, local, o);
  EXPECT_EQ(st.blocks_total, 3u);
  EXPECT_EQ(local.size(), 3u);
  EXPECT_FALSE(local.has(stray.hash));
  gw.stop();
  t.join();
}

TEST(GatewayClient, LyingGatewayIsRejectedAndNothingIsStored) {
  httplib::Server liar;
  liar.Get(R"(/ipfs/(.+))", [](const httplib::Request& req, httplib::Response& res) {
    if (req.get_param_value("format") == "car") {
      // A CAR whose only block does not hash to its CID.
      Cid claimed = Cid::of(1, kCodecRaw, "the real bytes");
      Bytes cb = claimed.bytes();
      Bytes car = encode_car_header({claimed}) + static_cast<char>(cb.size() + 9) + cb + "forged!!!";
      res.set_content(car, "application/vnd.ipld.car");
    } else {
      res.set_content("forged bytes", "application/vnd.ipld.raw");
    }
  });
  int port = liar.bind_to_any_port("127.0.0.1");
  std::thread t([&] { liar.listen_after_bind(); });
  while (!liar.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  MemoryBlockstore local;
  FetchOptions o;
  o.gateways = {"http://127.0.0.1:" + std::to_string(port)};
  try {
    fetch_dag(Cid::of(1, kCodecRaw, "the real bytes"), local, o);
    ADD_FAILURE() << "accepted forged bytes";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unavailable);
    EXPECT_NE(std::string(e.what()).find("do not match"), std::string::npos) << e.what();
  }
  EXPECT_EQ(local.size(), 0u);
  liar.stop();
  t.join();
  EXPECT_THROW(fetch_dag(Cid::of(1, kCodecRaw, "x"), local, FetchOptions{}), Error);  // no gateway
}

// Our gateway behind a loopback proxy that records every request (and can
// answer 502 to all of them instead).
class CountingGateway {
 public:
  CountingGateway() : upstream_(served) {
    up_port_ = upstream_.bind("127.0.0.1", 0);
    up_thread_ = std::thread([this] { upstream_.run(); });
    front_.Get(R"(/ipfs/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mu_);
        requests_.push_back(req.target);
      }
      if (broken) {
        res.status = 502;
        return;
      }
      httplib::Client c("127.0.0.1", up_port_);
      httplib::Headers h;
      if (req.has_header("Accept")) h.emplace("Accept", req.get_header_value("Accept"));
      auto r = c.Get(req.target, h);
      if (!r) {
        res.status = 502;
        return;
      }
      res.status = r->status;
      res.set_content(r->body, r->get_header_value("Content-Type"));
    });
    port_ = front_.bind_to_any_port("127.0.0.1");
    front_thread_ = std::thread([this] { front_.listen_after_bind(); });
    while (!front_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~CountingGateway() {
    front_.stop();
    front_thread_.join();
    upstream_.stop();
    up_thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The request targets since the last call.
  std::vector<std::string> take() {
    std::lock_guard lock(mu_);
    return std::exchange(requests_, {});
  }

  MemoryBlockstore served;
  std::atomic<bool> broken{false};

 private:
  GatewayServer upstream_;
  int up_port_ = 0, port_ = 0;
  std::thread up_thread_, front_thread_;
  httplib::Server front_;
  std::mutex mu_;
  std::vector<std::string> requests_;
};

// A path that does not prove itself by CAR (a name the gateway answers 404
// for, --no-car, a failing gateway) is walked block by block: only the
// directories on the way are fetched, never root's whole DAG, and each
// directory once.
TEST(GatewayClient, PathFetchNeverFallsBackToTheWholeDag) {
  CountingGateway gw;
  BuiltNode big = import_bytes(test::xorshift_bytes(6, 1'000'000), gw.served, ImportOptions{});  // 4 leaves + root
  BuiltNode a = import_bytes("alpha", gw.served, ImportOptions{});
  BuiltNode sub = build_directory({{"a.txt", a.cid, a.tsize}}, gw.served, 0);
  BuiltNode root = build_directory({{"big.bin", big.cid, big.tsize}, {"sub", sub.cid, sub.tsize}}, gw.served, 0);
  const std::string r = root.cid.to_string();
  FetchOptions o;
  o.gateways = {gw.url()};

  // A name that does not exist: the path CAR is refused (404), then only the root block is read.
  MemoryBlockstore local;
  try {
    fetch_path(root.cid, "nope", local, o);
    ADD_FAILURE() << "a missing name was found";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find(r + "/nope"), std::string::npos) << e.what();
  }
  EXPECT_EQ(gw.take(), (std::vector<std::string>{"/ipfs/" + r + "/nope?format=car&dag-scope=all",
                                                 "/ipfs/" + root.cid.to_v1().to_string() + "?format=raw"}));
  EXPECT_EQ(local.size(), 1u);  // the root directory, not big.bin's 5 blocks
  EXPECT_FALSE(local.has(big.cid.hash));

  // Without CAR: root, sub, then the target; big.bin stays on the gateway.
  MemoryBlockstore raw_only;
  o.try_car = false;
  EXPECT_EQ(fetch_path(root.cid, "sub/a.txt", raw_only, o), a.cid);
  EXPECT_EQ(gw.take().size(), 3u);
  EXPECT_EQ(raw_only.size(), 3u);
  EXPECT_FALSE(raw_only.has(big.cid.hash));

  // A failing gateway: one path CAR, one block, then a clear error naming the path and the failure.
  MemoryBlockstore none;
  o.try_car = true;
  gw.broken = true;
  try {
    fetch_path(root.cid, "sub", none, o);
    ADD_FAILURE() << "fetched from a failing gateway";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unavailable);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("could not fetch " + r + "/sub"), std::string::npos) << msg;
    EXPECT_NE(msg.find("HTTP 502"), std::string::npos) << msg;
  }
  EXPECT_EQ(gw.take().size(), 2u);
  EXPECT_EQ(none.size(), 0u);
}

}  // namespace
}  // namespace ia::ipfs
