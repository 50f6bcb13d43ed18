#include "backends/cuda_library.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "backends/cuda_plugin_abi.h"

namespace ia {
namespace {

namespace fs = std::filesystem;

// The folders the library is looked for in, in order: $IA_CUDA_LIBRARY names the file itself;
// else beside the module holding this code (the program, or libipfs_accelerate.so), then its
// ../lib and ../<install libdir> (an installed prefix), then the same from /proc/self/exe.
std::vector<std::string> candidate_paths() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("IA_CUDA_LIBRARY"); env && *env) {
    out.emplace_back(env);
    return out;
  }
  std::vector<fs::path> dirs;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&load_cuda_backends), &info) && info.dli_fname) {
    std::error_code ec;
    fs::path self = fs::canonical(fs::path(info.dli_fname), ec);
    if (!ec) dirs.push_back(self.parent_path());
  }
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(exe.parent_path());
  for (const fs::path& d : std::vector<fs::path>(dirs)) {
    dirs.push_back(d.parent_path() / "lib");
#ifdef IA_INSTALL_LIBDIR
    dirs.push_back(d.parent_path() / IA_INSTALL_LIBDIR);  // e.g. lib/x86_64-linux-gnu
#endif
  }
  for (const fs::path& d : dirs) {
    std::string p = (d / kCudaPluginFile).string();
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  }
  return out;
}

}  // namespace

std::vector<std::unique_ptr<Backend>> load_cuda_backends(CudaLibraryStatus* status) {
  std::vector<std::unique_ptr<Backend>> backends;
#ifdef IA_CUDA_LIBRARY_BUILT
  status->built = true;
#else
  status->built = false;
  status->reason = "this build of ipfs-accelerate has no CUDA backend (nvcc was not found when it was built)";
  if (!std::getenv("IA_CUDA_LIBRARY")) return backends;
#endif
  std::vector<std::string> paths = candidate_paths();
  void* lib = nullptr;
  std::string tried;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      tried += (tried.empty() ? "" : ", ") + p;
      continue;
    }
    status->path = p;
    // RTLD_NOW: a missing symbol or library (cuBLASLt) fails here, with its name, not mid-run.
    lib = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* e = dlerror();
      status->reason = std::string("the CUDA backend library failed to load: ") + (e ? e : "unknown dlopen error");
      return backends;
    }
    break;
  }
  if (!lib) {
    status->reason = "the CUDA backend library " + std::string(kCudaPluginFile) + " was not found (looked for " +
                     tried + "; IA_CUDA_LIBRARY names it)";
    return backends;
  }
  auto create = reinterpret_cast<CudaPluginCreateFn>(dlsym(lib, kCudaPluginEntry));
  if (!create) {
    status->reason = status->path + " has no entry point " + kCudaPluginEntry;
    return backends;
  }
  status->loaded = true;
  std::string reason;
  status->devices = create(kCudaPluginAbiVersion, &backends, &reason);
  if (backends.empty()) status->reason = reason.empty() ? "no usable CUDA device" : reason;
  // The library stays loaded for the life of the process: its backends live in the registry.
  return backends;
}

}  // namespace ia
