#pragma once
// Hugging Face model ids as `--model` and `pull` take them: "org/name" or
// "org/name@revision" (a branch, a tag or a commit hash), and the names of the
// files of a repository, which come from the hub and so are checked before
// any of them becomes a path.
#include <optional>
#include <string>
#include <string_view>

namespace ia::hub {

struct RepoRef {
  std::string repo;               // "org/name"
  std::string revision = "main";  // branch, tag or commit hash
  // "org/name" when the revision is the default, else "org/name@revision".
  std::string str() const;
};

// `text` read as org/name[@revision]: nullopt when it is not shaped as a model
// id (a path, a CID, a bare word); InvalidArgument when the id is one but its
// revision is malformed. The id follows huggingface_hub's rules: letters,
// digits, '-', '_', '.'; no "--" or ".."; not starting or ending with '-' or
// '.'; at most 96 characters.
std::optional<RepoRef> parse_repo_ref(std::string_view text);

// A full commit hash: 40 lowercase hexadecimal digits.
bool is_commit_hash(std::string_view s);

// A file name from the hub that may be placed under a snapshot folder: relative,
// '/'-separated, no empty, "." or ".." component, no backslash or control
// character, each component at most 255 bytes and the whole at most 1024.
bool is_safe_repo_filename(std::string_view name);

// A revision that may name a file under refs/: the characters of git branch and
// tag names, no "..", no empty component, at most 255 bytes.
bool is_safe_revision(std::string_view revision);

}  // namespace ia::hub
