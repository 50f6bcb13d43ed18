// libFuzzer target for the exporter (`ipfs cat` / `ipfs get`) on DAGs read
// from a CAR: cat and get of each root, with small limits, into a private
// temporary folder. Whatever the DAG, nothing may appear outside the export
// target, no symlink may point out of it, and nothing may be left behind
// after a failure.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include "core/error.h"
#include "ipfs/blockstore.h"
#include "ipfs/car.h"
#include "ipfs/exporter.h"

namespace {

namespace fs = std::filesystem;

// One folder for the process: base/ holds only what an export put there.
const fs::path& base_dir() {
  static const fs::path base = [] {
    std::string templ = (fs::temp_directory_path() / "fuzz-exporter-XXXXXX").string();
    if (!::mkdtemp(templ.data())) std::abort();
    return fs::path(templ);
  }();
  return base;
}

// Aborts unless `dir` holds nothing but `out` (if anything) and every symlink
// under it resolves, lexically, inside `out`.
void check_confined(const fs::path& dir, const fs::path& out) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path() != out) std::abort();  // a stray file or staging folder beside the target
  }
  if (!fs::exists(fs::symlink_status(out))) return;
  if (fs::is_symlink(fs::symlink_status(out))) std::abort();  // the target itself a link
  if (!fs::is_directory(out)) return;
  for (auto it = fs::recursive_directory_iterator(out); it != fs::recursive_directory_iterator(); ++it) {
    if (!it->is_symlink()) continue;
    fs::path target = fs::read_symlink(it->path());
    fs::path resolved = (it->path().parent_path() / target).lexically_normal();
    auto rel = resolved.lexically_relative(out);
    if (target.is_absolute() || rel.empty() || *rel.begin() == "..") std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  ia::ipfs::MemoryBlockstore store;
  ia::ipfs::CarImportStats st;
  try {
    st = ia::ipfs::read_car(in, store);
  } catch (const ia::Error&) {
    return 0;
  }
  ia::ipfs::ExportLimits limits;
  limits.max_bytes = 1 << 20;
  limits.max_entries = 256;
  const fs::path out = base_dir() / "out";
  for (const auto& root : st.roots) {
    std::ostringstream sink;
    try {
      uint64_t n = ia::ipfs::cat_file(store, root, sink, limits);
      if (n != sink.str().size() || n > limits.max_bytes) std::abort();
    } catch (const ia::Error&) {
      if (sink.str().size() > limits.max_bytes) std::abort();
    }
    try {
      ia::ipfs::export_to_path(store, root, out, limits);
    } catch (const ia::Error&) {
      if (fs::exists(fs::symlink_status(out))) std::abort();  // a failure leaves nothing
    }
    check_confined(base_dir(), out);
    fs::remove_all(out);
  }
  return 0;
}
