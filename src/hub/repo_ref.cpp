#include "hub/repo_ref.h"

#include <cctype>

#include "core/error.h"

namespace ia::hub {

namespace {

bool id_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

bool valid_id_part(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!id_char(c)) return false;
  if (s.front() == '-' || s.front() == '.' || s.back() == '-' || s.back() == '.') return false;
  return true;
}

// Splits `s` at '/' and calls fn on each component; false when fn says so.
template <typename Fn>
bool each_component(std::string_view s, Fn&& fn) {
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    std::string_view part = s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!fn(part)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

}  // namespace

std::string RepoRef::str() const {
  return revision == "main" ? repo : repo + "@" + revision;
}

bool is_commit_hash(std::string_view s) {
  if (s.size() != 40) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool is_safe_revision(std::string_view r) {
  if (r.empty() || r.size() > 255 || r.find("..") != std::string_view::npos) return false;
  for (char c : r)
    if (!(id_char(c) || c == '/' || c == '+')) return false;
  return each_component(r, [](std::string_view part) { return !part.empty() && part.front() != '.'; });
}

bool is_safe_repo_filename(std::string_view name) {
  if (name.empty() || name.size() > 1024) return false;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\\') return false;
  }
  return each_component(
      name, [](std::string_view part) { return !part.empty() && part.size() <= 255 && part != "." && part != ".."; });
}

std::optional<RepoRef> parse_repo_ref(std::string_view text) {
  const size_t at = text.find('@');
  std::string_view repo = text.substr(0, at);
  const size_t slash = repo.find('/');
  if (slash == std::string_view::npos || repo.size() > 96) return std::nullopt;
  std::string_view org = repo.substr(0, slash), name = repo.substr(slash + 1);
  if (!valid_id_part(org) || !valid_id_part(name)) return std::nullopt;
  if (repo.find("--") != std::string_view::npos || repo.find("..") != std::string_view::npos) return std::nullopt;
  RepoRef ref;
  ref.repo = std::string(repo);
  if (at != std::string_view::npos) {
    std::string_view rev = text.substr(at + 1);
    if (!is_safe_revision(rev))
      fail(ErrorKind::InvalidArgument,
           "{}: \"{}\" is not a valid revision (a branch, tag or commit hash: letters, digits, '-', '_', '.', '/')",
           text, rev);
    ref.revision = std::string(rev);
  }
  return ref;
}

}  // namespace ia::hub
