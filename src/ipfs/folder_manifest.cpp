#include "ipfs/folder_manifest.h"

#include <algorithm>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/bounded_json.h"
#include "core/error.h"
#include "core/progress.h"
#include "ipfs/bytes.h"
#include "ipfs/cid.h"
#include "ipfs/multihash.h"

namespace ia::ipfs {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "ipfs-accelerate-folder-manifest";
constexpr int kVersion = 1;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool temporary_name(std::string_view name) {
  static constexpr std::string_view kSuffixes[] = {".tmp", ".temp", ".partial", ".incomplete", ".swp", ".lock"};
  if (ends_with(name, "~") || name.find(".partial-") != std::string_view::npos) return true;
  return std::any_of(std::begin(kSuffixes), std::end(kSuffixes),
                     [&](std::string_view s) { return ends_with(name, s); });
}

void walk(const fs::path& dir, const std::string& rel, std::vector<fs::path>& open_dirs, std::vector<std::string>& out,
          std::vector<SkippedFile>* skipped) {
  std::vector<std::pair<std::string, fs::path>> children;
  for (const auto& e : fs::directory_iterator(dir)) children.emplace_back(e.path().filename().string(), e.path());
  std::sort(children.begin(), children.end());
  for (const auto& [name, path] : children) {
    const std::string child = rel.empty() ? name : rel + "/" + name;
    if (name[0] == '.') {
      if (skipped) skipped->push_back({child, "hidden"});
      continue;
    }
    if (temporary_name(name)) {
      if (skipped) skipped->push_back({child, "temporary"});
      continue;
    }
    if (name.find('\\') != std::string::npos) {  // not a name every store and system keeps as it is
      if (skipped) skipped->push_back({child, "a backslash in the name"});
      continue;
    }
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);  // symlinks followed
    if (ec || !fs::exists(st)) {
      if (fs::is_symlink(fs::symlink_status(path, ec)))
        fail(ErrorKind::NotFound, "{}: a symlink to a missing file ({})", path.string(),
             fs::read_symlink(path, ec).string());
      fail(ErrorKind::NotFound, "{}: cannot read it", path.string());
    }
    if (fs::is_directory(st)) {
      fs::path real = fs::canonical(path);
      if (std::find(open_dirs.begin(), open_dirs.end(), real) != open_dirs.end())
        fail(ErrorKind::InvalidArgument, "{}: a symlink loop (it leads back to {})", path.string(), real.string());
      open_dirs.push_back(std::move(real));
      walk(path, child, open_dirs, out, skipped);
      open_dirs.pop_back();
    } else if (fs::is_regular_file(st)) {
      out.push_back(child);
      if (out.size() > kMaxManifestFiles)
        fail(ErrorKind::InvalidArgument, "{}: more than {} files", dir.string(), kMaxManifestFiles);
    } else if (skipped) {
      skipped->push_back({child, "not a regular file"});
    }
  }
}

struct FileDigest {
  uint64_t size = 0;
  std::string sha256;
  BuiltNode node;
};

// One pass over a file: its size, its sha256 and its UnixFS DAG's root (no block kept).
FileDigest digest_file(const fs::path& path, const ImportOptions& options, ProgressTask& task) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::NotFound, "{}: cannot open", path.string());
  NullSink sink;
  FileImporter imp(sink, options);
  Sha256 sha;
  FileDigest d;
  Bytes buf(1 << 20, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto got = static_cast<size_t>(in.gcount());
    if (got == 0) continue;
    const BytesView piece(buf.data(), got);
    imp.write(piece);
    sha.update(piece);
    d.size += got;
    task.advance(got);
  }
  if (in.bad()) fail(ErrorKind::Unavailable, "{}: read error", path.string());
  d.sha256 = to_hex(sha.finish());
  d.node = imp.finish();
  return d;
}

std::string shown_name(const fs::path& dir) {
  const fs::path clean = dir.lexically_normal();
  std::string name = clean.filename().string();
  if (name.empty()) name = clean.parent_path().filename().string();
  return name.empty() ? dir.string() : name;
}

// A path as a manifest may hold it: names joined by '/', none empty, `.`, `..` or hidden.
bool valid_manifest_path(std::string_view p) {
  if (p.empty() || p.size() > 4096) return false;
  size_t start = 0;
  while (true) {
    const size_t slash = p.find('/', start);
    const std::string_view name =
        p.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (name.empty() || name[0] == '.' || name.size() > 255 || name.find('\0') != std::string_view::npos ||
        name.find('\\') != std::string_view::npos)
      return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

[[noreturn]] void bad(const std::string& what) {
  fail(ErrorKind::Corrupt, "manifest: {}", what);
}

std::string chunker_of(const ImportOptions& o) {
  return fmt::format("size-{}", o.chunk_size);
}

}  // namespace

uint64_t FolderManifest::total_bytes() const {
  uint64_t n = 0;
  for (const auto& f : files) n += f.size;
  return n;
}

const ManifestFile* FolderManifest::find(const std::string& path) const {
  auto it = std::lower_bound(files.begin(), files.end(), path,
                             [](const ManifestFile& f, const std::string& p) { return f.path < p; });
  return it != files.end() && it->path == path ? &*it : nullptr;
}

std::vector<std::string> folder_files(const fs::path& dir, std::vector<SkippedFile>* skipped) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(ErrorKind::NotFound, "{}: no such folder", dir.string());
  std::vector<fs::path> open_dirs{fs::canonical(dir)};
  std::vector<std::string> out;
  walk(dir, "", open_dirs, out, skipped);
  std::sort(out.begin(), out.end());
  return out;
}

FolderManifest build_folder_manifest(const fs::path& dir, const std::vector<std::string>& files,
                                     const ImportOptions& import) {
  import.validate();
  if (files.empty()) fail(ErrorKind::InvalidArgument, "{}: no files", dir.string());
  uint64_t total = 0;
  for (const auto& f : files) {
    std::error_code ec;
    const uint64_t size = fs::file_size(dir / f, ec);
    if (!ec) total += size;
  }
  FolderManifest m;
  m.import = import;
  ProgressTask task(fmt::format("hashing {}", shown_name(dir)), total, ProgressUnit::Bytes);
  std::vector<std::pair<std::string, BuiltNode>> nodes;
  for (const auto& f : files) {
    const FileDigest d = digest_file(dir / f, import, task);
    m.files.push_back({f, d.size, d.sha256});
    nodes.emplace_back(f, d.node);
  }
  NullSink sink;
  m.cid = build_directory_tree(std::move(nodes), sink, import.cid_version).cid.to_string();
  std::sort(m.files.begin(), m.files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  task.finish();
  return m;
}

void verify_folder_manifest(const fs::path& dir, const FolderManifest& m) {
  ProgressTask task(fmt::format("verifying {}", shown_name(dir)), m.total_bytes(), ProgressUnit::Bytes);
  std::vector<std::pair<std::string, BuiltNode>> nodes;
  for (const auto& f : m.files) {
    const FileDigest d = digest_file(dir / f.path, m.import, task);
    if (d.size != f.size) fail(ErrorKind::Corrupt, "{}: {} bytes, the manifest says {}", f.path, d.size, f.size);
    if (d.sha256 != f.sha256)
      fail(ErrorKind::Corrupt, "{}: sha256 {}, the manifest says {}", f.path, d.sha256, f.sha256);
    nodes.emplace_back(f.path, d.node);
  }
  NullSink sink;
  const Cid got = build_directory_tree(std::move(nodes), sink, m.import.cid_version).cid;
  if (!(got == Cid::parse(m.cid)))
    fail(ErrorKind::Corrupt, "the folder's CID is {}, the manifest says {}", got.to_string(), m.cid);
  task.finish();
}

std::string folder_manifest_json(const FolderManifest& m) {
  nlohmann::ordered_json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["cid"] = m.cid;
  j["ipfs"] = {{"cid_version", m.import.cid_version},
               {"raw_leaves", m.import.use_raw_leaves()},
               {"chunker", chunker_of(m.import)}};
  j["total_bytes"] = m.total_bytes();
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const auto& f : m.files) files.push_back({{"path", f.path}, {"size", f.size}, {"sha256", f.sha256}});
  j["files"] = std::move(files);
  return j.dump(1, ' ', /*ensure_ascii=*/false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

FolderManifest parse_folder_manifest(std::string_view text) {
  JsonLimits limits;
  limits.max_bytes = kMaxManifestBytes;
  limits.max_depth = 8;
  limits.reject_duplicate_keys = true;
  limits.kind = ErrorKind::Corrupt;
  const nlohmann::json j = parse_json_bounded(text, "manifest", limits);
  if (!j.is_object()) bad("expected a JSON object");
  if (j.value("format", nlohmann::json()) != kFormat) bad(fmt::format("\"format\" is not \"{}\"", kFormat));
  const auto version = j.find("version");
  if (version == j.end() || !version->is_number_unsigned()) bad("\"version\" is not a positive integer");
  if (version->get<uint64_t>() != kVersion)
    fail(ErrorKind::Unsupported, "manifest: version {} (this ipfs-accelerate reads version {}; upgrade it)",
         version->get<uint64_t>(), kVersion);
  FolderManifest m;
  const auto ipfs = j.find("ipfs");
  if (ipfs == j.end() || !ipfs->is_object()) bad("\"ipfs\" is not an object");
  const auto cv = ipfs->find("cid_version");
  if (cv == ipfs->end() || !cv->is_number_unsigned() || cv->get<uint64_t>() > 1) bad("ipfs.cid_version is not 0 or 1");
  m.import.cid_version = cv->get<uint64_t>();
  const auto raw = ipfs->find("raw_leaves");
  if (raw == ipfs->end() || !raw->is_boolean()) bad("ipfs.raw_leaves is not true or false");
  m.import.raw_leaves = raw->get<bool>();
  const auto chunker = ipfs->find("chunker");
  if (chunker == ipfs->end() || !chunker->is_string()) bad("ipfs.chunker is not a string");
  try {
    m.import.chunk_size = parse_chunker(chunker->get<std::string>());
    m.import.validate();
  } catch (const Error& e) {
    bad(fmt::format("ipfs.chunker: {}", e.what()));
  }
  const auto cid = j.find("cid");
  if (cid == j.end() || !cid->is_string() || cid->get<std::string>().size() > 256) bad("\"cid\" is not a CID");
  Cid parsed;
  try {
    parsed = Cid::parse(cid->get<std::string>());
  } catch (const Error& e) {
    bad(fmt::format("\"cid\" is not a CID ({})", e.what()));
  }
  if (parsed.version != m.import.cid_version || parsed.codec != kCodecDagPb)
    bad("\"cid\" is not a dag-pb CID of ipfs.cid_version");
  m.cid = cid->get<std::string>();
  const auto files = j.find("files");
  if (files == j.end() || !files->is_array() || files->empty()) bad("\"files\" is not a non-empty array");
  if (files->size() > kMaxManifestFiles) bad(fmt::format("more than {} files", kMaxManifestFiles));
  std::set<std::string> seen;
  for (size_t i = 0; i < files->size(); ++i) {
    const auto& f = (*files)[i];
    const std::string where = fmt::format("files[{}]", i);
    if (!f.is_object()) bad(where + " is not an object");
    const auto path = f.find("path"), size = f.find("size"), sha = f.find("sha256");
    if (path == f.end() || !path->is_string() || !valid_manifest_path(path->get<std::string>()))
      bad(where + ".path is not a relative path of names (none empty, `.`, `..` or hidden)");
    if (size == f.end() || !size->is_number_unsigned() || size->get<uint64_t>() > (uint64_t{5} << 40))
      bad(where + ".size is not a byte count");
    if (sha == f.end() || !sha->is_string() || sha->get<std::string>().size() != 64 ||
        sha->get<std::string>().find_first_not_of("0123456789abcdef") != std::string::npos)
      bad(where + ".sha256 is not 64 lower-case hex digits");
    ManifestFile mf{path->get<std::string>(), size->get<uint64_t>(), sha->get<std::string>()};
    if (!seen.insert(mf.path).second) bad(fmt::format("`{}` is listed twice", mf.path));
    m.files.push_back(std::move(mf));
  }
  std::sort(m.files.begin(), m.files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  // A file that is also a folder of another ("a" and "a/b") cannot be written.
  for (const auto& p : seen) {
    for (size_t slash = p.find('/'); slash != std::string::npos; slash = p.find('/', slash + 1))
      if (seen.count(p.substr(0, slash))) bad(fmt::format("`{}` is both a file and a folder", p.substr(0, slash)));
  }
  const auto total = j.find("total_bytes");
  if (total == j.end() || !total->is_number_unsigned() || total->get<uint64_t>() != m.total_bytes())
    bad("\"total_bytes\" is not the sum of the files' sizes");
  return m;
}

}  // namespace ia::ipfs
