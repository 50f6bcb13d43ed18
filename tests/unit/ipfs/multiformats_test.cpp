// Varints, multibase, multihash and CIDs against known vectors.
#include <gtest/gtest.h>

#include "core/error.h"
#include "ipfs/cid.h"
#include "ipfs/varint.h"
#include "unit/ipfs/fixtures.h"

namespace ia::ipfs {
namespace {

TEST(Varint, RoundTripAndStrictness) {
  for (uint64_t v : {0ull, 1ull, 127ull, 128ull, 300ull, 16384ull, (1ull << 63) - 1}) {
    Bytes b = encode_varint(v);
    EXPECT_EQ(b.size(), varint_size(v));
    size_t pos = 0;
    EXPECT_EQ(read_varint(b, pos), v);
    EXPECT_EQ(pos, b.size());
  }
  EXPECT_EQ(to_hex(encode_varint(300)), "ac02");
  size_t pos = 0;
  EXPECT_THROW(read_varint(from_hex("80"), pos), Error);  // truncated
  pos = 0;
  EXPECT_THROW(read_varint(from_hex("8000"), pos), Error);  // not minimal
  pos = 0;
  EXPECT_THROW(read_varint(from_hex("ffffffffffffffffff01"), pos), Error);  // > 9 bytes
}

TEST(Multibase, KnownEncodings) {
  // "yes mani !" from the multibase spec test vectors.
  const Bytes s = "yes mani !";
  EXPECT_EQ(multibase_encode(Multibase::Base58Btc, s), "z7paNL19xttacUY");
  EXPECT_EQ(multibase_encode(Multibase::Base32, s), "bpfsxgidnmfxgsibb");
  EXPECT_EQ(multibase_encode(Multibase::Base36, s), "k2lcpzo5yikidynfl");
  EXPECT_EQ(multibase_encode(Multibase::Base16, s), "f796573206d616e692021");
  EXPECT_EQ(multibase_encode(Multibase::Base64, s), "meWVzIG1hbmkgIQ");
  EXPECT_EQ(multibase_encode(Multibase::Base64Url, s), "ueWVzIG1hbmkgIQ");
  for (auto base : {Multibase::Base58Btc, Multibase::Base32, Multibase::Base36, Multibase::Base16, Multibase::Base64,
                    Multibase::Base64Url}) {
    for (const Bytes& in : {Bytes(), Bytes("\0\0ab", 4), s, Bytes(100, '\xff')}) {
      Multibase got;
      EXPECT_EQ(multibase_decode(multibase_encode(base, in), &got), in) << multibase_name(base);
      EXPECT_EQ(got, base);
    }
  }
  EXPECT_EQ(multibase_decode("BPFSXGIDNMFXGSIBB"), s);  // upper-case base32
  EXPECT_THROW(multibase_decode("b1"), Error);
  EXPECT_THROW(multibase_decode("z0OIl"), Error);
  EXPECT_THROW(multibase_decode("?abc"), Error);
  EXPECT_THROW(multibase_decode(""), Error);
}

TEST(Multihash, Sha256AndIdentity) {
  Multihash mh = compute_multihash(kHashSha256, "hello world");
  EXPECT_EQ(to_hex(mh.bytes()), "1220b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
  EXPECT_TRUE(multihash_matches(mh, "hello world"));
  EXPECT_FALSE(multihash_matches(mh, "hello worle"));
  Multihash id = compute_multihash(kHashIdentity, "abc");
  EXPECT_EQ(to_hex(id.bytes()), "0003616263");
  EXPECT_THROW(parse_multihash(from_hex("1220aa")), Error);                 // truncated
  EXPECT_THROW(parse_multihash(from_hex("1310") + Bytes(16, 'a')), Error);  // unknown code
  EXPECT_THROW(parse_multihash(from_hex("1210") + Bytes(16, 'a')), Error);  // sha256 of 16 bytes
  Sha256 h;
  h.update("hello ");
  h.update("world");
  EXPECT_EQ(h.finish(), mh.digest);
}

TEST(Cid, ParseFormatConvert) {
  Cid v0 = Cid::parse("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
  EXPECT_EQ(v0.version, 0u);
  EXPECT_EQ(v0.codec, kCodecDagPb);
  EXPECT_EQ(v0.to_string(), "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
  Cid v1 = v0.to_v1();
  EXPECT_EQ(v1.to_string().substr(0, 4), "bafy");
  EXPECT_EQ(Cid::parse(v1.to_string()), v1);
  EXPECT_EQ(Cid::parse(v1.to_string()).to_v0(), v0);
  for (auto base : {Multibase::Base58Btc, Multibase::Base32, Multibase::Base36, Multibase::Base16, Multibase::Base64,
                    Multibase::Base64Url}) {
    EXPECT_EQ(Cid::parse(v1.to_string(base)), v1) << multibase_name(base);
  }
  Cid raw = Cid::parse("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
  EXPECT_EQ(raw.codec, kCodecRaw);
  EXPECT_EQ(raw.hash.digest, sha256(""));
  EXPECT_THROW(raw.to_v0(), Error);
  EXPECT_EQ(Cid::from_bytes(raw.bytes()), raw);
  // The identity probe CID of the trustless-gateway spec.
  Cid probe = Cid::parse("bafkqaaa");
  EXPECT_EQ(probe.hash.code, kHashIdentity);
  EXPECT_TRUE(probe.hash.digest.empty());
  EXPECT_EQ(probe.to_string(), "bafkqaaa");
}

TEST(Cid, MalformedStringsAreClearErrors) {
  for (const char* bad : {"", "Qm", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQ0", "bafy", "b!!!!",
                          "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk", "zzzz", "hello"}) {
    try {
      Cid::parse(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_TRUE(e.kind() == ErrorKind::InvalidArgument || e.kind() == ErrorKind::Unsupported)
          << bad << ": " << e.what();
    }
  }
}

TEST(Cid, EveryFixtureCidRoundTrips) {
  size_t n = 0;
  auto check = [&](const std::string& s) {
    Cid c = Cid::parse(s);
    EXPECT_EQ(c.to_string(), s);
    EXPECT_EQ(Cid::from_bytes(c.bytes()), c);
    ++n;
  };
  for (const auto& f : test::cids_json()["files"]) {
    for (const auto& [mode, m] : f["cids"].items()) check(m["root"]);
  }
  for (const auto& t : test::cids_json()["trees"]) {
    for (const auto& [mode, m] : t["cids"].items()) {
      for (const auto& [p, c] : m["entries"].items()) check(c);
    }
  }
  for (const auto& v : test::kubo_vectors()["vectors"]) check(v["cid"]);
  EXPECT_GT(n, 60u);
}

}  // namespace
}  // namespace ia::ipfs
