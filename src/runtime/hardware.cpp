#include "runtime/hardware.h"

#include <dlfcn.h>

#include <fmt/format.h>
#include <cstddef>
#include <utility>

#include "backends/backend.h"
#include "backends/cuda_library.h"
#include "core/cpu_info.h"

namespace ia {

namespace {

// The few CUDA driver API entry points we need, declared by hand (no CUDA
// headers: this file builds where CUDA is not installed). Linux ABI: plain C.
using CUresult = int;
using CUdevice = int;
using PFN_cuInit = CUresult (*)(unsigned int flags);
using PFN_cuDriverGetVersion = CUresult (*)(int* version);
using PFN_cuDeviceGetCount = CUresult (*)(int* count);
using PFN_cuDeviceGet = CUresult (*)(CUdevice* device, int ordinal);
using PFN_cuDeviceGetName = CUresult (*)(char* name, int len, CUdevice device);
using PFN_cuDeviceTotalMem_v2 = CUresult (*)(size_t* bytes, CUdevice device);
using PFN_cuDeviceGetAttribute = CUresult (*)(int* value, int attribute, CUdevice device);
using PFN_cuGetErrorName = CUresult (*)(CUresult error, const char** name);
using PFN_cuGetErrorString = CUresult (*)(CUresult error, const char** text);

constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;

struct CudaProbe {
  bool driver_loaded = false;
  std::string driver_version;  // "12.4"
  std::vector<CudaDeviceInfo> devices;
  std::string reason;  // why devices is empty
};

// Names for the errors a probe meets most, for drivers whose cuGetErrorName is missing.
const char* known_error(CUresult r) {
  switch (r) {
    case 1: return "CUDA_ERROR_INVALID_VALUE";
    case 2: return "CUDA_ERROR_OUT_OF_MEMORY";
    case 3: return "CUDA_ERROR_NOT_INITIALIZED";
    case 4: return "CUDA_ERROR_DEINITIALIZED";
    case 34: return "CUDA_ERROR_STUB_LIBRARY: the CUDA stub library was loaded instead of the driver";
    case 46: return "CUDA_ERROR_DEVICE_UNAVAILABLE";
    case 100: return "CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected";
    case 101: return "CUDA_ERROR_INVALID_DEVICE";
    case 803: return "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: driver and kernel module versions differ";
    case 804: return "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE";
    case 999: return "CUDA_ERROR_UNKNOWN";
  }
  return nullptr;
}

template <typename Fn>
Fn lookup(void* lib, const char* name) {
  return reinterpret_cast<Fn>(dlsym(lib, name));
}

CudaProbe probe_cuda() {
  CudaProbe p;
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e1 = dlerror();
    std::string first = e1 ? e1 : "unknown dlopen error";
    lib = dlopen("libcuda.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      p.reason = "libcuda.so.1 not found (no NVIDIA driver installed?): " + first;
      return p;
    }
  }
  // The library stays loaded for the life of the process: unloading the CUDA
  // driver after cuInit is not safe, and a CUDA backend will use it anyway.
  p.driver_loaded = true;

  auto cuGetErrorName = lookup<PFN_cuGetErrorName>(lib, "cuGetErrorName");
  auto cuGetErrorString = lookup<PFN_cuGetErrorString>(lib, "cuGetErrorString");
  auto describe = [&](const char* call, CUresult r) {
    const char* name = nullptr;
    const char* text = nullptr;
    if (cuGetErrorName && cuGetErrorName(r, &name) != 0) name = nullptr;
    if (cuGetErrorString && cuGetErrorString(r, &text) != 0) text = nullptr;
    std::string what;
    if (name && text) {
      what = fmt::format("{}: {}", name, text);
    } else if (const char* k = known_error(r)) {
      what = k;
    } else {
      what = name ? name : (text ? text : "unknown error");
    }
    return fmt::format("{} failed with error {} ({})", call, r, what);
  };

  struct Sym {
    const char* name;
    void** slot;
  };
  void* fn_init = nullptr;
  void* fn_version = nullptr;
  void* fn_count = nullptr;
  void* fn_get = nullptr;
  void* fn_name = nullptr;
  void* fn_mem = nullptr;
  void* fn_attr = nullptr;
  const Sym syms[] = {{"cuInit", &fn_init},
                      {"cuDriverGetVersion", &fn_version},
                      {"cuDeviceGetCount", &fn_count},
                      {"cuDeviceGet", &fn_get},
                      {"cuDeviceGetName", &fn_name},
                      {"cuDeviceTotalMem_v2", &fn_mem},
                      {"cuDeviceGetAttribute", &fn_attr}};
  for (const Sym& s : syms) {
    dlerror();
    *s.slot = dlsym(lib, s.name);
    if (!*s.slot) {
      const char* e = dlerror();
      p.reason = fmt::format("the CUDA driver library has no symbol {}: {}", s.name, e ? e : "null");
      return p;
    }
  }
  auto cuInit = reinterpret_cast<PFN_cuInit>(fn_init);
  auto cuDriverGetVersion = reinterpret_cast<PFN_cuDriverGetVersion>(fn_version);
  auto cuDeviceGetCount = reinterpret_cast<PFN_cuDeviceGetCount>(fn_count);
  auto cuDeviceGet = reinterpret_cast<PFN_cuDeviceGet>(fn_get);
  auto cuDeviceGetName = reinterpret_cast<PFN_cuDeviceGetName>(fn_name);
  auto cuDeviceTotalMem = reinterpret_cast<PFN_cuDeviceTotalMem_v2>(fn_mem);
  auto cuDeviceGetAttribute = reinterpret_cast<PFN_cuDeviceGetAttribute>(fn_attr);

  int version = 0;
  if (cuDriverGetVersion(&version) == 0 && version > 0) {
    p.driver_version = fmt::format("{}.{}", version / 1000, (version % 1000) / 10);
  }
  if (CUresult r = cuInit(0); r != 0) {
    p.reason = describe("cuInit", r);
    return p;
  }
  int count = 0;
  if (CUresult r = cuDeviceGetCount(&count); r != 0) {
    p.reason = describe("cuDeviceGetCount", r);
    return p;
  }
  if (count <= 0) {
    p.reason = "the CUDA driver reports no devices (check CUDA_VISIBLE_DEVICES)";
    return p;
  }
  std::string failures;
  for (int i = 0; i < count; ++i) {
    auto note = [&](const std::string& what) { failures += (failures.empty() ? "" : "; ") + what; };
    CUdevice dev = 0;
    if (CUresult r = cuDeviceGet(&dev, i); r != 0) {
      note(describe(fmt::format("cuDeviceGet({})", i).c_str(), r));
      continue;
    }
    CudaDeviceInfo info;
    info.index = i;
    char name[256] = {};
    if (CUresult r = cuDeviceGetName(name, static_cast<int>(sizeof(name) - 1), dev); r != 0) {
      note(describe(fmt::format("cuDeviceGetName({})", i).c_str(), r));
      continue;
    }
    info.name = name;
    size_t bytes = 0;
    if (CUresult r = cuDeviceTotalMem(&bytes, dev); r != 0) {
      note(describe(fmt::format("cuDeviceTotalMem({})", i).c_str(), r));
      continue;
    }
    info.total_memory_bytes = bytes;
    const std::pair<int, int*> attrs[] = {{CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, &info.cc_major},
                                          {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, &info.cc_minor},
                                          {CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, &info.multiprocessors}};
    bool ok = true;
    for (const auto& [attr, out] : attrs) {
      if (CUresult r = cuDeviceGetAttribute(out, attr, dev); r != 0) {
        note(describe(fmt::format("cuDeviceGetAttribute({}, {})", attr, i).c_str(), r));
        ok = false;
        break;
      }
    }
    if (ok) p.devices.push_back(std::move(info));
  }
  if (p.devices.empty()) p.reason = failures;
  return p;
}

const CudaProbe& cuda_probe() {
  static const CudaProbe probe = probe_cuda();
  return probe;
}

}  // namespace

std::vector<CudaDeviceInfo> cuda_devices(std::string* reason) {
  const CudaProbe& p = cuda_probe();
  if (reason) *reason = p.devices.empty() ? p.reason : std::string();
  return p.devices;
}

std::string cuda_driver_version() {
  return cuda_probe().driver_version;
}

nlohmann::json hardware_report() {
  using nlohmann::json;
  const CpuFeatures& f = cpu_features();
  json isa = {
      {"sse42", f.sse42},
      {"avx", f.avx},
      {"avx2", f.avx2},
      {"fma", f.fma},
      {"f16c", f.f16c},
      {"avx512f", f.avx512f},
      {"avx512bw", f.avx512bw},
      {"avx512vl", f.avx512vl},
      {"avx512dq", f.avx512dq},
      {"avx512_vnni", f.avx512_vnni},
      {"avx512_bf16", f.avx512_bf16},
      {"avx512_fp16", f.avx512_fp16},
      {"amx_tile", f.amx_tile},
      {"amx_bf16", f.amx_bf16},
      {"amx_int8", f.amx_int8},
      {"avx_vnni", f.avx_vnni},
  };
  json cpu = {
      {"model", cpu_model_name()},
      {"vendor", cpu_vendor()},
      {"physical_cores", cpu_physical_cores()},
      {"logical_cores", cpu_logical_cores()},
      {"isa", isa},
      {"best_isa", best_isa_name()},
  };
  json memory = {
      {"total_bytes", total_memory_bytes()},
      {"available_bytes", available_memory_bytes()},
  };

  const CudaProbe& p = cuda_probe();
  json cuda = json::object();
  cuda["available"] = !p.devices.empty();
  if (p.devices.empty()) cuda["reason"] = p.reason;
  if (!p.driver_version.empty()) cuda["driver_version"] = p.driver_version;
  json devices = json::array();
  for (const CudaDeviceInfo& d : p.devices) {
    json dev = {
        {"index", d.index},
        {"name", d.name},
        {"total_memory_bytes", d.total_memory_bytes},
        {"compute_capability", d.compute_capability()},
        {"multiprocessors", d.multiprocessors},
    };
    // Free memory needs a context, which the backend holds (the driver probe opens none).
    if (has_backend(Device::cuda(d.index)))
      if (auto m = backend_for(Device::cuda(d.index)).memory_info()) dev["free_memory_bytes"] = m->free_bytes;
    devices.push_back(std::move(dev));
  }
  cuda["devices"] = std::move(devices);
  // The backend library: whether this build has it, where it was loaded from, and the device
  // names it runs on (with the CUDA runtime version), or why it runs on none.
  const CudaLibraryStatus& library = cuda_library_status();
  json backend = {{"built", library.built}, {"loaded", library.loaded}};
  if (!library.path.empty()) backend["path"] = library.path;
  json backend_devices = json::array();
  for (int i = 0; has_backend(Device::cuda(i)); ++i) backend_devices.push_back(backend_for(Device::cuda(i)).name());
  backend["devices"] = std::move(backend_devices);
  if (library.devices == 0) backend["reason"] = library.reason;
  cuda["backend"] = std::move(backend);

  return json{{"cpu", std::move(cpu)}, {"memory", std::move(memory)}, {"cuda", std::move(cuda)}};
}

}  // namespace ia
