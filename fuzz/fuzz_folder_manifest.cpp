// libFuzzer target for the folder manifest `--model s3://…` reads from a store before any
// download (ipfs/folder_manifest.h): parse_folder_manifest must either throw an ia::Error of a
// user kind or give a manifest whose every path is safe under the download folder (relative, no
// empty, ".", ".." or hidden name, no backslash), given once and never both a file and a folder,
// whose sizes sum to its total, and which writes back to text that parses to the same manifest.
// Anything else (another exception, Internal, a crash or a sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "core/error.h"
#include "ipfs/folder_manifest.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_path(const std::string& path) {
  check(!path.empty() && path.front() != '/' && path.find('\\') == std::string::npos);
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    const std::string name = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    check(!name.empty() && name[0] != '.' && name.find('\0') == std::string::npos);
    if (slash == std::string::npos) return;
    start = slash + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ia::ipfs::FolderManifest m;
  try {
    m = ia::ipfs::parse_folder_manifest(text);
  } catch (const ia::Error& e) {
    check(e.kind() != ia::ErrorKind::Internal);
    return 0;
  }
  check(!m.files.empty());
  std::set<std::string> paths;
  uint64_t total = 0;
  for (const auto& f : m.files) {
    check_path(f.path);
    check(paths.insert(f.path).second);
    check(f.sha256.size() == 64);
    total += f.size;
  }
  for (const auto& p : paths)
    for (size_t slash = p.find('/'); slash != std::string::npos; slash = p.find('/', slash + 1))
      check(!paths.count(p.substr(0, slash)));
  check(total == m.total_bytes());
  const std::string again = ia::ipfs::folder_manifest_json(m);
  const ia::ipfs::FolderManifest back = ia::ipfs::parse_folder_manifest(again);  // throws (a crash) if it cannot
  check(ia::ipfs::folder_manifest_json(back) == again);
  return 0;
}
