#include "runtime/prompt_images.h"

#include <algorithm>

#include "core/error.h"

namespace ia {

namespace {

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t content_hash(const void* data, size_t bytes, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL ^ mix(seed);
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return mix(h ^ bytes);
}

std::vector<int32_t> PromptImages::cache_keys(std::span<const int32_t> prompt) const {
  std::vector<int32_t> keys(prompt.begin(), prompt.end());
  size_t image = 0;
  int64_t in_image = 0;
  for (int64_t pos : positions) {
    IA_CHECK(pos >= 0 && pos < static_cast<int64_t>(keys.size()) && image < image_hashes.size(),
             "prompt images: position {} of a {}-token prompt", pos, keys.size());
    const uint64_t k = mix(image_hashes[image] + static_cast<uint64_t>(in_image));
    keys[static_cast<size_t>(pos)] = static_cast<int32_t>(0x80000000u | static_cast<uint32_t>(k & 0x7fffffffu));
    if (++in_image == image_tokens[image]) {
      ++image;
      in_image = 0;
    }
  }
  return keys;
}

std::pair<int64_t, int64_t> PromptImages::rows_in(int64_t first, int64_t count) const {
  const auto lo = std::lower_bound(positions.begin(), positions.end(), first);
  const auto hi = std::lower_bound(positions.begin(), positions.end(), first + count);
  return {lo - positions.begin(), hi - lo};
}

}  // namespace ia
