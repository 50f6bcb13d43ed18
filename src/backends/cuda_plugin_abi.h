#pragma once
// The one entry point of the CUDA backend library (libipfs_accelerate_cuda.so), which the
// backend registry loads with dlopen the first time a CUDA device is asked for. The library is
// built with the same compiler and headers as the program, so C++ types cross the boundary; the
// version guards against a library from another build.
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace ia {

// Raised whenever Backend (or anything else the library sees) changes shape: 2 added argmax and
// recording, 3 conv1d and group_norm, 4 conv2d and max_pool2d, 5 conv2d's bf16 products and
// conv2d_fused, 6 the int8 KV cache dtype (DType::Q8Kv; supports(PagedAttention, dtype) is asked
// with the cache's dtype), 7 storages charged to memory accounts (core/memory_account.h).
constexpr int kCudaPluginAbiVersion = 7;
constexpr const char* kCudaPluginEntry = "ia_cuda_plugin_create_backends";
constexpr const char* kCudaPluginFile = "libipfs_accelerate_cuda.so";

// Appends one backend per usable GPU to *out and returns how many; on 0, *reason says why
// (no driver, no device, a device this build cannot run on).
using CudaPluginCreateFn = int (*)(int abi_version, std::vector<std::unique_ptr<Backend>>* out, std::string* reason);

}  // namespace ia
