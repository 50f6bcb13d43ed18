// What a gateway request asks for (format, CAR parameters, Etag), and the
// gateway's error answers: status and JSON body from core/error_outcome.h.
#include "ipfs/gateway_negotiation.h"

#include <gtest/gtest.h>

#include <httplib.h>

#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "ipfs/gateway_server.h"
#include "ipfs/importer.h"
#include "unit/ipfs/fixtures.h"

namespace ia::ipfs {
namespace {

const std::string kCid = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq";  // raw "hello"

QueryParam params(std::map<std::string, std::string> m) {
  return [m](const char* name) -> std::optional<std::string> {
    auto it = m.find(name);
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

ErrorKind kind_of(std::string_view target, std::string_view accept, std::map<std::string, std::string> p) {
  try {
    negotiate_gateway_query(target, accept, params(std::move(p)));
  } catch (const NotAcceptable&) {
    return ErrorKind::Internal;  // marks 406 apart in these tests
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "accepted " << target;
  return ErrorKind::Internal;
}

TEST(GatewayNegotiation, FormatParamWinsOverAccept) {
  GatewayQuery q = negotiate_gateway_query(kCid + "/a/b/", "application/vnd.ipld.raw", params({{"format", "car"}}));
  EXPECT_EQ(q.format, GatewayFormat::Car);
  EXPECT_FALSE(q.from_accept);
  EXPECT_EQ(q.root.to_string(), kCid);
  EXPECT_EQ(q.path, "a/b");
  EXPECT_EQ(q.ipfs_path(), "/ipfs/" + kCid + "/a/b");
  EXPECT_EQ(q.etag(), "\"" + kCid + ".car\"");

  q = negotiate_gateway_query(kCid, "text/html, application/vnd.ipld.raw;q=0.9", params({}));
  EXPECT_EQ(q.format, GatewayFormat::Raw);
  EXPECT_TRUE(q.from_accept);
  EXPECT_EQ(q.etag(), "\"" + kCid + ".raw\"");
}

TEST(GatewayNegotiation, CarParametersFromQueryOrAccept) {
  GatewayQuery q = negotiate_gateway_query(kCid, "application/vnd.ipld.car; version=1; order=dfs; dups=y", params({}));
  EXPECT_EQ(q.format, GatewayFormat::Car);
  EXPECT_TRUE(q.car.dups);
  EXPECT_EQ(q.car.scope, DagScope::All);
  EXPECT_EQ(q.etag(), "\"" + kCid + ".car.dups\"");

  q = negotiate_gateway_query(kCid, "", params({{"format", "car"}, {"dag-scope", "block"}}));
  EXPECT_EQ(q.car.scope, DagScope::Block);
  EXPECT_EQ(q.etag(), "\"" + kCid + ".car.block\"");

  q = negotiate_gateway_query(kCid, "", params({{"format", "car"}, {"entity-bytes", "-10:*"}, {"car-dups", "n"}}));
  ASSERT_TRUE(q.car.bytes);
  EXPECT_EQ(q.car.bytes->from, -10);
  EXPECT_FALSE(q.car.bytes->to);
  EXPECT_EQ(q.etag(), "\"" + kCid + ".car.entity.-10:*\"");
}

TEST(GatewayNegotiation, RefusesWhatItDoesNotServe) {
  EXPECT_EQ(kind_of(kCid, "text/html", {}), ErrorKind::InvalidArgument);  // UnixFS bytes: not verifiable
  EXPECT_EQ(kind_of("not-a-cid", "", {{"format", "raw"}}), ErrorKind::InvalidArgument);
  EXPECT_EQ(kind_of(kCid, "", {{"format", "tar"}}), ErrorKind::InvalidArgument);
  EXPECT_EQ(kind_of(kCid, "", {{"format", ""}}), ErrorKind::InvalidArgument);
  EXPECT_EQ(kind_of(kCid + "/x", "", {{"format", "raw"}}), ErrorKind::InvalidArgument);
  EXPECT_EQ(kind_of(kCid, "", {{"format", "car"}, {"car-dups", "maybe"}}), ErrorKind::InvalidArgument);
  EXPECT_EQ(kind_of(kCid, "", {{"format", "car"}, {"dag-scope", "everything"}}), ErrorKind::InvalidArgument);
  // 406: a CAR this gateway does not write.
  EXPECT_EQ(kind_of(kCid, "", {{"format", "car"}, {"car-version", "2"}}), ErrorKind::Internal);
  EXPECT_EQ(kind_of(kCid, "application/vnd.ipld.car; version=2", {}), ErrorKind::Internal);
  EXPECT_EQ(kind_of(kCid, "application/vnd.ipld.car; order=bfs", {}), ErrorKind::Internal);
}

TEST(GatewayNegotiation, AcceptQValuesChooseTheFormat) {
  // The highest q wins, whatever the order.
  GatewayQuery q =
      negotiate_gateway_query(kCid, "application/vnd.ipld.raw;q=0.5, application/vnd.ipld.car;q=0.9", params({}));
  EXPECT_EQ(q.format, GatewayFormat::Car);
  q = negotiate_gateway_query(kCid, "application/vnd.ipld.car; q=0.2; dups=y, application/vnd.ipld.raw", params({}));
  EXPECT_EQ(q.format, GatewayFormat::Raw);
  // A tie: the first written.
  q = negotiate_gateway_query(kCid, "application/vnd.ipld.car, application/vnd.ipld.raw", params({}));
  EXPECT_EQ(q.format, GatewayFormat::Car);
  // q=0 takes a type out: the other is served, or 406 when none is left.
  q = negotiate_gateway_query(kCid, "application/vnd.ipld.raw;q=0, application/vnd.ipld.car;q=0.1", params({}));
  EXPECT_EQ(q.format, GatewayFormat::Car);
  EXPECT_EQ(kind_of(kCid, "application/vnd.ipld.raw;q=0", {}), ErrorKind::Internal);
  EXPECT_EQ(kind_of(kCid, "application/vnd.ipld.raw;q=0.0, application/vnd.ipld.car;q=0", {}), ErrorKind::Internal);
  // A malformed q drops its entry; nothing verifiable left is a 400.
  EXPECT_EQ(kind_of(kCid, "application/vnd.ipld.raw;q=high", {}), ErrorKind::InvalidArgument);
  EXPECT_EQ(kind_of(kCid, "application/vnd.ipld.raw;q=2", {}), ErrorKind::InvalidArgument);
  // q=nan is malformed too: it neither wins over q=1 nor stands alone.
  q = negotiate_gateway_query(kCid, "application/vnd.ipld.raw;q=nan, application/vnd.ipld.car", params({}));
  EXPECT_EQ(q.format, GatewayFormat::Car);
  EXPECT_EQ(kind_of(kCid, "application/vnd.ipld.raw;q=NaN", {}), ErrorKind::InvalidArgument);
  // So is an entry with two q's, one of them bad, whichever comes last.
  EXPECT_EQ(kind_of(kCid, "application/vnd.ipld.raw;q=high;q=0.5", {}), ErrorKind::InvalidArgument);
  // CAR parameters come from the chosen entry only: a refused CARv2 entry does not make it 406.
  q = negotiate_gateway_query(kCid, "application/vnd.ipld.car;version=2;q=0, application/vnd.ipld.car;dups=y",
                              params({}));
  EXPECT_EQ(q.format, GatewayFormat::Car);
  EXPECT_TRUE(q.car.dups);
}

// Errors come back as the OpenAI-style JSON body every HTTP edge writes; a
// corrupt block in the served store is refused (502), never served.
TEST(GatewayErrors, StatusAndJsonBodyComeFromTheOneMap) {
  MemoryBlockstore store;
  const Cid damaged = Cid::of(1, kCodecRaw, "original bytes");
  store.put(damaged, std::string("damaged bytes"));
  GatewayServer server(store);
  const int port = server.bind("127.0.0.1", 0);
  std::thread thread([&] { server.run(); });
  httplib::Client c("127.0.0.1", port);
  for (int i = 0; i < 100 && !c.Get("/ipfs/bafkqaaa?format=raw"); ++i) {  // until it listens
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto r = c.Get(("/ipfs/" + damaged.to_string() + "?format=raw").c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  auto body = nlohmann::json::parse(r->body);
  EXPECT_EQ(body["error"]["code"], "corrupt");
  EXPECT_EQ(body["error"]["type"], "server_error");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("does not match its hash"), std::string::npos);

  auto absent = c.Get(("/ipfs/" + Cid::of(1, kCodecRaw, "absent").to_string() + "?format=car").c_str());
  ASSERT_TRUE(absent);
  EXPECT_EQ(absent->status, 404);
  EXPECT_EQ(nlohmann::json::parse(absent->body)["error"]["type"], "not_found_error");

  auto v2 = c.Get(("/ipfs/" + damaged.to_string() + "?format=car&car-version=2").c_str());
  ASSERT_TRUE(v2);
  EXPECT_EQ(v2->status, 406);
  EXPECT_EQ(nlohmann::json::parse(v2->body)["error"]["message"], "only CARv1 is served");
  server.stop();
  thread.join();
}

}  // namespace
}  // namespace ia::ipfs
