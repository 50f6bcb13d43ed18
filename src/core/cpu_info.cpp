#include "core/cpu_info.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#define IA_X86 1
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#else
#define IA_X86 0
#endif

namespace ia {

namespace {

std::string trim(std::string s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::optional<std::string> read_first_line(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  return trim(line);
}

std::optional<uint64_t> parse_u64(const std::string& s) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
    if (next / 10 != v) return std::nullopt;  // overflow
    v = next;
  }
  return v;
}

// The value of the first "key : value" line of /proc/cpuinfo with this key.
std::string proc_cpuinfo_value(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (trim(line.substr(0, colon)) == key) return trim(line.substr(colon + 1));
  }
  return {};
}

#if IA_X86
struct Regs {
  unsigned a = 0, b = 0, c = 0, d = 0;
};

// False when the leaf is above the maximum the CPU supports.
bool cpuid(unsigned leaf, unsigned subleaf, Regs* r) {
  return __get_cpuid_count(leaf, subleaf, &r->a, &r->b, &r->c, &r->d) != 0;
}

uint64_t read_xcr0() {
  unsigned eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

inline bool bit(unsigned reg, int n) {
  return ((reg >> n) & 1u) != 0;
}
#endif

CpuFeatures detect_features() {
  CpuFeatures f;
#if IA_X86
  Regs l1;
  if (!cpuid(1, 0, &l1)) return f;
  f.sse42 = bit(l1.c, 20);

  const bool osxsave = bit(l1.c, 27);
  const uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  const bool os_avx = (xcr0 & 0x6) == 0x6;                 // XMM (1) + YMM (2)
  const bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;  // opmask (5), ZMM_Hi256 (6), Hi16_ZMM (7)
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;         // XTILECFG (17), XTILEDATA (18)

  f.avx = os_avx && bit(l1.c, 28);
  f.fma = f.avx && bit(l1.c, 12);
  f.f16c = f.avx && bit(l1.c, 29);

  Regs l7;
  if (cpuid(7, 0, &l7)) {
    f.avx2 = f.avx && bit(l7.b, 5);
    f.avx512f = os_avx512 && bit(l7.b, 16);
    f.avx512dq = f.avx512f && bit(l7.b, 17);
    f.avx512bw = f.avx512f && bit(l7.b, 30);
    f.avx512vl = f.avx512f && bit(l7.b, 31);
    f.avx512_vnni = f.avx512f && bit(l7.c, 11);
    f.avx512_fp16 = f.avx512f && bit(l7.d, 23);
    f.amx_bf16 = os_amx && bit(l7.d, 22);
    f.amx_tile = os_amx && bit(l7.d, 24);
    f.amx_int8 = os_amx && bit(l7.d, 25);
    // The AMX compute extensions are meaningless without the tile architecture.
    if (!f.amx_tile) f.amx_bf16 = f.amx_int8 = false;
    if (l7.a >= 1) {  // leaf 7 subleaf 1 exists
      Regs l71;
      cpuid(7, 1, &l71);
      f.avx_vnni = f.avx && bit(l71.a, 4);
      f.avx512_bf16 = f.avx512f && bit(l71.a, 5);
    }
  }
#endif
  return f;
}

// Online CPU numbers from /sys/devices/system/cpu/online ("0-3,8-11").
std::vector<int> online_cpus() {
  std::vector<int> cpus;
  auto line = read_first_line("/sys/devices/system/cpu/online");
  if (!line) return cpus;
  std::stringstream ss(*line);
  std::string part;
  while (std::getline(ss, part, ',')) {
    size_t dash = part.find('-');
    auto lo = parse_u64(trim(part.substr(0, dash)));
    auto hi = dash == std::string::npos ? lo : parse_u64(trim(part.substr(dash + 1)));
    if (!lo || !hi || *hi < *lo || *hi > 65535) return {};
    for (uint64_t c = *lo; c <= *hi; ++c) cpus.push_back(static_cast<int>(c));
  }
  return cpus;
}

int count_physical_cores() {
  // 1. sysfs topology of the online CPUs.
  std::set<std::pair<std::string, std::string>> cores;
  for (int c : online_cpus()) {
    std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(c) + "/topology/";
    auto pkg = read_first_line(dir + "physical_package_id");
    auto core = read_first_line(dir + "core_id");
    if (!pkg || !core) {
      cores.clear();
      break;
    }
    cores.emplace(*pkg, *core);
  }
  if (!cores.empty()) return static_cast<int>(cores.size());

  // 2. "physical id" / "core id" pairs of /proc/cpuinfo.
  std::ifstream in("/proc/cpuinfo");
  std::string line, phys = "0";
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = trim(line.substr(0, colon));
    if (key == "physical id") phys = trim(line.substr(colon + 1));
    if (key == "core id") cores.emplace(phys, trim(line.substr(colon + 1)));
  }
  if (!cores.empty()) return static_cast<int>(cores.size());

  // 3. No topology information (some VMs, non-Linux): assume no SMT.
  return cpu_logical_cores();
}

// kB value of a /proc/meminfo field, in bytes.
std::optional<uint64_t> meminfo_bytes(const std::string& field) {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos || line.substr(0, colon) != field) continue;
    std::string rest = trim(line.substr(colon + 1));
    size_t sp = rest.find(' ');
    auto kb = parse_u64(rest.substr(0, sp));
    if (!kb) return std::nullopt;
    return *kb * 1024;
  }
  return std::nullopt;
}

struct CgroupMemory {
  uint64_t limit = 0;  // 0: no limit found
  uint64_t usage = 0;
};

// The tightest memory limit of the cgroup this process runs in (v2, else v1).
CgroupMemory cgroup_memory() {
  CgroupMemory best;
  auto consider = [&](const std::string& limit_path, const std::string& usage_path) {
    auto l = read_first_line(limit_path);
    if (!l) return;
    auto limit = parse_u64(*l);  // "max" (v2) does not parse: no limit
    if (!limit || *limit == 0) return;
    if (best.limit != 0 && *limit >= best.limit) return;
    best.limit = *limit;
    best.usage = 0;
    if (auto u = read_first_line(usage_path)) best.usage = parse_u64(*u).value_or(0);
  };
  // cgroup v2: "0::/some/path" in /proc/self/cgroup.
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) != 0) continue;
    std::string path = trim(line.substr(3));
    if (path.empty() || path == "/") break;
    consider("/sys/fs/cgroup" + path + "/memory.max", "/sys/fs/cgroup" + path + "/memory.current");
    break;
  }
  consider("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current");
  consider("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes");
  return best;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect_features();
  return features;
}

bool request_amx_permission() {
  static const bool granted = [] {
    const CpuFeatures& f = cpu_features();
    if (!f.amx_tile) return false;
#if IA_X86 && defined(__linux__)
    constexpr long kArchGetXcompPerm = 0x1022;
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) return false;
    unsigned long bitmask = 0;
    if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &bitmask) != 0) return false;
    return (bitmask & (1ul << kXfeatureXtiledata)) != 0;
#else
    return false;  // AMX on other x86 OSes is not supported by our kernels
#endif
  }();
  return granted;
}

std::string cpu_model_name() {
#if IA_X86
  Regs r;
  if (cpuid(0x80000000u, 0, &r) && r.a >= 0x80000004u) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      Regs b;
      cpuid(0x80000002u + i, 0, &b);
      std::memcpy(brand + 16 * i + 0, &b.a, 4);
      std::memcpy(brand + 16 * i + 4, &b.b, 4);
      std::memcpy(brand + 16 * i + 8, &b.c, 4);
      std::memcpy(brand + 16 * i + 12, &b.d, 4);
    }
    std::string s = trim(brand);
    if (!s.empty()) return s;
  }
#endif
  for (const char* key : {"model name", "Model", "Processor", "cpu model", "Hardware"}) {
    std::string v = proc_cpuinfo_value(key);
    if (!v.empty()) return v;
  }
  return "unknown";
}

std::string cpu_vendor() {
#if IA_X86
  Regs r;
  if (cpuid(0, 0, &r)) {
    char v[13] = {};
    std::memcpy(v + 0, &r.b, 4);
    std::memcpy(v + 4, &r.d, 4);
    std::memcpy(v + 8, &r.c, 4);
    std::string s = trim(v);
    if (!s.empty()) return s;
  }
#endif
  std::string v = proc_cpuinfo_value("vendor_id");
  if (v.empty()) v = proc_cpuinfo_value("CPU implementer");  // arm64: "0x41" (Arm), ...
  return v.empty() ? "unknown" : v;
}

int cpu_logical_cores() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n >= 1 ? static_cast<int>(n) : 1;
}

int cpu_physical_cores() {
  static const int n = std::clamp(count_physical_cores(), 1, std::max(1, cpu_logical_cores()));
  return n;
}

uint64_t total_memory_bytes() {
  uint64_t total = meminfo_bytes("MemTotal").value_or(0);
  if (total == 0) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) total = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  }
  CgroupMemory cg = cgroup_memory();
  if (cg.limit != 0 && (total == 0 || cg.limit < total)) total = cg.limit;
  return total;
}

uint64_t available_memory_bytes() {
  std::optional<uint64_t> avail = meminfo_bytes("MemAvailable");
  if (!avail) {  // kernels before 3.14
    auto free = meminfo_bytes("MemFree"), cached = meminfo_bytes("Cached"), buffers = meminfo_bytes("Buffers");
    if (free) avail = *free + cached.value_or(0) + buffers.value_or(0);
  }
  uint64_t a = avail.value_or(0);
  if (a == 0) {
#if defined(_SC_AVPHYS_PAGES)
    long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) a = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
#endif
  }
  CgroupMemory cg = cgroup_memory();
  if (cg.limit != 0) {
    uint64_t room = cg.limit > cg.usage ? cg.limit - cg.usage : 0;
    if (a == 0 || room < a) a = room;
  }
  return a;
}

std::string best_isa_name() {
  const CpuFeatures& f = cpu_features();
  const bool avx512 = f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
  if (avx512 && f.amx_tile && f.amx_bf16 && f.amx_int8 && request_amx_permission()) return "amx";
  if (avx512 && f.avx512_bf16) return "avx512_bf16";
  if (avx512) return "avx512";
  if (f.avx2 && f.fma && f.f16c) return "avx2";
  if (f.sse42) return "sse4.2";
  return "generic";
}

}  // namespace ia
