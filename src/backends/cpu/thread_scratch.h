#pragma once
// A calling thread's reusable work buffer (packed GEMM rows, partial sums, oneDNN scratchpads,
// rounded activations): grown to the largest request, never shrunk, freed at thread exit. One
// buffer per thread and per `Tag`, so two users on one thread never share a buffer.
#include <cstddef>
#include <cstdlib>
#include <memory>

#include "core/error.h"

namespace ia::cpu {

template <class Tag>
void* thread_scratch(size_t bytes, size_t alignment = 64) {
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<void, Free> buffer;
  thread_local size_t have = 0;
  if (bytes > have || buffer == nullptr) {
    const size_t rounded = (bytes + alignment - 1) / alignment * alignment;
    buffer.reset(std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded));
    if (buffer == nullptr) {
      have = 0;
      fail(ErrorKind::Unavailable, "out of memory for a {}-byte work buffer", rounded);
    }
    have = rounded;
  }
  return buffer.get();
}

}  // namespace ia::cpu
