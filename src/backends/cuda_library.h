#pragma once
// Finding and loading the CUDA backend library (libipfs_accelerate_cuda.so) at run time, so one
// binary runs everywhere: on a machine without CUDA the library is never loaded (or fails to
// load) and the program keeps running on the CPU, saying why where a GPU was asked for.
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace ia {

struct CudaLibraryStatus {
  bool built = false;   // this build produced the library (nvcc was found)
  bool loaded = false;  // dlopen and the entry point succeeded
  std::string path;     // the file loaded (or the last one tried)
  int devices = 0;      // backends it made
  std::string reason;   // why there are none: not built, not found, failed to load, no device
};

// Loads the library and returns one backend per usable GPU; fills *status. Called once by the
// backend registry, outside its lock (see backend_registry.cpp).
std::vector<std::unique_ptr<Backend>> load_cuda_backends(CudaLibraryStatus* status);

// What the registry's one load found (loads first if it has not happened).
const CudaLibraryStatus& cuda_library_status();

}  // namespace ia
