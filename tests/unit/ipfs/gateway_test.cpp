// The trustless gateway server and client against each other over loopback,
// plus a lying gateway: every block is verified, nothing unverified is stored.
#include <gtest/gtest.h>

#include <httplib.h>

#include <sstream>
#include <thread>

#include "core/error.h"
#include "ipfs/car.h"
#include "ipfs/car_stream.h"
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

}  // namespace
}  // namespace ia::ipfs
