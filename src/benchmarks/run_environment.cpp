#include "benchmarks/run_environment.h"

#include <sys/utsname.h>

#include <chrono>
#include <ctime>
#include <random>

#include <fmt/format.h>
#include <oneapi/dnnl/dnnl.h>

#include "backends/backend.h"
#include "backends/cpu/cpu_backend.h"
#include "benchmarks/build_commit.h"
#include "runtime/hardware.h"

#ifndef IA_VERSION
#define IA_VERSION "unknown"
#endif

namespace ia::benchmarks {

namespace {

std::string compiler_name() {
#if defined(__clang__)
  return fmt::format("clang {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
  return fmt::format("gcc {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

std::string format_time(const char* pattern) {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, pattern, &tm);
  return buf;
}

}  // namespace

MachineInfo this_machine() {
  const nlohmann::json hw = hardware_report();
  MachineInfo m;
  m.cpu_model = hw["cpu"].value("model", "unknown");
  m.physical_cores = hw["cpu"].value("physical_cores", 0);
  m.logical_cores = hw["cpu"].value("logical_cores", 0);
  for (const auto& [flag, on] : hw["cpu"]["isa"].items())
    if (on.is_boolean() && on.get<bool>()) m.cpu_isa += (m.cpu_isa.empty() ? "" : " ") + flag;
  m.memory_bytes = hw["memory"].value("total_bytes", uint64_t{0});
  const nlohmann::json& cuda = hw["cuda"];
  if (cuda.value("available", false) && cuda.contains("devices") && !cuda["devices"].empty()) {
    const nlohmann::json& first = cuda["devices"][0];
    const size_t n = cuda["devices"].size();
    m.gpu_name = first.value("name", "unknown") + (n > 1 ? fmt::format(" x{}", n) : "");
    m.gpu_memory_bytes = first.value("total_memory_bytes", uint64_t{0});
    m.gpu_driver = cuda.value("driver_version", "");
  }
  utsname u{};
  if (uname(&u) == 0) m.os = fmt::format("{} {} {}", u.sysname, u.release, u.machine);
  return m;
}

BuildInfo this_build(Device device) {
  BuildInfo b;
  b.version = IA_VERSION;
  b.commit = kBuildCommit;
  b.compiler = compiler_name();
  const dnnl_version_t* v = dnnl_version();
  b.backends = fmt::format("oneDNN {}.{}.{} ({})", v->major, v->minor, v->patch, cpu::onednn_isa_name());
  if (!device.is_cpu() && has_backend(device)) b.backends += "; " + backend_for(device).name();
  return b;
}

std::string utc_timestamp_now() {
  return format_time("%Y-%m-%dT%H:%M:%SZ");
}

std::string new_run_id() {
  std::random_device rd;
  return fmt::format("{}-{:08x}", format_time("%Y%m%dT%H%M%SZ"), rd());
}

}  // namespace ia::benchmarks
