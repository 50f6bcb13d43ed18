#pragma once
// Shared helpers for the IPFS unit tests: the fixtures' PRNG inputs and cids.json.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

namespace ia::ipfs::test {

inline const std::string kIpfsFixtures = std::string(IA_FIXTURES_DIR) + "/ipfs";

// The fixtures' "xorshift32-le" stream: the first n bytes for `seed`.
inline std::string xorshift_bytes(uint32_t seed, size_t n) {
  std::string out(n, '\0');
  uint32_t x = seed;
  for (size_t i = 0; i < n; i += 4) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    for (size_t k = 0; k < 4 && i + k < n; ++k) out[i + k] = static_cast<char>((x >> (8 * k)) & 0xff);
  }
  return out;
}

inline std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline const nlohmann::json& cids_json() {
  static const nlohmann::json j = nlohmann::json::parse(read_all(kIpfsFixtures + "/cids.json"));
  return j;
}

inline const nlohmann::json& kubo_vectors() {
  static const nlohmann::json j = nlohmann::json::parse(read_all(kIpfsFixtures + "/reference/kubo_vectors.json"));
  return j;
}

}  // namespace ia::ipfs::test
