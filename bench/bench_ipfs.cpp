// `ipfs add --only-hash` throughput beside the floor it cannot beat: OpenSSL's
// raw SHA-256 over the same bytes, in the same run. Every byte of a file is
// hashed once (in its leaf block) plus the small parent nodes, so the importer
// should reach >= 80% of the raw rate. Size: IA_BENCH_IPFS_MB (default 256).
#include <benchmark/benchmark.h>

#include <openssl/evp.h>

#include <cstdlib>
#include <string>

#include "ipfs/importer.h"

namespace {

const std::string& input() {
  static const std::string data = [] {
    size_t mb = 256;
    if (const char* e = std::getenv("IA_BENCH_IPFS_MB")) mb = std::strtoul(e, nullptr, 10);
    std::string out(mb << 20, '\0');
    uint32_t x = 1;  // the fixtures' xorshift32 stream
    for (size_t i = 0; i + 4 <= out.size(); i += 4) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      for (int k = 0; k < 4; ++k) out[i + k] = static_cast<char>(x >> (8 * k));
    }
    return out;
  }();
  return data;
}

void BM_Sha256Raw(benchmark::State& state) {
  const std::string& in = input();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char digest[32];
  unsigned int len = 0;
  for (auto _ : state) {
    // In 256 KiB pieces, the chunk size the importer hashes.
    for (size_t off = 0; off < in.size(); off += 262144) {
      EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
      EVP_DigestUpdate(ctx, in.data() + off, std::min<size_t>(262144, in.size() - off));
      EVP_DigestFinal_ex(ctx, digest, &len);
    }
    benchmark::DoNotOptimize(digest);
  }
  EVP_MD_CTX_free(ctx);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in.size()));
}
BENCHMARK(BM_Sha256Raw)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_AddOnlyHash(benchmark::State& state) {
  const std::string& in = input();
  ia::ipfs::ImportOptions o;
  o.cid_version = static_cast<uint64_t>(state.range(0));
  ia::ipfs::NullSink sink;
  for (auto _ : state) {
    ia::ipfs::FileImporter imp(sink, o);
    for (size_t off = 0; off < in.size(); off += 1 << 20) {  // fed 1 MiB at a time, like a file read
      imp.write(std::string_view(in).substr(off, 1 << 20));
    }
    benchmark::DoNotOptimize(imp.finish());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in.size()));
  state.SetLabel(o.cid_version ? "cidv1 raw leaves" : "cidv0 dag-pb leaves");
}
BENCHMARK(BM_AddOnlyHash)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
