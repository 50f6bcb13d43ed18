#include "core/cpu_info.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace ia {
namespace {

// The "flags" line of /proc/cpuinfo as a set; empty when unreadable (non-Linux, non-x86).
std::set<std::string> proc_cpu_flags() {
  std::set<std::string> flags;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::stringstream ss(line.substr(colon + 1));
    std::string f;
    while (ss >> f) flags.insert(f);
    break;
  }
  return flags;
}

TEST(CpuInfo, FeatureImplicationsHold) {
  const CpuFeatures& f = cpu_features();
  // Every real AVX-512 CPU also has AVX2/FMA; OS-enabled ZMM state implies YMM state.
  if (f.avx512f) {
    EXPECT_TRUE(f.avx2);
    EXPECT_TRUE(f.avx);
    EXPECT_TRUE(f.fma);
  }
  if (f.avx2 || f.fma || f.f16c || f.avx_vnni) {
    EXPECT_TRUE(f.avx);
  }
  for (bool sub : {f.avx512bw, f.avx512vl, f.avx512dq, f.avx512_vnni, f.avx512_bf16, f.avx512_fp16}) {
    if (sub) {
      EXPECT_TRUE(f.avx512f);
    }
  }
  if (f.amx_bf16 || f.amx_int8) {
    EXPECT_TRUE(f.amx_tile);
  }
  if (f.avx) {
    EXPECT_TRUE(f.sse42);
  }
}

TEST(CpuInfo, CachedReferenceIsStable) {
  EXPECT_EQ(&cpu_features(), &cpu_features());
}

TEST(CpuInfo, MatchesProcCpuinfoFlags) {
  std::set<std::string> flags = proc_cpu_flags();
  if (flags.empty()) GTEST_SKIP() << "no flags line in /proc/cpuinfo";
  const CpuFeatures& f = cpu_features();
  // The kernel lists a flag only when it supports the state, as our XCR0 check requires.
  auto has = [&](const char* n) { return flags.count(n) != 0; };
  EXPECT_EQ(f.sse42, has("sse4_2"));
  EXPECT_EQ(f.avx, has("avx"));
  EXPECT_EQ(f.avx2, has("avx2"));
  EXPECT_EQ(f.fma, has("fma"));
  EXPECT_EQ(f.f16c, has("f16c"));
  EXPECT_EQ(f.avx512f, has("avx512f"));
  EXPECT_EQ(f.avx512bw, has("avx512bw"));
  EXPECT_EQ(f.avx512vl, has("avx512vl"));
  EXPECT_EQ(f.avx512dq, has("avx512dq"));
  EXPECT_EQ(f.avx512_vnni, has("avx512_vnni"));
  EXPECT_EQ(f.avx512_bf16, has("avx512_bf16"));
  EXPECT_EQ(f.avx512_fp16, has("avx512_fp16"));
  EXPECT_EQ(f.amx_tile, has("amx_tile"));
  EXPECT_EQ(f.amx_bf16, has("amx_bf16"));
  EXPECT_EQ(f.amx_int8, has("amx_int8"));
  EXPECT_EQ(f.avx_vnni, has("avx_vnni"));
}

TEST(CpuInfo, AmxPermissionIsConsistent) {
  const bool granted = request_amx_permission();
  if (!cpu_features().amx_tile) {
    EXPECT_FALSE(granted);
  }
  EXPECT_EQ(granted, request_amx_permission());  // cached
  if (granted) {
    EXPECT_EQ(best_isa_name().rfind("amx", 0), 0u) << "AMX usable but best ISA is " << best_isa_name();
  }
}

TEST(CpuInfo, BestIsaMatchesFeatures) {
  const CpuFeatures& f = cpu_features();
  const std::string isa = best_isa_name();
  const std::set<std::string> known = {"amx", "avx512_bf16", "avx512", "avx2", "sse4.2", "generic"};
  EXPECT_TRUE(known.count(isa)) << isa;
  const bool avx512 = f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
  if (isa == "amx") {
    EXPECT_TRUE(avx512 && f.amx_tile && f.amx_bf16 && f.amx_int8);
  }
  if (isa == "avx512_bf16") {
    EXPECT_TRUE(avx512 && f.avx512_bf16);
  }
  if (isa == "avx512") {
    EXPECT_TRUE(avx512 && !f.avx512_bf16);
  }
  if (isa == "avx2") {
    EXPECT_TRUE(f.avx2 && f.fma);
    EXPECT_FALSE(avx512);
  }
  if (f.avx2 && f.fma && f.f16c) {
    EXPECT_NE(isa, "sse4.2");
  }
#if defined(__x86_64__)
  EXPECT_TRUE(f.sse42) << "every x86-64 CPU we can run on has SSE4.2";
  EXPECT_NE(isa, "generic");
#endif
}

TEST(CpuInfo, ModelAndVendor) {
  EXPECT_FALSE(cpu_model_name().empty());
  EXPECT_NE(cpu_model_name(), "unknown");
  EXPECT_EQ(cpu_model_name().find('\0'), std::string::npos);
  EXPECT_FALSE(cpu_vendor().empty());
#if defined(__x86_64__)
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("vendor_id", 0) == 0) {
      EXPECT_NE(line.find(cpu_vendor()), std::string::npos) << line;
      break;
    }
  }
#endif
}

TEST(CpuInfo, CoreCounts) {
  EXPECT_GE(cpu_logical_cores(), 1);
  EXPECT_GE(cpu_physical_cores(), 1);
  EXPECT_LE(cpu_physical_cores(), cpu_logical_cores());
}

TEST(CpuInfo, Memory) {
  const uint64_t total = total_memory_bytes();
  const uint64_t avail = available_memory_bytes();
  EXPECT_GT(total, 0u);
  EXPECT_GT(avail, 0u);
  EXPECT_LE(avail, total);
  EXPECT_GE(total, uint64_t{64} << 20) << "less than 64 MiB of memory is implausible";
}

}  // namespace
}  // namespace ia
