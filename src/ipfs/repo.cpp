#include "ipfs/repo.h"

#include <algorithm>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/progress.h"
#include "ipfs/dag.h"

namespace ia::ipfs {

namespace fs = std::filesystem;

Repo::Repo(fs::path home) : home_(std::move(home)), blocks_(home_ / "blocks") {}

fs::path Repo::pin_path(const Cid& root) const {
  return home_ / "pins" / root.to_v1().to_string();
}

void Repo::pin_add(const Cid& root, bool known_complete) {
  blocks_.gc_lock().lock_shared();  // no gc between the check below and the pin
  blocks_.sync();                   // a commit point: a pin never names blocks that are not durable yet
  if (!known_complete) walk_dag(blocks_, root, [](const Cid&, const Bytes&) {});  // the whole DAG must be here first
  if (known_complete && !blocks_.has(root.hash))
    fail(ErrorKind::NotFound, "{} is not in the blockstore", root.to_string());
  fs::create_directories(home_ / "pins");
  write_file_atomic(pin_path(root), root.to_string());
}

bool Repo::pin_rm(const Cid& root) {
  std::error_code ec;
  return fs::remove(pin_path(root), ec);
}

bool Repo::is_pinned(const Cid& root) {
  std::error_code ec;
  return fs::exists(pin_path(root), ec);
}

std::vector<Cid> Repo::pins() {
  std::vector<Cid> out;
  std::error_code ec;
  if (!fs::is_directory(home_ / "pins", ec)) return out;
  for (const auto& e : fs::directory_iterator(home_ / "pins", ec)) {
    std::string name = e.path().filename().string();
    if (name.find(".tmp-") != std::string::npos) continue;  // a pin being written
    std::ifstream in(e.path());
    std::string orig;  // the CID as it was pinned, so a v0 pin lists as v0
    in >> orig;
    try {
      out.push_back(Cid::parse(orig.empty() ? name : orig));
    } catch (const Error&) {
      // A stray file.
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

size_t Repo::gc(std::chrono::milliseconds wait) {
  blocks_.gc_lock().lock_exclusive(wait);
  struct Release {
    RepoLock& lock;
    ~Release() { lock.unlock(); }
  } release{blocks_.gc_lock()};
  std::set<Multihash> live;
  for (const Cid& pin : pins()) {
    walk_dag(blocks_, pin, [&](const Cid& c, const Bytes&) { live.insert(c.hash); });
  }
  size_t removed = 0;
  blocks_.remove_stale_temps();  // left by a writer killed before its commit
  blocks_.for_each([&](const Multihash& mh) {
    if (!live.count(mh) && blocks_.remove(mh)) ++removed;
  });
  return removed;
}

VerifyReport Repo::verify() {
  VerifyReport r;
  // Listed first, so the progress bar knows the count.
  std::vector<Multihash> blocks;
  blocks_.for_each([&](const Multihash& mh) { blocks.push_back(mh); });
  ProgressTask task("verifying blocks", blocks.size(), ProgressUnit::Blocks);
  for (const Multihash& mh : blocks) {
    ++r.checked;
    auto bytes = blocks_.get_unverified(mh);
    const bool intact = !bytes || multihash_matches(mh, *bytes);  // a block gone meanwhile is no corruption
    task.advance(1);
    if (intact) continue;
    fs::path from = blocks_.path_of(mh);
    fs::create_directories(home_ / "corrupt");
    std::error_code ec;
    fs::rename(from, home_ / "corrupt" / from.filename(), ec);
    if (ec) fs::remove(from, ec);
    r.corrupt.push_back(from.filename().string());
  }
  task.finish();
  return r;
}

}  // namespace ia::ipfs
