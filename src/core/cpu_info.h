#pragma once
// What the host CPU can run: instruction-set features (cpuid, confirmed usable
// by the OS through XCR0), model name, core counts and memory. Used by the CPU
// backend's runtime ISA dispatch (one binary runs on AVX2-only and on AMX
// machines) and by the hardware report.
#include <cstdint>
#include <string>

namespace ia {

// Every flag is true only when the CPU reports the feature AND the OS saves the
// register state it needs (XCR0). AMX additionally needs a per-process
// permission on Linux: see request_amx_permission().
struct CpuFeatures {
  bool sse42 = false;
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512_vnni = false;
  bool avx512_bf16 = false;
  bool avx512_fp16 = false;
  bool amx_tile = false;
  bool amx_bf16 = false;
  bool amx_int8 = false;
  bool avx_vnni = false;
};

// Detected once, then cached. On non-x86 builds every flag is false.
const CpuFeatures& cpu_features();

// Linux gates AMX tile data behind arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
// Asks once per process (later calls return the cached answer); true when the
// CPU has AMX, the OS enables its state, and the permission was granted.
bool request_amx_permission();

// "Intel(R) Xeon(R) Platinum 8480+" from the cpuid brand string, else the
// /proc/cpuinfo "model name" line, else "unknown".
std::string cpu_model_name();
// "GenuineIntel", "AuthenticAMD", ... (cpuid leaf 0), else "unknown".
std::string cpu_vendor();

// Distinct (package, core) pairs of the online CPUs; never less than 1.
int cpu_physical_cores();
// Online logical processors (hardware threads); never less than 1.
int cpu_logical_cores();

// From /proc/meminfo (MemTotal, MemAvailable), clamped by a cgroup v2
// memory.max limit when one applies. 0 only when nothing can be read.
uint64_t total_memory_bytes();
uint64_t available_memory_bytes();

// The name of the best ISA level the CPU kernels may dispatch to:
// "amx" (AMX tile + bf16 + int8 usable, permission granted, over AVX-512),
// "avx512_bf16", "avx512" (F+BW+VL+DQ), "avx2" (AVX2+FMA+F16C), "sse4.2";
// "generic" on a CPU below that or on non-x86 builds.
std::string best_isa_name();

}  // namespace ia
